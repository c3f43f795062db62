"""Results screen: a sortable table, a rounds plot and the mean curves of one results file.

It shows a `BenchResult` (what run_bench returned, or load_results read back), so a bench
just finished and an old file opened for viewing look the same. Sorting redraws the table
from the summary's raw numbers, so "-" (no finished round) always sorts last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer
from textual_plotext import PlotextPlot

from digitduel.numbers import MISSING, pct
from digitduel.report import figures
from digitduel.report.plot_terminal import draw_accuracy_curves
from digitduel.tui.state import fmt_params
from digitduel.tui.widgets import FitLine, RoundsPlot, TitleBar


def columns(held_out: str) -> tuple[tuple[str, str, bool], ...]:
    """(column title, summary attribute to sort by, largest first?) of the table. The
    held-out accuracy is titled by what it measures (the bench's `held_out`): "test %", or
    "val %" under cross-validation, where the runs never saw the test pairs."""
    return (
        ("contestant", "label", False),
        ("params", "params", True),
        ("rounds ok", "ok", True),
        ("train %", "train_mean", True),
        (f"{held_out} %", "test_mean", True),
        ("s/run", "time_mean_s", False),
    )


class CurvesPlot(PlotextPlot):
    """Mean held-out accuracy per epoch of every contestant, from `report.figures`: the same
    series `digitduel plot --kind curves` draws, so the screen and the command agree."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.drawn: dict[str, int] = {}  # contestant -> epochs drawn (what tests check)

    def show_curves(self, result: Any) -> None:
        self.plt.clear_data()
        self.plt.clear_figure()
        self.drawn = {}
        if figures.has_epochs(result):
            curves = figures.curves([figures.source_of(result)])
            draw_accuracy_curves(self.plt, curves, result.bench.held_out)
            self.drawn = {c.label: len(c.accuracy.epochs) for c in curves}
        else:
            self.plt.title("no per-epoch data in this results file")
        self.refresh()


class ResultsScreen(Screen):
    DEFAULT_CSS = """
    ResultsScreen #where { height: auto; padding: 0 1; color: $text-muted; }
    ResultsScreen #results-table { height: auto; max-height: 45%; }
    ResultsScreen #plots { height: 1fr; min-height: 8; }
    ResultsScreen #rounds-plot { width: 1fr; height: 1fr; min-height: 8; }
    ResultsScreen #curves-plot { width: 1fr; height: 1fr; min-height: 8; }
    """

    BINDINGS = [
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", show=False),
        Binding("o", "open_results", "Open file"),
        Binding("n", "new_bench", "New bench"),
        Binding("r", "resume", "Resume"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self, result: Any, path: Path | str) -> None:
        super().__init__()
        self.result = result
        self.path = Path(path)
        self.columns = columns(result.bench.held_out)
        self.sort_column = 4  # held-out accuracy, best first
        self.reverse = False

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title")
        with Vertical(id="where"):
            yield from self._where()
        yield DataTable(id="results-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="plots"):
            yield RoundsPlot(self.result.bench.held_out, id="rounds-plot")
            yield CurvesPlot(id="curves-plot")
        yield Footer()

    def on_mount(self) -> None:
        name = self.result.name
        self.query_one("#title", TitleBar).show(f"results of {name} ({self.result.status})", name)
        table = self.query_one("#results-table", DataTable)
        for title, attr, _desc in self.columns:
            table.add_column(title, key=attr)
        self.fill_table()
        self.query_one("#rounds-plot", RoundsPlot).show_rounds(self.rounds())
        self.query_one("#curves-plot", CurvesPlot).show_curves(self.result)
        table.focus()

    def resumable(self) -> bool:
        from digitduel.bench.resume import is_resumable

        return is_resumable(self.result)

    def _where(self) -> list[FitLine]:
        """Where the file is, how far the bench got and on what, and where its digits came
        from: one line each, the paths shortened in the middle to fit."""
        r = self.result
        runs = len(r.runs)
        planned = len(r.contestants) * r.bench.rounds
        env = r.environment
        saved = str(self.path.resolve())
        status = "running, or stopped" if r.status == "running" else r.status  # killed?
        state = f"{status}, {runs}/{planned} runs on {env.device} ({env.executor} x{env.jobs})"
        if self.resumable():
            state += "; r resumes it"
        return [
            FitLine(f"saved: {saved}", saved, id="saved"),
            FitLine(state, id="state"),
            FitLine(f"data: {r.data.description}", r.data.path, id="data"),
        ]

    def rounds(self) -> list[tuple[str, list[float]]]:
        """(label, test accuracy of each ok round) in the table's current order."""
        by_label: dict[str, list[float]] = {s.label: [] for s in self.sorted_summary()}
        for run in self.result.runs:
            if run.status == "ok" and run.test_accuracy is not None and run.model in by_label:
                by_label[run.model].append(run.test_accuracy)
        return list(by_label.items())

    def sorted_summary(self) -> list[Any]:
        _title, attr, largest_first = self.columns[self.sort_column]
        present = [s for s in self.result.summary if getattr(s, attr) is not None]
        missing = [s for s in self.result.summary if getattr(s, attr) is None]
        present.sort(key=lambda s: getattr(s, attr), reverse=largest_first != self.reverse)
        return present + missing

    def fill_table(self) -> None:
        table = self.query_one("#results-table", DataTable)
        table.clear()
        for s in self.sorted_summary():
            trouble = []
            if s.diverged:
                trouble.append(f"{s.diverged} diverged")
            if s.failed:
                trouble.append(f"{s.failed} failed")
            ok = f"{s.ok}/{s.runs}" + (f" ({', '.join(trouble)})" if trouble else "")
            table.add_row(
                s.label,
                fmt_params(s.params) if s.params else MISSING,
                ok,
                pct(s.train_mean, s.train_std),
                pct(s.test_mean, s.test_std),
                f"{s.time_mean_s:.2f}" if s.time_mean_s is not None else MISSING,
                key=s.label,
            )
        title = self.columns[self.sort_column][0]
        self.query_one("#results-table", DataTable).border_title = f"sorted by {title}"

    def _resort(self) -> None:
        self.fill_table()
        self.query_one("#rounds-plot", RoundsPlot).show_rounds(self.rounds())

    def action_sort_next(self) -> None:
        self.sort_column = (self.sort_column + 1) % len(self.columns)
        self.reverse = False
        self._resort()

    def action_sort_reverse(self) -> None:
        self.reverse = not self.reverse
        self._resort()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        index = event.column_index
        if index == self.sort_column:
            self.reverse = not self.reverse
        else:
            self.sort_column, self.reverse = index, False
        self._resort()

    def action_open_results(self) -> None:
        self.app.action_open_results()

    def action_new_bench(self) -> None:
        self.app.back_to_setup()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resume":  # offered only for a bench with runs left to do
            return self.resumable()
        return True

    def action_resume(self) -> None:
        """Continue the bench from this file alone: the runs it lacks, with live plots."""
        if self.resumable():
            self.app.resume_results(self.result, self.path)
