"""The report's numbers beside ours: one row per contestant, with a verdict.

`build_reproduction` is pure: it takes the report's published rows (anything with `mean`,
`std`, `rounds`, `train_mean`, `train_std`, `note` attributes, e.g. `bench.plan.ReportRow`)
and our per-round accuracies in percent, keyed by label then round index, and returns a
`Reproduction`: rows in the report's order (then contestants the report has no number for),
each with both summaries, Welch's test of ours against theirs (see `report.stats`), the same
for train accuracy where the report gives it, and both rankings with Kendall's tau.

`reproduction_from_results` adapts a bench results file; `format_text` / `format_markdown`
render it for the terminal and for docs/reproduction.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from digitduel.numbers import MISSING, pct
from digitduel.report.stats import Summary, TestResult, fmt_p, ranking_agreement, ranks, welch


class ReportRowLike(Protocol):
    mean: float
    std: float | None
    rounds: int | None
    train_mean: float | None
    train_std: float | None
    note: str | None


@dataclass
class ReproRow:
    label: str
    theirs: Summary | None  # report test accuracy (std None / rounds 0 when not published)
    ours: Summary | None  # our test accuracy over finished rounds
    test: TestResult | None  # ours against theirs (Welch); None without both sides
    theirs_train: Summary | None = None
    ours_train: Summary | None = None
    train_test: TestResult | None = None
    their_rank: int | None = None  # among the labels both sides have
    our_rank: int | None = None
    note: str | None = None  # the preset's note on this row (e.g. a unit ambiguity)
    lost_rounds: int = 0  # our rounds that diverged or failed (not in `ours`, counted here)

    @property
    def verdict(self) -> str:
        if self.test is not None:
            return self.test.verdict
        return "no report number" if self.theirs is None else "not run"


@dataclass
class Reproduction:
    name: str
    rows: list[ReproRow]
    tau: float | None  # Kendall's tau-b, report means vs ours, over shared labels
    source: str | None = None  # where in the report the numbers come from
    meta: dict[str, Any] = field(default_factory=dict)  # machine, versions, wall time, rounds

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (an infinite t or a NaN diff becomes null)."""
        return _json_safe(
            {
                "name": self.name,
                "source": self.source,
                "kendall_tau": self.tau,
                "meta": self.meta,
                "rows": [asdict(r) | {"verdict": r.verdict} for r in self.rows],
            }
        )


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def _summary(mean: float | None, std: float | None, n: int | None) -> Summary | None:
    if mean is None:
        return None
    if std is None:  # a published mean alone: nothing to test against (Welch says n/a)
        return Summary(float(mean), None, 0)
    return Summary(float(mean), float(std), int(n or 0))


