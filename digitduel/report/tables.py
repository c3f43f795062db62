"""Rich tables for `bench`, `show`, `compare` and `presets`, and the plain one-line-per-run
output used when stdout is not a terminal. Percent on screen, fractions in files."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from digitduel.bench.results import BenchResult, ContestantSummary, RunRecord
from digitduel.numbers import MISSING, pct, round_label
from digitduel.report.stats import fmt_p


def plain_table(table: Table, console: Console) -> None:
    """A table as a pipe wants it: no box drawing, one line per row within the console's
    width. Rich lays the columns out as if they could wrap (the widest ones give way), then
    each cell keeps to one line, ending in an ellipsis where it does not fit."""
    table.box = None
    table.show_edge = False
    table.pad_edge = False
    for column in table.columns:
        column.no_wrap = False
    widths = table._calculate_column_widths(console, console.options)  # rich's own layout
    for index, (column, width) in enumerate(zip(table.columns, widths, strict=True)):
        column.width = max(1, width - table._get_padding_width(index))  # widths pad the cell
        column.no_wrap = True
        column.overflow = "ellipsis"


def _published(row: Any) -> str:
    """The report's test figure (already in percent); an empty cell where it has none."""
    return "" if row is None or row.mean is None else pct(row.mean, row.std, scale=1)


def _seconds(s: float | None) -> str:
    return MISSING if s is None else (f"{s:.2f} s" if s < 100 else f"{s:.0f} s")


def results_table(result: BenchResult) -> Table:
    """One row per contestant: params, train/test accuracy mean ± std over rounds, time per
    run, diverged/failed counts, and the report's published figure where the plan has one."""
    title = f"{result.name}: {result.bench.rounds} round(s), {result.data.n_pairs} pairs"
    if result.bench.folds:
        title = (
            f"{result.name}: {result.bench.folds}-fold cross-validation of "
            f"{result.data.n_pairs} train pairs, {result.bench.rounds} fold(s) run"
        )
    if result.status != "finished":
        title += f" ({result.status})"
    table = Table(title=title, title_justify="left")
    table.add_column("contestant", no_wrap=True)
    show_model = any(s.model_name != s.label for s in result.summary)
    if show_model:
        table.add_column("model", style="dim", no_wrap=True)
    table.add_column("params", justify="right")
    table.add_column("train %", justify="right", no_wrap=True)
    table.add_column(f"{result.bench.held_out} %", justify="right", no_wrap=True)
    report = result.report or {}
    if report:
        table.add_column("report test %", justify="right", no_wrap=True)
    table.add_column("time/run", justify="right")
    table.add_column("ok", justify="right")
    # Trouble columns only when there is trouble: narrow terminals keep the accuracies whole.
    show_diverged = any(s.diverged for s in result.summary)
    show_failed = any(s.failed for s in result.summary)
    if show_diverged:
        table.add_column("diverged", justify="right", style="yellow")
    if show_failed:
        table.add_column("failed", justify="right", style="red")
    for s in result.summary:
        row = [s.label] + ([s.model_name] if show_model else [])
        row += [
            f"{s.params:,}" if s.params else MISSING,
            pct(s.train_mean, s.train_std),
            pct(s.test_mean, s.test_std),
        ]
        if report:
            row.append(_published(report.get(s.label)))
        row += [_seconds(s.time_mean_s), f"{s.ok}/{s.runs}"]
        if show_diverged:
            row.append(str(s.diverged) if s.diverged else "")
        if show_failed:
            row.append(str(s.failed) if s.failed else "")
        table.add_row(*row)
    if report and result.report_source:
        table.caption = f"report: {result.report_source}"
        table.caption_justify = "left"
    return table


def environment_line(result: BenchResult) -> str:
    """Where a bench ran and on what data: the line under its table (`bench`, `show`)."""
    env = result.environment
    return (
        f"{env.device} ({env.device_name}), {env.executor} executor x{env.jobs}, "
        f"torch {env.torch}, digitduel {env.digitduel}; data: {result.data.description}"
    )


