"""`digitduel export`: results files as Markdown, CSV, JSON or one self-contained HTML page.

One row per contestant (the results file's own summary) or, with `runs`, one row per run.
Accuracies are percent here, as on every screen (fractions stay in the results file); CSV and
JSON carry the same unrounded numbers, Markdown and HTML the on-screen `97.31 ± 0.42` form.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

from digitduel.numbers import pct
from digitduel.report import figures as F

FORMATS = ("md", "csv", "json", "html")


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


def summary_rows(sources: list[F.Source]) -> list[dict[str, Any]]:
    """One dict per contestant of every file (the file's summary, in percent)."""
    rows = []
    for src in sources:
        r = src.result
        for s in r.summary:
            rows.append({
                "file": src.name,
                "contestant": s.label,
                "model": s.model_name,
                "params": s.params,
                "runs": s.runs,
                "ok": s.ok,
                "diverged": s.diverged,
                "failed": s.failed,
                "held_out": r.bench.held_out,
                "train_mean_pct": _pct(s.train_mean),
                "train_std_pct": _pct(s.train_std),
                "test_mean_pct": _pct(s.test_mean),
                "test_std_pct": _pct(s.test_std),
                "time_per_run_s": s.time_mean_s,
                "device": r.environment.device_name,
                "data_source": r.data.description,
            })  # fmt: skip
    return rows


def run_rows(sources: list[F.Source]) -> list[dict[str, Any]]:
    """One dict per run of every file."""
    rows = []
    for src in sources:
        for run in src.result.runs:
            rows.append({
                "file": src.name,
                "contestant": run.model,
                "model": run.model_name,
                "round": run.round,
                "seed": run.seed,
                "data_seed": run.data_seed,
                "status": run.status,
                "train_pct": _pct(run.train_accuracy),
                "test_pct": _pct(run.test_accuracy),
                "digit_pct": _pct(run.digit_accuracy),
                "wall_time_s": run.wall_time_s,
                "total_time_s": run.total_time_s,
                "params": run.params,
                "device": run.device,
            })  # fmt: skip
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(rows[0]) if rows else ["file"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def to_json(sources: list[F.Source], runs: bool = False) -> str:
    """The summaries of several files merged into one document (rows carry their file)."""
    doc: dict[str, Any] = {
        "files": [
            {
                "file": s.name,
                "name": s.result.name,
                "preset": s.result.preset,
                "status": s.result.status,
                "environment": s.result.environment.model_dump(mode="json"),
                "data": s.result.data.model_dump(mode="json"),
                "bench": s.result.bench.model_dump(mode="json"),
            }
            for s in sources
        ],
        "summary": summary_rows(sources),
    }
    if runs:
        doc["runs"] = run_rows(sources)
    return json.dumps(doc, indent=1)


# ---- Markdown and HTML tables: the on-screen form -----------------------------------------


def _shown_summary(sources: list[F.Source]) -> tuple[list[str], list[list[str]]]:
    several = len(sources) > 1
    held = F.held_out(sources)
    header = (["file"] if several else []) + [
        "contestant", "params", "train %", f"{held} %", "ok/runs", "time/run (s)", "device", "data",
    ]  # fmt: skip
    body = []
    for src in sources:
        r = src.result
        for s in r.summary:
            trouble = (
                f" ({s.diverged} diverged, {s.failed} failed)" if s.diverged or s.failed else ""
            )
            body.append(([src.name] if several else []) + [
                s.label,
                f"{s.params:,}" if s.params else "-",
                pct(s.train_mean, s.train_std),
                pct(s.test_mean, s.test_std),
                f"{s.ok}/{s.runs}{trouble}",
                "-" if s.time_mean_s is None else f"{s.time_mean_s:.2f}",
                r.environment.device_name,
                r.data.description,
            ])  # fmt: skip
    return header, body


def _shown_runs(sources: list[F.Source]) -> tuple[list[str], list[list[str]]]:
    header = ["file", "contestant", "round", "status", "train %", "test %", "time (s)", "device"]
    body = [
        [
            row["file"],
            row["contestant"],
            str(row["round"] + 1),
            row["status"],
            "-" if row["train_pct"] is None else f"{row['train_pct']:.2f}",
            "-" if row["test_pct"] is None else f"{row['test_pct']:.2f}",
            f"{row['wall_time_s']:.2f}",
            row["device"],
        ]  # fmt: skip
        for row in run_rows(sources)
    ]
    return header, body


def md_table(header: list[str], body: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def to_markdown(sources: list[F.Source], runs: bool = False) -> str:
    return md_table(*(_shown_runs(sources) if runs else _shown_summary(sources))) + "\n"


def html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


# ---- HTML: one page, nothing fetched ------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1em 0 2em; } figure svg { max-width: 100%; height: auto; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em; }
dt { font-weight: bold; }
"""


def inline_svg(svg: str) -> str:
    """An SVG for inlining in HTML: no namespace URLs, no metadata block (HTML's parser
    knows the SVG and xlink namespaces, and the page must name no external address)."""
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)


def _environment(src: F.Source) -> str:
    r = src.result
    facts = r.environment.model_dump() | {
        "data": r.data.description,
        "created": r.created,
        "status": r.status,
    }
    items = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>"
        for k, v in facts.items()
        if v not in (None, "")
    )
    return f"<dl>{items}</dl>"


def _settings(src: F.Source) -> str:
    r = src.result
    bench = ", ".join(f"{k}={v}" for k, v in r.bench.model_dump().items())
    keys = list(r.contestants[0].settings.model_dump()) if r.contestants else []
    body = [
        [c.label, c.model] + [str(c.settings.model_dump()[k]) for k in keys] for c in r.contestants
    ]
    return f"<p>bench: {html.escape(bench)}</p>" + html_table(["contestant", "model", *keys], body)


def _reproduction(src: F.Source) -> str:
    if not src.result.report:
        return ""
    from digitduel.report.reproduce import HEADER, reproduction_from_results, table_rows

    rep = reproduction_from_results(src.result)
    caption = f"<h3>{html.escape(src.name)}: the report beside ours"
    caption += f" ({html.escape(rep.source)})</h3>" if rep.source else "</h3>"
    return caption + html_table(HEADER, table_rows(rep))


def to_html(sources: list[F.Source], runs: bool = False) -> str:
    """One page: environment, settings, summary, reproduction table, every figure that applies."""
    from digitduel.report.plot_files import svg_text

    title = html.escape(" + ".join(s.name for s in sources))
    parts = [f"<h1>digitduel results: {title}</h1>"]
    for src in sources:
        parts += [f"<h2>{html.escape(src.name)}</h2>", _environment(src), _settings(src)]
    parts += ["<h2>Summary</h2>", html_table(*_shown_summary(sources))]
    if runs:
        parts += ["<h2>Runs</h2>", html_table(*_shown_runs(sources))]
    repro = "".join(_reproduction(s) for s in sources)
    if repro:
        parts += ["<h2>Reproduction</h2>", repro]
    parts.append("<h2>Figures</h2>")
    for kind in F.applicable_kinds(sources):
        svg = inline_svg(svg_text(kind, sources))
        parts.append(f'<figure id="figure-{kind}">{svg}<figcaption>{kind}</figcaption></figure>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def export(sources: list[F.Source], fmt: str, runs: bool = False) -> str:
    if fmt == "md":
        return to_markdown(sources, runs)
    if fmt == "csv":
        return to_csv(run_rows(sources) if runs else summary_rows(sources))
    if fmt == "json":
        return to_json(sources, runs)
    if fmt == "html":
        return to_html(sources, runs)
    raise ValueError(f"unknown export format {fmt!r}")
