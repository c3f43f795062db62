"""What the live run screen shows, rebuilt from the engine's events alone.

`BenchState.apply(event)` is a pure reducer over the plain event dataclasses of
digitduel.training.events, so it is tested without a terminal, a worker or torch. The run
screen drains the worker's queue into it on a timer and redraws from it; nothing here knows
about Textual.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from digitduel.numbers import pct, round_label
from digitduel.training.events import (
    BenchEnded,
    BenchStarted,
    EpochEnd,
    JobKey,
    Note,
    RunEnded,
    RunStarted,
)

LOG_LINES = 200  # the notable-events log keeps the most recent lines only


@dataclass
class Curve:
    """Per-epoch numbers of one run, in the order the epochs ended."""

    train_loss: list[float | None] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float | None] = field(default_factory=list)  # None: not evaluated


@dataclass
class RunView:
    key: JobKey
    model: str = ""
    params: int = 0
    epochs: int = 0  # planned
    epoch: int = 0  # last finished
    curve: Curve = field(default_factory=Curve)
    status: str = "running"  # then the RunEnded status
    test_accuracy: float | None = None
    train_accuracy: float | None = None
    wall_time_s: float | None = None


@dataclass
class ContestantRow:
    """The live table's row: finished rounds of one contestant."""

    label: str
    params: int | None = None
    ok: int = 0
    diverged: int = 0
    failed: int = 0
    test: list[float] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.ok + self.diverged + self.failed