def setup_differences(a: BenchResult, b: BenchResult) -> list[str]:
    """What differs between two benches beyond their models (data source, epochs, pairs,
    device), one phrase each: a verdict between them then compares more than models."""

    def epochs(r: BenchResult) -> str:
        return ", ".join(sorted({str(c.settings.epochs) for c in r.contestants}))

    checks = [
        ("data", a.data.description, b.data.description),
        ("epochs", epochs(a), epochs(b)),
        ("pairs", a.data.n_pairs, b.data.n_pairs),
        ("device", a.environment.device, b.environment.device),
    ]
    return [f"{what} differ: A {x}, B {y}" for what, x, y in checks if x != y]


def compare_rows(a: BenchResult, b: BenchResult) -> list[dict[str, Any]]:
    """Per contestant label of either file: both summaries, B - A in points and the test
    that ran on it (paired over rounds when both files drew the same pairs, Welch's
    otherwise; None when a side has too little). What `compare` prints, as data."""
    from digitduel.report.significance import compare_contestants

    sa = {s.label: s for s in a.summary}
    sb = {s.label: s for s in b.summary}
    rows = []
    for label in list(sa) + [label for label in sb if label not in sa]:
        x, y = sa.get(label), sb.get(label)
        row: dict[str, Any] = {"label": label, "a": _side(x), "b": _side(y)}
        row.update(diff=None, test=None, p=None, verdict=None)
        if x and y and x.test_mean is not None and y.test_mean is not None:
            row["diff"] = 100 * (y.test_mean - x.test_mean)
            res = compare_contestants(a, label, b, label)
            if res.p is not None:
                row.update(test=res.test, p=res.p, verdict=res.verdict)
        rows.append(row)
    return rows


def _side(s: ContestantSummary | None) -> dict[str, Any] | None:
    if s is None:
        return None
    keys = ("test_mean", "test_std", "ok", "runs", "time_mean_s")
    return {k: getattr(s, k) for k in keys}


def compare_table(a: BenchResult, b: BenchResult, name_a: str = "A", name_b: str = "B") -> Table:
    """`compare_rows` as a table: the two files side by side, with the test of each row."""
    table = Table(title=f"compare  A: {name_a}   B: {name_b}", title_justify="left")
    table.add_column("contestant", no_wrap=True)
    table.add_column("A test %", justify="right", no_wrap=True)
    table.add_column("B test %", justify="right", no_wrap=True)
    table.add_column("B - A (points)", justify="right")
    table.add_column("p", justify="right")
    table.add_column("test")
    table.add_column("verdict")
    table.add_column("A time/run", justify="right")
    table.add_column("B time/run", justify="right")
    for row in compare_rows(a, b):
        x, y = row["a"], row["b"]
        table.add_row(
            row["label"],
            pct(x["test_mean"], x["test_std"]) if x else "",
            pct(y["test_mean"], y["test_std"]) if y else "",
            "" if row["diff"] is None else f"{row['diff']:+.2f}",
            "" if row["p"] is None else fmt_p(row["p"]),
            row["test"] or "",
            _verdict(row["verdict"]) if row["verdict"] else "",
            _seconds(x["time_mean_s"]) if x else "",
            _seconds(y["time_mean_s"]) if y else "",
        )
    table.caption = (
        "verdict: two-sided test at p < 0.05; test: paired where both files drew the same "
        "pairs each round, Welch's otherwise"
    )
    table.caption_justify = "left"
    return table


