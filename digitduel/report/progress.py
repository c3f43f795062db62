"""Following a bench from its events: rich progress bars on a terminal, one plain line per
finished run elsewhere. Only a listener: the engine never knows who is watching.

Each listener also takes `on_download(name, bytes so far, total)`, which `run_bench` hands to
the data loader: on a terminal a download of MNIST is one more bar of the same live display
(a second live display on one terminal would garble both); elsewhere nothing is drawn."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from digitduel.numbers import pct, round_label
from digitduel.report.tables import run_line
from digitduel.training.events import BenchStarted, EpochEnd, Note, RunEnded, RunStarted


class PlainListener:
    """Not a terminal (pipes, CI, nohup): one line per finished run, notes as `note: ...`."""

    def __init__(self, console: Console):
        self.console = console
        self.done = 0
        self.total = 0
        self.held_out = "test"

    def __call__(self, event) -> None:
        if isinstance(event, BenchStarted):
            self.done, self.total = event.done_runs, event.total_runs
            self.held_out = event.held_out
        elif isinstance(event, RunEnded) and event.record is not None:
            self.done += 1
            self._print(run_line(event.record, self.done, self.total, self.held_out))
        elif isinstance(event, RunEnded):
            self._print(f"{event.job.contestant} {round_label(event.job.round)}: {event.status}")
        elif isinstance(event, Note):
            self._print(f"note: {event.message}")

    def on_download(self, name: str, done: int, total: int | None) -> None:
        """A log must not receive a live bar: a download says nothing until its notes."""

    def _print(self, line: str) -> None:
        # soft_wrap: a long line stays one line in a log file
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


class RichListener:
    """A terminal: the bench's overall bar with ETA, plus one bar per run in flight."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.overall = None
        self.runs: dict = {}
        self.downloads: dict[str, TaskID] = {}
        self.held_out = "test"

    def on_download(self, name: str, done: int, total: int | None) -> None:
        """One bar per MNIST file, counted in KiB (the M/N column then reads as sizes)."""
        if name not in self.downloads:
            kib = -(-total // 1024) if total else None  # rounded up, as `done` is at the end
            self.downloads[name] = self.progress.add_task(f"download {name} (KiB)", total=kib)
        self.progress.update(self.downloads[name], completed=-(-done // 1024))

    def __call__(self, event) -> None:
        p = self.progress
        if isinstance(event, BenchStarted):
            self.held_out = event.held_out
            self.overall = p.add_task(
                f"bench ({len(event.contestants)} contestants x {event.rounds} rounds)",
                total=event.total_runs,
                completed=event.done_runs,
            )
        elif isinstance(event, RunStarted):
            name = f"  {event.job.contestant} {round_label(event.job.round)}"
            self.runs[event.job] = p.add_task(name, total=event.epochs)
        elif isinstance(event, EpochEnd) and event.job in self.runs:
            p.update(
                self.runs[event.job],
                completed=event.epoch,
                description=f"  {event.job.contestant} {round_label(event.job.round)} "
                f"{self.held_out} {pct(event.test_accuracy)}%",
            )
        elif isinstance(event, RunEnded):
            task = self.runs.pop(event.job, None)
            if task is not None:
                p.remove_task(task)
            if self.overall is not None and event.record is not None:
                p.advance(self.overall)
            if event.record is not None and event.record.status != "ok":
                line = run_line(event.record, 0, 0, self.held_out)
                p.console.print(line.split("] ", 1)[1], markup=False)
        elif isinstance(event, Note):
            p.console.print(f"note: {event.message}", markup=False)


@contextmanager
def make_listener(console: Console):
    """The right listener for `console`, live for the duration of the `with`."""
    if not console.is_terminal:
        yield PlainListener(console)
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        yield RichListener(progress)
