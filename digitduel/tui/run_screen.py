"""Live run screen: the bench trains in a thread worker; this screen only watches.

The worker's `on_event` does one thing: append the event to a deque (thread-safe, never
blocks the trainer). A timer drains the deque a few times a second into a BenchState and
redraws when it changed, so the trainer never waits for the UI. Cancel sets a
threading.Event that the trainer checks every batch; the runner then saves every finished
run in the results file, as `digitduel bench` does on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, RichLog
from textual.worker import Worker, WorkerState

from digitduel.numbers import MISSING, mean_std, pct, round_label
from digitduel.tui.form import epochs_by_label
from digitduel.tui.state import BenchState, fmt_duration, fmt_params
from digitduel.tui.widgets import AccuracyPlot, FitLine, LossPlot, TitleBar

REDRAW_S = 0.25  # how often the screen drains events and redraws
LOG_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}


class RunScreen(Screen):
    DEFAULT_CSS = """
    RunScreen .line { height: 1; }
    RunScreen #bench-line, RunScreen #run-line {
        width: 1fr; height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    RunScreen ProgressBar { width: auto; }
    RunScreen ProgressBar Bar { width: 12; }
    RunScreen #plots { height: 1fr; min-height: 8; }
    RunScreen #bottom { height: 33%; min-height: 6; }
    RunScreen #live-table { width: 2fr; }
    RunScreen #log { width: 1fr; border-left: solid $primary; }
    """

    BINDINGS = [
        Binding("c", "cancel", "Cancel"),
        Binding("f", "focus_next_contestant", "Follow next"),
        Binding("r", "results", "Results", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self, plan: Any, out_path: Path, mnist: Any = None, notes=(), *, resume: bool = False
    ) -> None:
        super().__init__()
        self.plan = plan
        self.resume = resume  # continue the file's journal: skip the runs it has
        self.held_out = plan.bench.held_out  # "val" under cross-validation
        self.out_path = Path(out_path)
        self.mnist = mnist
        self.events: deque = deque()
        self.cancel_flag = threading.Event()
        self.state = BenchState(epochs_by_label(plan))
        self.drawn_version = -1
        self.logged = 0  # log lines already written to the RichLog
        self.result: Any = None
        self.worker: Worker | None = None
        for note in notes:  # what the data load said on the set-up screen
            self.state.apply_note(note, "warning")

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title")
        with Horizontal(classes="line"):
            yield FitLine("", id="bench-line")
            yield ProgressBar(id="bench-progress", show_eta=False)
        with Horizontal(classes="line"):
            yield FitLine("", id="run-line")
            yield ProgressBar(id="run-progress", show_eta=False)
        with Horizontal(id="plots"):
            yield LossPlot(id="loss-plot")
            yield AccuracyPlot(self.held_out, id="acc-plot")
        with Horizontal(id="bottom"):
            yield DataTable(id="live-table", cursor_type="row", zebra_stripes=True)
            yield RichLog(id="log", wrap=True, markup=False, max_lines=500)
        yield Footer()

    def on_mount(self) -> None:
        doing = "resuming" if self.resume else "running"
        out = str(self.out_path)
        self.query_one("#title", TitleBar).show(f"{doing} {self.plan.name} → {out}", out)
        self.loss_plot = self.query_one("#loss-plot", LossPlot)
        self.acc_plot = self.query_one("#acc-plot", AccuracyPlot)
        table = self.query_one("#live-table", DataTable)
        table.add_columns("contestant", "params", "done", f"{self.held_out} %", "s/run")
        self.worker = self.run_bench_worker()
        self.set_interval(REDRAW_S, self.drain)
        self.drain()

    # -- the worker: the only place the engine runs ------------------------------------------
    def run_bench_worker(self) -> Worker:
        events, cancel, plan, out, mnist, resume = (
            self.events,
            self.cancel_flag,
            self.plan,
            self.out_path,
            self.mnist,
            self.resume,
        )

        def work() -> Any:
            from digitduel.bench import run_bench

            start_resource_tracker()
            return run_bench(
                plan, out, resume=resume, on_event=events.append, cancel=cancel, mnist=mnist
            )

        return self.run_worker(work, thread=True, exit_on_error=False, name="bench", group="bench")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return
        if event.state == WorkerState.SUCCESS:
            self.result = event.worker.result
            self.drain()
            self.app.bench_finished(self)
        elif event.state == WorkerState.ERROR:
            self.drain()
            self.state.fail(f"bench stopped: {event.worker.error}")
            self.drain()
            self.notify(str(event.worker.error), severity="error", timeout=15)

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    # -- timer: drain and redraw --------------------------------------------------------------
    def drain(self) -> None:
        while self.events:
            self.state.apply(self.events.popleft())
        if self.state.version == self.drawn_version:
            self.refresh_clock()
            return
        log = self.query_one("#log", RichLog)
        for level, line in self.state.log_since(self.logged):
            log.write(_styled(level, line))
        self.logged = self.state.log_total
        self.redraw()

    def redraw(self) -> None:
        st = self.state
        self.drawn_version = st.version
        bench_bar = self.query_one("#bench-progress", ProgressBar)
        bench_bar.update(total=max(st.total_runs, 1), progress=st.done_runs)
        run = st.focus_run()
        run_bar = self.query_one("#run-progress", ProgressBar)
        if run is not None:
            run_bar.update(total=max(run.epochs, 1), progress=run.epoch)
            tested = [v for v in run.curve.test_accuracy if v is not None]
            last = tested[-1] if tested else None
            status = "" if run.status == "running" else f" [{run.status}]"
            others = len(st.in_flight) - (run.key in st.in_flight)
            more = f"  +{others} in flight" if others > 0 else ""
            label = run.key.contestant
            self.query_one("#run-line", FitLine).show_text(
                f"{label} {round_label(run.key.round, st.rounds)}: epoch {run.epoch}/{run.epochs}"
                f"  {self.held_out} {pct(last)}%{status}{more}",
                label,
            )
            earlier = st.finished_rounds(run.key.contestant, exclude=run.key)
            self.loss_plot.show_runs(run, earlier)
            self.acc_plot.show_runs(run, earlier)
        elif st.status in ("starting", "running"):
            self.query_one("#run-line", FitLine).show_text("loading data, starting the first run…")
        self._fill_table()
        self.refresh_clock()

    def refresh_clock(self) -> None:
        st = self.state
        eta = st.eta_s()
        when = f"ETA {fmt_duration(eta)}" if eta is not None else st.status
        self.query_one("#bench-line", FitLine).show_text(
            f"{self.plan.name}: runs {st.done_runs}/{st.total_runs or '?'}"
            f"  elapsed {fmt_duration(st.elapsed_s())}  {when}",
            self.plan.name,
        )

    def _fill_table(self) -> None:
        table = self.query_one("#live-table", DataTable)
        table.clear()
        for label, row in self.state.rows.items():
            test = pct(*mean_std(row.test))
            t, _ = mean_std(row.times)
            done = f"{row.done}/{self.state.rounds}"
            if row.diverged or row.failed:
                done += f" ({row.diverged}d {row.failed}f)"
            table.add_row(
                label,
                fmt_params(row.params) if row.params else MISSING,
                done,
                test,
                f"{t:.1f}" if t is not None else MISSING,
                key=label,
            )

    # -- actions -----------------------------------------------------------------------------
    def action_cancel(self) -> None:
        if self.running and not self.cancel_flag.is_set():
            self.cancel_flag.set()
            self.state.apply_note("cancelling: the run in flight stops at its next batch")
            self.drain()

    def action_focus_next_contestant(self) -> None:
        self.state.cycle_focus()
        self.redraw()

    def action_back(self) -> None:
        """Back to the set-up screen once the bench is over (e.g. it failed to start)."""
        if not self.running:
            self.app.back_to_setup()
        else:
            self.notify("the bench is running: c cancels it", severity="warning")

    def action_quit(self) -> None:
        """q: leave the app; while a bench runs, only after a confirmation (the runs finished
        so far are kept in the results file, and it can be resumed later)."""
        if not self.running:
            self.app.exit()
            return
        from digitduel.tui.dialogs import ConfirmDialog

        question = (
            f"A bench is running. Cancel it and quit?\nRuns finished so far stay in "
            f"{self.out_path.name}; open it later (ctrl+o) to resume."
        )
        self.app.push_screen(ConfirmDialog(question, yes="Cancel and quit"), self._quit_confirmed)

    async def _quit_confirmed(self, yes: bool | None) -> None:
        if yes:
            await self.app.action_quit()

    def action_results(self) -> None:
        if self.result is not None:
            self.app.bench_finished(self)


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr, once per process.

    Textual replaces sys.stderr with a capture whose fileno() is -1; the tracker (started
    by the processes executor's first worker) passes sys.stderr's descriptor to its child
    and fails on -1 ("bad value(s) in fds_to_keep"). Its child gets /dev/null instead, so
    nothing it might print lands on the screen."""
    import multiprocessing.resource_tracker as tracker

    saved = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull
        try:
            tracker.ensure_running()
        finally:
            sys.stderr = saved


def _styled(level: str, line: str):
    from rich.text import Text

    return Text(line, style=LOG_STYLE.get(level, ""))