def build_reproduction(
    name: str,
    report: Mapping[str, ReportRowLike] | None,
    test_acc: Mapping[str, Mapping[int, float]],
    train_acc: Mapping[str, Mapping[int, float]] | None = None,
    *,
    lost: Mapping[str, int] | None = None,
    labels: list[str] | None = None,
    default_rounds: int | None = None,
    source: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Reproduction:
    """Rows for every report label, then every other label we ran (`labels` gives our order).

    `default_rounds` stands in for a report row that gives no round count (the preset's
    rounds, which follow the report's protocol section).
    """
    report = report or {}
    train_acc = train_acc or {}
    lost = lost or {}
    order = list(report) + [k for k in (labels or list(test_acc)) if k not in report]
    rows: list[ReproRow] = []
    for label in order:
        published = report.get(label)
        theirs = theirs_train = None
        note = None
        if published is not None:
            n = published.rounds or default_rounds
            theirs = _summary(published.mean, published.std, n)
            theirs_train = _summary(published.train_mean, published.train_std, n)
            note = published.note
        values = list(test_acc.get(label, {}).values())
        ours = Summary.of(values) if values else None
        train_values = list(train_acc.get(label, {}).values())
        ours_train = Summary.of(train_values) if train_values else None
        rows.append(
            ReproRow(
                label=label,
                theirs=theirs,
                ours=ours,
                test=welch(theirs, ours) if theirs and ours else None,
                theirs_train=theirs_train,
                ours_train=ours_train,
                train_test=welch(theirs_train, ours_train) if theirs_train and ours_train else None,
                note=note,
                lost_rounds=lost.get(label, 0),
            )
        )
    shared = [r for r in rows if r.theirs is not None and r.ours is not None]
    their_means = {r.label: r.theirs.mean for r in shared}
    our_means = {r.label: r.ours.mean for r in shared}
    their_ranks, our_ranks = ranks(their_means), ranks(our_means)
    for r in shared:
        r.their_rank, r.our_rank = their_ranks[r.label], our_ranks[r.label]
    tau = ranking_agreement(their_means, our_means) if len(shared) >= 2 else None
    return Reproduction(name, rows, tau, source, dict(meta or {}))


def reproduction_from_results(result: Any) -> Reproduction:
    """A `bench.results.BenchResult` (fractions in the file) as a reproduction in percent.

    Only rounds that ended "ok" enter the means (as in the bench summary); diverged and
    failed rounds are counted per row so a bad round cannot hide.
    """
    test: dict[str, dict[int, float]] = {}
    train: dict[str, dict[int, float]] = {}
    lost: dict[str, int] = {}
    for run in result.runs:
        if run.status != "ok":
            lost[run.model] = lost.get(run.model, 0) + 1
            continue
        if run.test_accuracy is not None:
            test.setdefault(run.model, {})[run.round] = 100.0 * run.test_accuracy
        if run.train_accuracy is not None:
            train.setdefault(run.model, {})[run.round] = 100.0 * run.train_accuracy
    labels = [c.label for c in result.contestants]
    return build_reproduction(
        result.preset or result.name,
        result.report,
        test,
        train,
        lost=lost,
        labels=labels,
        default_rounds=result.bench.rounds,
        source=result.report_source,
        meta=results_meta(result),
    )


@dataclass
class AgainstBest:
    """A contestant the report has no number for (the user's own model) against the report's
    best model, as we ran it on the same rounds: diff = this - best, paired on shared draws."""

    label: str
    best: str  # the report row with the highest published mean, among those we ran
    test: TestResult

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({"label": self.label, "best": self.best, **asdict(self.test)})


def against_best(result: Any) -> list[AgainstBest]:
    """Every contestant without a report number, tested against the report's best row."""
    from digitduel.report.significance import compare_contestants, rounds_of

    report = result.report or {}
    ran = {c.label for c in result.contestants}
    published = [label for label in report if label in ran and rounds_of(result, label)]
    if not published:
        return []
    best = max(published, key=lambda label: report[label].mean)
    return [
        AgainstBest(c.label, best, compare_contestants(result, best, result, c.label))
        for c in result.contestants
        if c.label not in report and rounds_of(result, c.label)
    ]


def format_against_best(rows: list[AgainstBest]) -> str:
    """`mine vs jomeau-aux40 (the report's best): +0.84 (paired p=0.03, better)`."""
    from digitduel.report.significance import describe

    return "\n".join(
        f"{r.label} vs {r.best} (the report's best, as we ran it): {describe(r.test)}" for r in rows
    )


def results_meta(result: Any) -> dict[str, Any]:
    """Where and how the numbers were made: what docs/reproduction.md must state."""
    env = result.environment
    rounds = sorted({r.round for r in result.runs})
    run_time = sum(r.total_time_s for r in result.runs)
    epochs = sorted({c.settings.epochs for c in result.contestants})
    return {
        "machine": f"{env.device_name} ({env.platform})",
        "digitduel": env.digitduel,
        "torch": env.torch,
        "executor": f"{env.executor} x{env.jobs}, {env.threads} threads",
        "rounds": f"{len(rounds)} of {result.bench.rounds}" if rounds else "none yet",
        "epochs": "/".join(str(e) for e in epochs),
        "pairs": result.bench.n_pairs,
        "data": f"{result.data.source} {result.data.path or ''}".strip(),
        "wall time": _wall_time(result),
        "compute time": f"{run_time / 60:.1f} min (sum of run times)",
        "status": result.status,
    }


def _wall_time(result: Any) -> str:
    """From the bench's start to its end (a resumed bench: its last invocation only)."""
    from datetime import datetime

    if not result.finished:
        return "not finished"
    try:
        took = datetime.fromisoformat(result.finished) - datetime.fromisoformat(result.created)
    except ValueError:
        return "unknown"
    return f"{took.total_seconds() / 60:.1f} min"


# ---- rendering -------------------------------------------------------------------------


def fmt_summary(s: Summary | None) -> str:
    """`97.31 ± 0.42 (10)` (already percent); a published mean alone (n 0) has no count."""
    if s is None:
        return MISSING
    return pct(s.mean, s.std, s.n or None, scale=1)


def fmt_diff(t: TestResult | None) -> str:
    if t is None or math.isnan(t.diff):
        return MISSING
    return f"{t.diff:+.2f}"


def _verdict(r: ReproRow) -> str:
    return r.verdict + (f" ({r.lost_rounds} lost)" if r.lost_rounds else "")


def _rank(r: ReproRow) -> str:
    return f"{r.their_rank}/{r.our_rank}" if r.their_rank is not None else MISSING


HEADER = ["contestant", "report (%)", "ours (%)", "diff", "p (Welch)", "verdict", "rank r/o"]
TRAIN_HEADER = ["contestant", "report train (%)", "ours train (%)", "diff", "p", "verdict"]


def _cells(label: str, theirs: Summary | None, ours: Summary | None, t: TestResult | None):
    """The cells the test and the train tables share: both summaries, diff and p."""
    return [label, fmt_summary(theirs), fmt_summary(ours), fmt_diff(t), fmt_p(t.p if t else None)]


def table_rows(rep: Reproduction) -> list[list[str]]:
    return [[*_cells(r.label, r.theirs, r.ours, r.test), _verdict(r), _rank(r)] for r in rep.rows]


def train_rows(rep: Reproduction) -> list[list[str]]:
    return [
        [
            *_cells(r.label, r.theirs_train, r.ours_train, r.train_test),
            r.train_test.verdict if r.train_test else MISSING,
        ]
        for r in rep.rows
        if r.theirs_train is not None
    ]


def _tau_line(rep: Reproduction) -> str:
    if rep.tau is None:
        return "ranking: fewer than two rows with both numbers, no Kendall tau"
    order = sorted((r for r in rep.rows if r.their_rank), key=lambda r: r.their_rank)
    ours = sorted((r for r in rep.rows if r.our_rank), key=lambda r: r.our_rank)
    return (
        f"ranking: Kendall tau-b = {rep.tau:+.2f}; report: "
        + " > ".join(r.label for r in order)
        + "; ours: "
        + " > ".join(r.label for r in ours)
    )


def format_text(rep: Reproduction, width: int = 160) -> str:
    """`rich_tables` as plain text (no colour, no box drawing, one line per row): what a pipe
    or a log receives from `digitduel reproduce`."""
    import io

    from rich.console import Console
    from rich.table import Table

    from digitduel.report.tables import plain_table

    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False)
    for part in rich_tables(rep):
        if isinstance(part, Table):
            plain_table(part, console)
        console.print(part)
    return console.file.getvalue()


