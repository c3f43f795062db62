"""Plots shared by the run and results screens (textual-plotext).

Loss is drawn as log10(loss) on a linear axis: plotext's log scales can crash after a
resize. Each plot remembers what it last drew (`drawn`: series name -> number of points), so
tests and the screens can tell a plot that received data from an empty one.
"""

from __future__ import annotations

import math

from textual.widgets import Static
from textual_plotext import PlotextPlot

from digitduel.numbers import middle_ellipsis, round_label
from digitduel.tui.state import RunView

LIVE = "cyan+"
TRAIN = "orange+"
FAINT = "gray"
MEAN = "green+"
EARLIER = "earlier rounds"  # the faint curves' legend: a dip there is a real, finished round


MIN_SHRUNK = 12  # a shortened path keeps at least this much: its start, "…", its end


def fit_text(text: str, shrink: str | None, width: int) -> str:
    """`text` made to fit `width` columns by shortening `shrink` (a path or a long name inside
    it) with a middle ellipsis; the rest of the text is kept whole (it wraps, if it must, at a
    word boundary: nothing is cut mid-word). Unchanged when it fits or `width` is unknown."""
    if width <= 0 or len(text) <= width or not shrink or shrink not in text:
        return text
    room = max(width - (len(text) - len(shrink)), MIN_SHRUNK)
    return text.replace(shrink, middle_ellipsis(shrink, room), 1)


class FitLine(Static):
    """Text that fits its width: the part named `shrink` (a path, a contestant label) loses
    its middle first; what still does not fit wraps. Refitted whenever its width changes."""

    DEFAULT_CSS = """
    FitLine { height: auto; }
    """

    def __init__(self, text: str = "", shrink: str | None = None, **kwargs) -> None:
        super().__init__(text, markup=False, **kwargs)
        self.text, self.shrink = text, shrink

    def show_text(self, text: str, shrink: str | None = None) -> None:
        self.text, self.shrink = text, shrink
        self._refit()

    def on_resize(self) -> None:
        self._refit()

    def _refit(self) -> None:
        fitted = fit_text(self.text, self.shrink, self.content_size.width)
        self.update(fitted)


class TitleBar(FitLine):
    """One line at the top: app name and where we are; a path in it is shortened in the
    middle to fit. (Textual's Header can raise while a screen is swapped out just as the app
    exits; this cannot.)"""

    DEFAULT_CSS = """
    TitleBar { dock: top; height: 1; background: $panel; color: $foreground;
               text-style: bold; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, text: str = "digitduel", **kwargs) -> None:
        super().__init__(text, **kwargs)

    def show(self, where: str, path: str | None = None) -> None:
        """`where`: what this screen does, with `path` (if any) inside it, shortened to fit."""
        self.show_text(f"digitduel · {where}", path)


class _Plot(PlotextPlot):
    DEFAULT_CSS = """
    _Plot { height: 1fr; min-height: 6; }
    """

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.drawn: dict[str, int] = {}
        self.legend: list[str] = []  # the labelled series, as the plot's legend lists them

    def _begin(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        self.drawn, self.legend = {}, []

    def _line(self, name: str, xs: list, ys: list, color: str, label: str | None = None) -> None:
        if not xs:
            return
        self.plt.plot(xs, ys, color=color, marker="braille", label=label)
        self.drawn[name] = self.drawn.get(name, 0) + len(xs)
        if label:
            self.legend.append(label)


def _epoch_points(values, keep, y) -> tuple[list[int], list[float]]:
    """(epoch, y(v)) for the epochs whose value `keep` accepts; x stays the epoch number."""
    pts = [(i + 1, y(v)) for i, v in enumerate(values) if keep(v)]
    return [p[0] for p in pts], [p[1] for p in pts]


def _log_loss(curve) -> tuple[list[int], list[float]]:
    """(epochs, log10 loss) of a run's finite, positive losses."""
    return _epoch_points(curve.train_loss, lambda v: bool(v) and v > 0, math.log10)


def _evaluated(values: list[float | None]) -> tuple[list[int], list[float]]:
    """(epoch, percent) of the epochs that were evaluated (`eval_every` skips some)."""
    return _epoch_points(values, lambda v: v is not None, lambda v: 100 * v)


