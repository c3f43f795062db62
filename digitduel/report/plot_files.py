"""The figures as files (PNG, SVG, PDF), drawn with matplotlib's headless Agg backend.

The only module that imports matplotlib (lazily, inside `figure_for`), so the CLI and the
engine start without it. Every number comes from `report.figures`, as in the terminal.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from digitduel.errors import DigitduelError
from digitduel.report import figures as F

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
WIDTH_IN = 8.0
DPI = 100  # 800 px wide: a PNG of modest size that still reads on a laptop screen
REPORT_COLOUR = "#d62728"
POINT_COLOUR = "#1f77b4"


def format_for(path: str | Path) -> str:
    """The file format from the suffix; anything else is a usage error (exit 2)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DigitduelError(
            f"--out {path}: unknown figure format {suffix or '(none)'!r}; use .png, .svg or .pdf",
            code=2,
        )
    return FORMATS[suffix]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9})  # SVG text stays text
    return plt


def _colours(n: int) -> list:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _legend(ax, n: int) -> None:
    """Inside the axes for a few series; to the right of it for many (nothing hidden)."""
    if n <= 4:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


def _legend_outside(ax) -> None:
    """Right of the axes: over the data, "best" can still hide a box or a bar."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _curves_figure(plt, sources: list[F.Source], title: str):
    curves = F.curves(sources)
    held = F.held_out(sources)
    many = len(curves) > 4
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(WIDTH_IN + (3 if many else 0), 3.6))
    for c, col in zip(curves, _colours(len(curves)), strict=True):
        loss_ax.fill_between(c.loss.epochs, c.loss.lo, c.loss.hi, color=col, alpha=0.18, lw=0)
        loss_ax.plot(c.loss.epochs, c.loss.mean, color=col, lw=1.4, label=c.label)
        acc_ax.fill_between(
            c.accuracy.epochs, c.accuracy.lo, c.accuracy.hi, color=col, alpha=0.18, lw=0
        )
        acc_ax.plot(
            c.accuracy.epochs, c.accuracy.mean, color=col, lw=1.4, label=f"{c.label} ({c.rounds})"
        )
    loss_ax.set_yscale("log")
    loss_ax.set(xlabel="epoch", ylabel="train loss (log)", title="train loss: mean, min-max band")
    acc_ax.set(
        xlabel="epoch", ylabel=f"{held} accuracy (%)", title=f"{held} accuracy: mean ± 1 std"
    )
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    _legend(acc_ax, len(curves))
    fig.suptitle(title + " (rounds in brackets)", fontsize=10)
    return fig


def _box_figure(plt, sources: list[F.Source], title: str):
    boxes = F.boxes(sources)
    held = F.held_out(sources)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.0 + 0.45 * len(boxes)))
    ys = list(range(len(boxes), 0, -1))  # first contestant on top
    stats = [
        {
            "label": b.label,
            "q1": b.q1,
            "med": b.median,
            "q3": b.q3,
            "whislo": b.whisker_lo,
            "whishi": b.whisker_hi,
            "mean": b.mean,
            "fliers": [],
        }  # fmt: skip
        for b in boxes
    ]
    ax.bxp(stats, positions=ys, orientation="horizontal", widths=0.5, showmeans=True,
           meanprops={"marker": "x", "markeredgecolor": "black"},
           medianprops={"color": "black"}, boxprops={"color": "#444"})  # fmt: skip
    for y, b in zip(ys, boxes, strict=True):
        # A little vertical jitter (deterministic) so equal rounds stay countable.
        jitter = [0.24 * ((i * 0.618) % 1.0 - 0.5) for i in range(len(b.values))]
        ax.scatter(b.values, [y + j for j in jitter], s=14, color=POINT_COLOUR, alpha=0.7,
                   zorder=3, label="one round" if y == ys[0] else None)  # fmt: skip
    reported = [(y, b.report) for y, b in zip(ys, boxes, strict=True) if b.report]
    for k, (y, (mean, std)) in enumerate(reported):
        ax.errorbar([mean], [y - 0.38], xerr=[std] if std else None, fmt="D", ms=5,
                    color=REPORT_COLOUR, capsize=3, label="report: mean ± std" if k == 0 else None)  # fmt: skip
    _legend_outside(ax)
    ax.set_yticks(ys, [b.label for b in boxes])
    ax.set_ylim(0.3, len(boxes) + 0.7)
    ax.set(xlabel=f"{held} accuracy (%)",
           title=f"{title}: {held} accuracy over rounds (box Q1–Q3, whiskers 1.5 IQR, x mean)")  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    return fig


def _time_figure(plt, sources: list[F.Source], title: str):
    bars = F.time_bars(sources)
    groups = list(dict.fromkeys(b.group for b in bars))
    labels = list(dict.fromkeys(b.label for b in bars))
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.0 + 0.4 * len(labels) * max(1, len(groups) * 0.7)))
    height = 0.8 / len(groups)
    row = {label: len(labels) - i for i, label in enumerate(labels)}
    for g, (group, col) in enumerate(zip(groups, _colours(len(groups)), strict=True)):
        mine = [b for b in bars if b.group == group]
        ys = [row[b.label] + 0.4 - height * (g + 0.5) for b in mine]
        ax.barh(ys, [b.mean for b in mine], height=height * 0.9, xerr=[b.std for b in mine],
                color=col, capsize=2, label=group)  # fmt: skip
    ax.set_yticks(list(row.values()), list(row))
    ax.set(xlabel="training wall time per run (s): mean ± 1 std",
           title=f"{title}: time per run")  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    _legend_outside(ax)
    return fig


def _sweep_figure(plt, sources: list[F.Source], title: str):
    sw = F.sweep(sources)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.0))
    colours = _colours(len(sw.lines) + len(sw.references))
    for i, (line, col) in enumerate(zip(sw.lines, colours, strict=False)):
        ax.errorbar(_dodge(sw, line.x, i), line.mean, yerr=line.std, fmt="-o", ms=4, capsize=3, color=col,
                    label=line.label)  # fmt: skip
    for (label, mean, std), col in zip(sw.references, colours[len(sw.lines) :], strict=True):
        ax.axhline(mean, color=col, ls="--", lw=1.2, label=f"{label}: {mean:.1f} ± {std:.1f}")
        ax.axhspan(mean - std, mean + std, color=col, alpha=0.08, lw=0)
    if sw.x_scale == "log":
        ax.set_xscale("log")
    elif sw.x_scale == "symlog":
        positive = [x for x in sw.xs if x > 0]
        ax.set_xscale("symlog", linthresh=positive[0])
        ax.set_xlim(-0.3 * positive[0], 1.3 * positive[-1])
    ax.set_xticks(sw.xs, [f"{x:g}" for x in sw.xs])
    ax.minorticks_off()
    ax.set(xlabel=sw.key + ("" if sw.x_scale == "linear" else f" ({sw.x_scale} scale)"),
           ylabel=f"{sw.held_out} accuracy (%)",
           title=f"{title}: {sw.held_out} accuracy against {sw.key}, mean ± 1 std over folds")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def _dodge(sw: F.Sweep, xs: list[float], i: int) -> list[float]:
    """Shift line i a little sideways so several lines' error bars do not hide each other."""
    shift = i - (len(sw.lines) - 1) / 2
    if shift == 0:
        return xs
    if sw.x_scale == "log":
        return [x * 10 ** (0.012 * shift) for x in xs]
    span = (max(sw.xs) - min(sw.xs)) or 1.0
    if sw.x_scale == "symlog":  # shift in grid-point units would need the transform: keep small
        return [x * 10 ** (0.012 * shift) if x > 0 else x + 0.004 * span * shift for x in xs]
    return [x + 0.006 * span * shift for x in xs]