def _legend() -> str:
    return (
        "verdict: Welch's t-test from mean/std/rounds, two-sided; consistent if p >= 0.05, "
        "else better/worse (diff = ours - report); rank r/o = report's rank / ours"
    )


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    esc = [[c.replace("|", "\\|") for c in row] for row in rows]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in esc),
    ]


def format_markdown(rep: Reproduction) -> str:
    """The block docs/reproduction.md carries for one preset (regenerated, never hand-edited)."""
    out = _md_table(HEADER, table_rows(rep))
    train = train_rows(rep)
    if train:
        out += ["", "Train accuracy, where the report gives it:", ""]
        out += _md_table(TRAIN_HEADER, train)
    out += ["", _tau_line(rep) + "."]
    meta = rep.meta
    if meta:
        facts = [f"{k.replace('_', ' ')}: {v}" for k, v in meta.items() if v not in (None, "")]
        out += ["", "Run: " + "; ".join(facts) + "."]
    notes = [f"- {r.label}: {r.note}" for r in rep.rows if r.note]
    if notes:
        out += ["", "Preset notes:", "", *notes]
    return "\n".join(out)


def replace_doc_block(doc: str, name: str, block: str) -> str:
    """Replace the text between `<!-- reproduce:NAME -->` and `<!-- /reproduce:NAME -->`."""
    start, end = f"<!-- reproduce:{name} -->", f"<!-- /reproduce:{name} -->"
    i, j = doc.find(start), doc.find(end)
    if i < 0 or j < i:
        raise ValueError(f"no {start} ... {end} block")
    return doc[: i + len(start)] + "\n" + block.rstrip() + "\n" + doc[j:]


def rich_tables(rep: Reproduction) -> list[Any]:
    """The reproduction as the other commands draw on a terminal: a rich table for test
    accuracy, one for train accuracy where the report gives it, then the ranking, legend and
    the preset's notes (the same cells as `format_text`)."""
    from rich.table import Table
    from rich.text import Text

    def table(title: str, header: list[str], rows: list[list[str]]) -> Table:
        drawn = Table(title=title, title_justify="left")
        for i, name in enumerate(header):
            drawn.add_column(name, justify="left" if i == 0 or name == "verdict" else "right")
        for row in rows:
            drawn.add_row(*row)
        return drawn

    source = f" ({rep.source})" if rep.source else ""
    parts: list[Any] = [
        table(f"{rep.name}: test accuracy, report vs ours{source}", HEADER, table_rows(rep))
    ]
    train = train_rows(rep)
    if train:
        parts.append(table("train accuracy, where the report gives it", TRAIN_HEADER, train))
    notes = [f"  {r.label}: {r.note}" for r in rep.rows if r.note]
    lines = [_tau_line(rep), _legend(), *(["notes from the preset:", *notes] if notes else [])]
    parts.append(Text("\n".join(lines), style="dim"))
    return parts