def _epoch_ticks(plt, runs: list[RunView | None]) -> None:
    """Whole epochs on the x axis (plotext would label 1.25, 1.5, ...)."""
    n = max((len(r.curve.test_accuracy) for r in runs if r is not None), default=0)
    if n:
        step = max(1, -(-n // 6))
        plt.xticks(list(range(1, n + 1, step)))
    plt.xlabel("epoch")


class LossPlot(_Plot):
    """log10(train loss) per epoch: the run in flight bright, earlier rounds faint."""

    def __init__(self, **kwargs) -> None:
        super().__init__("log10 train loss", **kwargs)

    def show_runs(self, live: RunView | None, earlier: list[RunView]) -> None:
        self._begin()
        for run in earlier:  # one legend entry for all of them: the first drawn gets it
            label = EARLIER if "earlier" not in self.drawn else None
            self._line("earlier", *_log_loss(run.curve), FAINT, label)
        if live is not None:
            self._line("live", *_log_loss(live.curve), LIVE, "this run")
            self.plt.title(f"log10 loss, {round_label(live.key.round)}")
        _epoch_ticks(self.plt, [live, *earlier])
        self.refresh()


class AccuracyPlot(_Plot):
    """Train and test accuracy (%) per epoch of the run in flight; earlier rounds' test
    accuracy faint behind it, so the spread over rounds is visible as it builds up."""

    def __init__(self, held_out: str = "test", **kwargs) -> None:
        super().__init__("accuracy %", **kwargs)
        self.held_out = held_out  # "val" under cross-validation: what the curve measures

    def show_runs(self, live: RunView | None, earlier: list[RunView]) -> None:
        self._begin()
        for run in earlier:
            label = f"{self.held_out}, {EARLIER}" if "earlier" not in self.drawn else None
            self._line("earlier", *_evaluated(run.curve.test_accuracy), FAINT, label)
        if live is not None:
            c = live.curve
            xs = list(range(1, len(c.train_accuracy) + 1))
            self._line("train", xs, [100 * v for v in c.train_accuracy], TRAIN, "train")
            self._line("test", *_evaluated(c.test_accuracy), LIVE, self.held_out)
        _epoch_ticks(self.plt, [live, *earlier])
        self.refresh()


class RoundsPlot(_Plot):
    """Held-out (test, or validation under CV) accuracy (%) of every contestant over its rounds: a min-max bar, each round a
    dot, the mean a cross. Contestants run down the y axis, so long names stay readable."""

    def __init__(self, held_out: str = "test", **kwargs) -> None:
        super().__init__(f"{held_out} accuracy % over rounds (min-max, rounds, mean)", **kwargs)
        self.held_out = held_out  # "val" under cross-validation: what the dots measure

    def show_rounds(self, rows: list[tuple[str, list[float]]]) -> None:
        """rows: (label, test accuracies as fractions), top to bottom."""
        self._begin()
        n = len(rows)
        ticks, labels = [], []
        for i, (label, accs) in enumerate(rows):
            y = n - i
            ticks.append(y)
            labels.append(label)
            if not accs:
                continue
            pct = [100 * a for a in accs]
            lo, hi, mean = min(pct), max(pct), sum(pct) / len(pct)
            self._line("range", [lo, hi], [y, y], FAINT)
            self.plt.scatter(pct, [y] * len(pct), color=LIVE, marker="dot")
            self.plt.scatter([mean], [y], color=MEAN, marker="x")
            self.drawn["rounds"] = self.drawn.get("rounds", 0) + len(pct)
        if ticks:
            self.plt.yticks(ticks, labels)
            self.plt.ylim(0.5, n + 0.5)
        every = [100 * a for _label, accs in rows for a in accs]
        if every:  # room either side, so the best and worst rounds are not on the frame
            lo, hi = min(every), max(every)
            pad = max(0.5, 0.05 * (hi - lo))
            self.plt.xlim(lo - pad, hi + pad)
        self.plt.xlabel(f"{self.held_out} accuracy %")
        self.refresh()