def fmt_params(n: int | None) -> str:
    if n is None:
        return "…"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class BenchState:
    """Everything the run screen draws. `epochs_planned` (sum over contestants of their
    epochs x rounds) makes the ETA count epochs, not whole runs, so it moves within a run."""

    def __init__(self, epochs_by_label: dict[str, int] | None = None, clock=time.monotonic):
        self.clock = clock
        self.epochs_by_label = dict(epochs_by_label or {})
        self.total_runs = 0
        self.done_runs = 0  # finished earlier (resume) + finished now
        self.rounds = 0
        self.contestants: list[str] = []
        self.rows: dict[str, ContestantRow] = {}
        self.runs: dict[JobKey, RunView] = {}  # every run seen, in flight or finished
        self.in_flight: list[JobKey] = []  # in start order
        self.focus: JobKey | None = None  # the run the plots follow
        self.log: deque[tuple[str, str]] = deque(maxlen=LOG_LINES)  # (level, line)
        self.log_total = 0  # lines ever logged: a screen writes the ones it has not shown
        self.status = "starting"  # running, finished, cancelled, failed
        self.held_out = "test"  # what a run's "test" accuracy measures ("val": a CV fold)
        self.results_path: str | None = None
        self.started_at: float | None = None
        self.epochs_done = 0
        self.epochs_skipped = 0  # planned epochs of runs that will not train (resumed, stopped)
        self.version = 0  # bumped on every change: the screen redraws only when it moved

    # -- the reducer -------------------------------------------------------------------
    def apply(self, event: Any) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)
            self.version += 1

    def _on_BenchStarted(self, e: BenchStarted) -> None:
        self.total_runs, self.done_runs, self.rounds = e.total_runs, e.done_runs, e.rounds
        self.contestants = list(e.contestants)
        self.rows = {c: ContestantRow(c) for c in self.contestants}
        self.status = "running"
        self.held_out = e.held_out
        self.started_at = self.clock()
        more = f", {e.done_runs} already done" if e.done_runs else ""
        self._log("info", f"{len(e.contestants)} contestants x {e.rounds} rounds{more}")
        if e.total_runs:
            # Resumed runs are not trained again: keep them out of the ETA.
            self.epochs_skipped = round(self.epochs_planned() * e.done_runs / e.total_runs)

    def _on_RunStarted(self, e: RunStarted) -> None:
        run = RunView(e.job, model=e.model, params=e.params, epochs=e.epochs)
        self.runs[e.job] = run
        self.in_flight.append(e.job)
        self.focus = e.job
        row = self.rows.setdefault(e.job.contestant, ContestantRow(e.job.contestant))
        row.params = row.params or e.params

    def _on_EpochEnd(self, e: EpochEnd) -> None:
        run = self.runs.get(e.job) or self._late_run(e.job, e.epochs)
        run.epoch, run.epochs = e.epoch, e.epochs
        loss = e.train_loss if math.isfinite(e.train_loss) else None
        run.curve.train_loss.append(loss)
        run.curve.train_accuracy.append(e.train_accuracy)
        run.curve.test_accuracy.append(e.test_accuracy)
        self.epochs_done += 1
        if self.focus is None or self.focus not in self.in_flight:
            self.focus = e.job

    def _on_RunEnded(self, e: RunEnded) -> None:
        run = self.runs.get(e.job) or self._late_run(e.job, 0)
        run.status = e.status
        if e.job in self.in_flight:
            self.in_flight.remove(e.job)
        # Epochs this run will never train no longer count towards the ETA.
        self.epochs_skipped += max(0, self._planned_epochs(e.job.contestant) - run.epoch)
        record = e.record
        row = self.rows.setdefault(e.job.contestant, ContestantRow(e.job.contestant))
        tag = f"{e.job.contestant} {round_label(e.job.round)}"
        if record is None:  # cancelled in flight: nothing was recorded
            self._log("warning", f"{tag}: cancelled (not recorded)")
            return
        self.done_runs += 1
        run.test_accuracy, run.train_accuracy = record.test_accuracy, record.train_accuracy
        run.wall_time_s = record.wall_time_s
        row.params = row.params or record.params or None
        if record.status == "ok":
            row.ok += 1
            if record.test_accuracy is not None:
                row.test.append(record.test_accuracy)
            if record.train_accuracy is not None:
                row.train.append(record.train_accuracy)
            row.times.append(record.wall_time_s)
            accuracy = f"{self.held_out} {pct(record.test_accuracy)}%"
            trained = f"train {pct(record.train_accuracy)}% in {record.wall_time_s:.1f} s"
            self._log("info", f"{tag}: {accuracy}, {trained}")
        elif record.status == "diverged":
            row.diverged += 1
            row.times.append(record.wall_time_s)
            self._log("warning", f"{tag}: diverged (loss not finite) at epoch {run.epoch}")
        else:
            row.failed += 1
            self._log("error", f"{tag}: failed: {record.error or 'unknown error'}")
        if self.focus == e.job and self.in_flight:
            self.focus = self.in_flight[-1]

    def _on_Note(self, e: Note) -> None:
        self._log(e.level, e.message)

    def _on_BenchEnded(self, e: BenchEnded) -> None:
        self.status = e.status
        self.results_path = e.results_path
        self.in_flight.clear()
        self._log("info", f"bench {e.status}; results: {e.results_path}")

    # -- what the screen asks --------------------------------------------------------------
    def apply_note(self, message: str, level: str = "info") -> None:
        """A line of the screen's own for the log (cancelling, the data source, ...)."""
        self.apply(Note(message, level))  # type: ignore[arg-type]

    def fail(self, message: str) -> None:
        """The worker raised (no data, no device, ...): the bench never ran or stopped."""
        self.status = "failed"
        self._log("error", message)
        self.version += 1

    def focus_run(self) -> RunView | None:
        return self.runs.get(self.focus) if self.focus is not None else None

    def finished_rounds(self, label: str, exclude: JobKey | None = None) -> list[RunView]:
        """Earlier rounds of a contestant that ended, for the faint curves behind the live one."""
        return [
            r
            for k, r in self.runs.items()
            if k.contestant == label and k != exclude and r.status != "running"
        ]

    def cycle_focus(self, step: int = 1) -> None:
        """Let the plots follow another contestant: its run in flight or its last one."""
        labels = [c for c in self.contestants if any(k.contestant == c for k in self.runs)]
        if not labels:
            return
        current = self.focus.contestant if self.focus else labels[0]
        nxt = (
            labels[(labels.index(current) + step) % len(labels)] if current in labels else labels[0]
        )
        mine = [k for k in self.runs if k.contestant == nxt]
        live = [k for k in mine if k in self.in_flight]
        self.focus = (live or mine)[-1]
        self.version += 1

    def epochs_planned(self) -> int:
        return sum(self._planned_epochs(c) * self.rounds for c in self.contestants)

    def eta_s(self) -> float | None:
        """Seconds left, from the epoch rate so far; None until an epoch has ended."""
        if self.started_at is None or not self.epochs_done or self.status != "running":
            return None
        elapsed = self.clock() - self.started_at
        left = self.epochs_planned() - self.epochs_skipped - self.epochs_done
        return max(0.0, elapsed / self.epochs_done * left)

    def elapsed_s(self) -> float | None:
        return None if self.started_at is None else self.clock() - self.started_at

    def _planned_epochs(self, label: str) -> int:
        return self.epochs_by_label.get(label, 0)

    def _late_run(self, key: JobKey, epochs: int) -> RunView:
        # An event for a run we never saw start (events are never dropped, but be lenient).
        run = self.runs[key] = RunView(key, epochs=epochs)
        return run

    def _log(self, level: str, line: str) -> None:
        self.log.append((level, line))
        self.log_total += 1

    def log_since(self, shown: int) -> list[tuple[str, str]]:
        """Log lines after the first `shown` ever logged (those still kept)."""
        fresh = min(self.log_total - shown, len(self.log))
        return list(self.log)[len(self.log) - fresh :] if fresh > 0 else []
