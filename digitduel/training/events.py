"""Events the engine emits: the only channel between trainer/bench and any UI.

Plain, picklable dataclasses, so they cross process boundaries (processes executor) and
threads (TUI worker) unchanged. A UI passes a callback `on_event(event)`; the trainer never
knows who listens. Per-epoch granularity: never per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class JobKey:
    """One (contestant, round) of a bench."""

    contestant: str
    round: int


@dataclass(frozen=True)
class BenchStarted:
    total_runs: int
    done_runs: int  # already finished (resume)
    contestants: tuple[str, ...]
    rounds: int
    held_out: str = "test"  # what a run's "test" accuracy measures: "val" under cross-validation


@dataclass(frozen=True)
class RunStarted:
    job: JobKey
    model: str
    params: int
    epochs: int


@dataclass(frozen=True)
class EpochEnd:
    job: JobKey
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float | None  # None on epochs that `eval_every` skips
    digit_accuracy: float | None
    elapsed_s: float


@dataclass(frozen=True)
class RunEnded:
    job: JobKey
    status: Literal["ok", "diverged", "cancelled", "failed"]
    record: Any  # digitduel.bench.results.RunRecord (kept Any to avoid an import cycle)


@dataclass(frozen=True)
class Note:
    """Something a user should notice: a fallback data source, an executor fallback, ..."""

    message: str
    level: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class BenchEnded:
    status: Literal["finished", "cancelled"]
    results_path: str | None


Event = BenchStarted | RunStarted | EpochEnd | RunEnded | Note | BenchEnded

# What a UI hands the engine to hear its events (called from the engine's thread or process).
OnEvent = Callable[[Event], None]


class Cancel(Protocol):
    """What the engine polls to stop early: a `threading.Event`, a `multiprocessing.Event`,
    or anything with `is_set()`. Checked once per batch, so a cancel lands within a step."""

    def is_set(self) -> bool: ...