BUILDERS = {
    "curves": _curves_figure,
    "box": _box_figure,
    "time": _time_figure,
    "sweep": _sweep_figure,
}


def figure_title(sources: list[F.Source]) -> str:
    names = [s.name for s in sources]
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


def figure_for(kind: str, sources: list[F.Source], title: str | None = None) -> Any:
    """A matplotlib Figure of one kind (the caller closes it)."""
    plt = _pyplot()
    fig = BUILDERS[kind](plt, sources, title or figure_title(sources))
    fig.tight_layout()
    return fig


def save_figure(
    kind: str, sources: list[F.Source], out: str | Path, title: str | None = None
) -> Path:
    """Draw and write one figure; the format follows the suffix of `out`."""
    fmt = format_for(out)
    out = Path(out)
    fig = figure_for(kind, sources, title)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format=fmt, dpi=DPI, bbox_inches="tight", metadata=_metadata(fmt))
    except OSError as err:
        raise DigitduelError(f"cannot write {out}: {err}") from None
    finally:
        _pyplot().close(fig)
    return out


def svg_text(kind: str, sources: list[F.Source], title: str | None = None) -> str:
    """One figure as an inline SVG element (for the HTML export)."""
    fig = figure_for(kind, sources, title)
    buf = io.StringIO()
    try:
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata=_metadata("svg"))
    finally:
        _pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline in HTML


def _metadata(fmt: str) -> dict[str, Any]:
    # No creation date: regenerating an unchanged figure gives an unchanged file.
    if fmt == "png":
        return {"Software": "digitduel"}
    if fmt == "svg":
        return {"Date": None, "Creator": "digitduel"}
    return {"CreationDate": None, "Creator": "digitduel"}
