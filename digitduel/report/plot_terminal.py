"""The figures as plotext charts in a terminal: the series of `report.figures`, drawn in text.

The `draw_*` functions take a plotext-like object (the `plotext` module, or the `plt` of a
textual-plotext widget, which is how the TUI's results screen draws the same curves) and only
draw: size, theme and output belong to the caller (`render`).

Loss is drawn as log10(loss) on a linear axis (plotext's own log axis can crash after a
resize in the TUI, and one convention serves both). Contestants run down the y axis in the
box and time charts, so long names stay readable.
"""

from __future__ import annotations

import math
import shutil
from typing import Any

from digitduel.report import figures as F

COLORS = ["cyan+", "orange+", "green+", "magenta+", "blue+", "red+", "yellow+", "white",
          "cyan", "orange", "green", "magenta", "blue", "red", "yellow"]  # fmt: skip
REPORT = "red+"
FAINT = "gray"
BAND_SERIES = 3  # band edges only up to this many series: more would bury the means


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _epoch_ticks(plt, epochs: list[int]) -> None:
    if epochs:
        n = max(epochs)
        step = max(1, -(-n // 8))
        plt.xticks(list(range(1, n + 1, step)))
    plt.xlabel("epoch")


def draw_accuracy_curves(plt, curves: list[F.Curves], held_out: str = "test") -> None:
    """Mean held-out accuracy per epoch per contestant; the +-1 std band as dotted edges."""
    bands = len(curves) <= BAND_SERIES
    plt.title(
        f"{held_out} accuracy % per epoch: mean over rounds" + (", ±1 std dotted" if bands else "")
    )
    for i, c in enumerate(curves):
        b = c.accuracy
        if bands:
            plt.plot(b.epochs, b.lo, color=color(i), marker="dot")
            plt.plot(b.epochs, b.hi, color=color(i), marker="dot")
        plt.plot(b.epochs, b.mean, color=color(i), marker="braille", label=c.label)
    _epoch_ticks(plt, [e for c in curves for e in c.accuracy.epochs])
    plt.ylabel(f"{held_out} %")


def draw_loss_curves(plt, curves: list[F.Curves]) -> None:
    """Mean train loss per epoch (log10) per contestant; the min-max band as dotted edges."""
    bands = len(curves) <= BAND_SERIES
    plt.title(
        "log10 train loss per epoch: mean over rounds" + (", min-max dotted" if bands else "")
    )
    for i, c in enumerate(curves):
        b = c.loss
        for edge in (b.lo, b.hi) if bands else ():
            plt.plot(b.epochs, [math.log10(v) for v in edge], color=color(i), marker="dot")
        plt.plot(b.epochs, [math.log10(v) for v in b.mean], color=color(i), marker="braille",
                 label=c.label)  # fmt: skip
    _epoch_ticks(plt, [e for c in curves for e in c.loss.epochs])
    plt.ylabel("log10 loss")


def _label_rows(plt, labels: list[str]) -> list[float]:
    """y positions top to bottom, with the labels as y ticks."""
    n = len(labels)
    ys = [float(n - i) for i in range(n)]
    plt.yticks(ys, labels)
    plt.ylim(0.4, n + 0.6)
    return ys


def _pad_x(plt, values: list[float], floor: float | None = None) -> None:
    lo, hi = min(values), max(values)
    pad = max(0.5, 0.05 * (hi - lo))
    plt.xlim(lo - pad if floor is None else floor, hi + pad)


def draw_boxes(plt, boxes: list[F.Box], held_out: str = "test") -> None:
    """Per contestant: whiskers (gray), the box Q1-Q3, the median (|), each round (o); the
    report's mean +- std (red, just below) where the results carry one."""
    title = f"{held_out} % over rounds: box Q1-Q3, ┃ median, o rounds"
    if any(b.report for b in boxes):
        title += "; ◆ report mean ± std"
    plt.title(title)
    ys = _label_rows(plt, [b.label for b in boxes])
    every: list[float] = []
    for i, (b, y) in enumerate(zip(boxes, ys, strict=True)):
        plt.plot([b.whisker_lo, b.whisker_hi], [y, y], color=FAINT, marker="─")
        plt.plot([b.q1, b.q3], [y, y], color=color(i), marker="█")
        plt.scatter([b.median], [y], color="white", marker="┃")
        plt.scatter(b.values, [y] * len(b.values), color=color(i), marker="o")
        every += b.values
        if b.report:
            mean, std = b.report
            ry = y - 0.35
            if std:
                plt.plot([mean - std, mean + std], [ry, ry], color=REPORT, marker="─")
                every += [mean - std, mean + std]
            plt.scatter([mean], [ry], color=REPORT, marker="◆")
            every.append(mean)
    _pad_x(plt, every)
    plt.xlabel(f"{held_out} accuracy %")


def draw_time(plt, bars: list[F.TimeBar]) -> None:
    """Training wall time per run: a bar per contestant and file (mean), -- its +-1 std."""
    groups = list(dict.fromkeys(b.group for b in bars))
    labels = list(dict.fromkeys(b.label for b in bars))
    plt.title(
        "wall time per run (s): bar mean, ─ +-1 std"
        + ("; files by colour" if len(groups) > 1 else "")
    )
    ys = _label_rows(plt, labels)
    row = dict(zip(labels, ys, strict=True))
    step = 0.6 / max(1, len(groups))
    top: list[float] = []
    for g, group in enumerate(groups):
        mine = [b for b in bars if b.group == group]
        for j, b in enumerate(mine):
            y = row[b.label] + 0.3 - step * (g + 0.5)
            plt.plot([0, b.mean], [y, y], color=color(g), marker="█",
                     label=group if j == 0 else None)  # fmt: skip
            if b.std:
                plt.plot(
                    [max(0.0, b.mean - b.std), b.mean + b.std], [y, y], color="white", marker="─"
                )
            top.append(b.mean + b.std)
    plt.xlim(0, max(top) * 1.08 if top else 1)
    plt.xlabel("seconds per run (training steps)")


def sweep_positions(sw: F.Sweep) -> tuple[dict[float, float], list[str]]:
    """x value -> position on the axis, and the tick labels: log10 for a log grid, evenly
    spaced for a grid with 0 in it (symlog), the values themselves otherwise."""
    xs = sw.xs
    scale = sw.x_scale
    if scale == "log":
        pos = {x: math.log10(x) for x in xs}
    elif scale == "symlog":
        pos = {x: float(i) for i, x in enumerate(xs)}
    else:
        pos = {x: x for x in xs}
    return pos, [f"{x:g}" for x in xs]


def draw_sweep(plt, sw: F.Sweep) -> None:
    """Mean validation accuracy per grid point, +-1 std as a vertical bar; references dashed."""
    pos, ticks = sweep_positions(sw)
    scale = {"log": ", log x", "symlog": ", x by grid point"}.get(sw.x_scale, "")
    plt.title(f"{sw.held_out} accuracy % against {sw.key}: mean +- 1 std{scale}")
    values: list[float] = []
    for i, line in enumerate(sw.lines):
        xs = [pos[x] for x in line.x]
        for x, m, s in zip(xs, line.mean, line.std, strict=True):
            plt.plot([x, x], [m - s, m + s], color=color(i), marker="│")
            values += [m - s, m + s]
        plt.plot(xs, line.mean, color=color(i), marker="braille", label=line.label)
        plt.scatter(xs, line.mean, color=color(i), marker="●")
    span = [min(pos.values()), max(pos.values())]
    for k, (label, mean, _std) in enumerate(sw.references):
        plt.plot(span, [mean, mean], color=color(len(sw.lines) + k), marker="-", label=label)
        values.append(mean)
    plt.xticks(list(pos.values()), ticks)
    plt.xlabel(sw.key)
    plt.ylabel(f"{sw.held_out} %")
    if values:
        lo, hi = min(values), max(values)
        pad = max(0.5, 0.05 * (hi - lo))
        plt.ylim(lo - pad, hi + pad)


def terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size((100, 30))
    return max(40, size.columns), max(16, size.lines - 2)


def render(kind: str, sources: list[F.Source], *, width: int, height: int, colour: bool) -> str:
    """One kind of figure as text, `width` columns wide; no escape codes unless `colour`.
    Curves are two charts, one above the other (loss, then accuracy)."""
    if kind == "curves":
        curves = F.curves(sources)
        held = F.held_out(sources)
        panels = [lambda plt: draw_loss_curves(plt, curves),
                  lambda plt: draw_accuracy_curves(plt, curves, held)]  # fmt: skip
    elif kind == "box":
        boxes = F.boxes(sources)
        panels = [lambda plt: draw_boxes(plt, boxes, F.held_out(sources))]
    elif kind == "time":
        bars = F.time_bars(sources)
        panels = [lambda plt: draw_time(plt, bars)]
    elif kind == "sweep":
        sw = F.sweep(sources)
        panels = [lambda plt: draw_sweep(plt, sw)]
    else:
        raise ValueError(f"unknown figure kind {kind!r}")
    return "\n".join(_build(draw, width, height, colour) for draw in panels)


def _build(draw: Any, width: int, height: int, colour: bool) -> str:
    import plotext as plt

    plt.clf()
    plt.clear_data()
    plt.limitsize(False, False)  # piped, plotext would shrink to a guessed terminal size
    plt.plotsize(width, height)
    draw(plt)
    plt.theme("pro" if colour else "clear")
    text = plt.build()
    plt.clf()
    return text if colour else plt.uncolorize(text)