def within_rows(result: BenchResult, labels: list[str] | None = None) -> list[dict[str, Any]]:
    """Contestants of one bench against a reference: the first of `labels`, or the best mean.
    Every contestant of one bench saw the same data draw in each round, so the tests are
    paired over rounds (the draw-to-draw noise both share cancels). The reference row first,
    its test fields None."""
    from digitduel.report.significance import compare_contestants

    tested = [s for s in result.summary if s.test_mean is not None]
    if labels:
        tested = [s for s in tested if s.label in labels]
        tested.sort(key=lambda s: labels.index(s.label))
    else:
        tested.sort(key=lambda s: -s.test_mean)
    ref = tested[0]
    rows = []
    for s in tested:
        row: dict[str, Any] = {"label": s.label, **_side(s), "reference": ref.label}
        row.update(diff=None, test=None, p=None, verdict=None)
        if s is not ref:
            res = compare_contestants(result, ref.label, result, s.label)
            row.update(diff=res.diff, test=res.test, p=res.p, verdict=res.verdict)
        rows.append(row)
    return rows


def within_table(result: BenchResult, labels: list[str] | None = None, name: str = "") -> Table:
    """`within_rows` as a table: each contestant against the reference, with its test."""
    rows = within_rows(result, labels)
    ref = rows[0]["label"]
    title = f"{name or result.name}: each contestant against {ref}"
    table = Table(title=title, title_justify="left")
    table.add_column("contestant", no_wrap=True)
    table.add_column(f"{result.bench.held_out} %", justify="right", no_wrap=True)
    table.add_column("ok", justify="right")
    table.add_column(f"vs {ref} (points)", justify="right")
    table.add_column("p", justify="right")
    table.add_column("test")
    table.add_column("verdict")
    for row in rows:
        cells = [row["label"], pct(row["test_mean"], row["test_std"]), f"{row['ok']}/{row['runs']}"]
        if row["label"] == ref:
            table.add_row(*cells, "reference", "", "", "")
            continue
        p = fmt_p(row["p"]) if row["p"] is not None else "n/a"
        table.add_row(*cells, f"{row['diff']:+.2f}", p, row["test"], _verdict(row["verdict"]))
    table.caption = "verdict: two-sided test at p < 0.05; better/worse than the reference"
    table.caption_justify = "left"
    return table


def _verdict(v: str) -> str:
    return {"better": "[green]better[/]", "worse": "[red]worse[/]"}.get(v, v)


def presets_table(presets: list[Any]) -> Table:
    table = Table(title="presets", title_justify="left")
    table.add_column("name")
    table.add_column("contestants", justify="right")
    table.add_column("rounds", justify="right")
    table.add_column("epochs", justify="right")
    table.add_column("description")
    for p in presets:
        epochs = p.train.get("epochs")
        table.add_row(
            p.name,
            str(len(p.contestants)),
            str(p.bench.get("rounds", 1)),
            "recipe" if epochs is None else str(epochs),
            p.description,
        )
    return table


def run_line(record: RunRecord, done: int, total: int, held_out: str = "test") -> str:
    """One plain line per finished run (logs, CI, nohup): greppable, no colour."""
    head = f"[{done}/{total}] {record.model} {round_label(record.round)}: {record.status}"
    if record.status == "failed":
        return f"{head} ({record.error})"
    return (
        f"{head} {held_out} {pct(record.test_accuracy)}% train {pct(record.train_accuracy)}% "
        f"in {record.wall_time_s:.2f} s ({record.params:,} params)"
    )


def summary_dict(result: BenchResult, path: str | None = None) -> dict[str, Any]:
    """What `bench --json` prints: where the file is and the per-contestant summary."""
    return {
        "results": path,
        "name": result.name,
        "status": result.status,
        "rounds": result.bench.rounds,
        "executor": result.environment.executor,
        "device": result.environment.device,
        "summary": [s.model_dump(mode="json") for s in result.summary],
    }


__all__ = [
    "ContestantSummary",
    "compare_rows",
    "compare_table",
    "environment_line",
    "plain_table",
    "presets_table",
    "results_table",
    "run_line",
    "setup_differences",
    "summary_dict",
    "within_rows",
    "within_table",
]
