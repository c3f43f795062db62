"""Plots shared by the run and results screens (textual-plotext).

Loss is drawn as log10(loss) on a linear axis: plotext's log scales can crash after a
resize. Each plot remembers what it last drew (`drawn`: series name -> number of points), so
tests and the screens can tell a plot that received data from an empty one.
"""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

from digitduel.tui.state import RunView

LIVE = "cyan+"
TRAIN = "orange+"
FAINT = "gray"
MEAN = "green+"


class _Plot(PlotextPlot):
    DEFAULT_CSS = """
    _Plot { height: 1fr; min-height: 6; }
    """

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.drawn: dict[str, int] = {}

    def _begin(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        self.drawn = {}

    def _line(self, name: str, xs: list, ys: list, color: str, label: str | None = None) -> None:
        if not xs:
            return
        self.plt.plot(xs, ys, color=color, marker="braille", label=label)
        self.drawn[name] = self.drawn.get(name, 0) + len(xs)


def _log_loss(curve) -> tuple[list[int], list[float]]:
    """(epochs, log10 loss) of a run's finite, positive losses."""
    pts = [(i + 1, math.log10(v)) for i, v in enumerate(curve.train_loss) if v and v > 0]
    return [p[0] for p in pts], [p[1] for p in pts]


class LossPlot(_Plot):
    """log10(train loss) per epoch: the run in flight bright, earlier rounds faint."""

    def __init__(self, **kwargs) -> None:
        super().__init__("log10 train loss", **kwargs)

    def show_runs(self, live: RunView | None, earlier: list[RunView]) -> None:
        self._begin()
        for run in earlier:
            self._line("earlier", *_log_loss(run.curve), FAINT)
        if live is not None:
            self._line("live", *_log_loss(live.curve), LIVE, "this run")
            self.plt.title(f"log10 loss: {live.key.contestant} r{live.key.round + 1}")
        self.plt.xlabel("epoch")
        self.refresh()


class AccuracyPlot(_Plot):
    """Train and test accuracy (%) per epoch of the run in flight; earlier rounds' test
    accuracy faint behind it, so the spread over rounds is visible as it builds up."""

    def __init__(self, **kwargs) -> None:
        super().__init__("accuracy %", **kwargs)

    def show_runs(self, live: RunView | None, earlier: list[RunView]) -> None:
        self._begin()
        for run in earlier:
            ys = [100 * v for v in run.curve.test_accuracy]
            self._line("earlier", list(range(1, len(ys) + 1)), ys, FAINT)
        if live is not None:
            c = live.curve
            xs = list(range(1, len(c.test_accuracy) + 1))
            self._line("train", xs, [100 * v for v in c.train_accuracy], TRAIN, "train")
            self._line("test", xs, [100 * v for v in c.test_accuracy], LIVE, "test")
        self.plt.xlabel("epoch")
        self.refresh()


class RoundsPlot(_Plot):
    """Test accuracy (%) of every contestant over its rounds: a min-max bar, each round a
    dot, the mean a cross. Contestants run down the y axis, so long names stay readable."""

    def __init__(self, **kwargs) -> None:
        super().__init__("test accuracy % over rounds (min-max, rounds, mean)", **kwargs)

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
        self.plt.xlabel("test accuracy %")
        self.refresh()
