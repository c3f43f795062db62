"""Jobs: the unit of work every executor runs, and how one runs in any process.

A `Job` is one (contestant, round) with its seeds; a `DataContext` is what building any
round's pairs needs (the loaded digits, pair count, device), in a form that pickles cheaply
into a worker process or onto another machine. `run_job` trains one job where it is called
and never raises: whatever goes wrong is a "failed" `RunOutcome`, so one bad run never stops
a bench. An executor (digitduel.bench.executors) decides only where and when jobs run.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from digitduel.bench.plan import Contestant
from digitduel.models.registry import get_spec
from digitduel.training.events import Cancel, JobKey, OnEvent
from digitduel.training.trainer import RunOutcome, train_run

ERROR_CHARS = 300  # a run's error text: one line, this long at most, before where it was raised


@dataclass(frozen=True)
class Job:
    """One (contestant, round) to train: picklable, so it can travel to any worker."""

    contestant: Contestant
    round: int
    seed: int  # initialisation, dropout, batch order
    data_seed: int  # which pairs: shared by every contestant of the round
    fold: int | None = None  # cross-validation: the round validates on this fold of the draw

    @property
    def key(self) -> JobKey:
        return JobKey(self.contestant.label, self.round)


# What an executor calls once per job it ran, whatever the status (including "cancelled").
OnRecord = Callable[[Job, RunOutcome], None]


@dataclass(frozen=True)
class JobSink:
    """Where an executor reports, and what it heeds: one object, so every executor and every
    layer between the runner and the trainer passes the three along as one.

    `on_record(job, outcome)`  once per job it ran, whatever the status
    `on_event(event)`          the trainer's events (digitduel.training.events)
    `cancel`                   a flag polled between and inside jobs; None: never cancelled
    """

    on_record: OnRecord
    on_event: OnEvent
    cancel: Cancel | None = None

    def cancelled(self) -> bool:
        return is_cancelled(self.cancel)


@dataclass
class DataContext:
    """What any executor needs to build a round's pairs, in a form that pickles cheaply into a
    worker process: the loaded digits as numpy arrays (12 MB for the full test split)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    path: str | None
    verified: bool
    n_pairs: int
    device: str
    folds: int = 0  # k of a k-fold cross-validation (BenchSettings.folds); 0: train/test pairs
    # Modules defining the contestants' models: a fresh worker process imports them so a model
    # registered outside digitduel.models (a plug-in, a test) is known there too.
    model_modules: tuple[str, ...] = ()
    # User models' `ModelOrigin`s (digitduel.models.user): a worker loads the same files under
    # the same module names (`prepare_worker`), as their import names exist in no other process.
    model_origins: tuple = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_mnist(
        cls, mnist, n_pairs: int, device: str, model_modules=(), folds: int = 0, model_origins=()
    ) -> DataContext:
        return cls(
            train_images=mnist.train.images.numpy(),
            train_labels=mnist.train.labels.numpy(),
            test_images=mnist.test.images.numpy(),
            test_labels=mnist.test.labels.numpy(),
            source=mnist.source,
            path=mnist.path,
            verified=mnist.verified,
            n_pairs=n_pairs,
            device=device,
            folds=folds,
            model_modules=tuple(model_modules),
            model_origins=tuple(model_origins),
        )

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = {}  # never ship drawn pairs or device tensors to a worker
        return state

    def mnist(self):
        if "mnist" not in self._cache:
            from digitduel.data import DigitSplit, MnistData

            self._cache["mnist"] = MnistData(
                train=DigitSplit(
                    torch.from_numpy(self.train_images), torch.from_numpy(self.train_labels)
                ),
                test=DigitSplit(
                    torch.from_numpy(self.test_images), torch.from_numpy(self.test_labels)
                ),
                source=self.source,  # type: ignore[arg-type]
                path=self.path,
                verified=self.verified,
            )
        return self._cache["mnist"]

    def pairs(self, data_seed: int, fold: int | None = None):
        """The round's pairs on the device (with `fold`, that fold of the draw's train pairs as
        the validation set); the last two are kept (jobs run round by round, so every
        contestant of a round reuses one draw)."""
        draws = self._cache.setdefault("pairs", {})
        key = (data_seed, fold)
        if key not in draws:
            from digitduel.data import draw_pairs, fold_split

            if len(draws) >= 2:
                draws.pop(next(iter(draws)))
            pairs = draw_pairs(self.mnist(), self.n_pairs, seed=data_seed)
            if fold is not None:
                pairs = fold_split(pairs, fold, self.folds)
            draws[key] = pairs.to(self.device)
        return draws[key]

    def job_pairs(self, job: Job):
        return self.pairs(job.data_seed, job.fold)


def prepare_worker(ctx: DataContext) -> None:
    """What any executor's fresh worker (a process, a remote machine) calls once, before its
    first job: import the modules and load the user model files that define the contestants,
    so `get_spec` knows every model the jobs name. A user file that no longer loads, or was
    edited since the bench began (its SHA-256 differs), raises a one-line ConfigError: the
    worker's jobs then fail with it rather than train code the results do not describe."""
    import importlib

    for module in ctx.model_modules:
        importlib.import_module(module)
    if ctx.model_origins:
        from digitduel.errors import ConfigError
        from digitduel.models.user import load_origins

        for origin in ctx.model_origins:
            changed = origin.changed_files() if origin is not None else []
            if changed:
                raise ConfigError(f"{changed[0]} changed since the bench began", code=2)
        load_origins(ctx.model_origins)


def is_cancelled(cancel: Cancel | None) -> bool:
    return cancel is not None and cancel.is_set()


def run_job(
    job: Job, ctx: DataContext, on_event: OnEvent | None, cancel: Cancel | None
) -> RunOutcome:
    """One job in this process. Anything that goes wrong inside is a "failed" run, not a crash
    of the bench: the error's first line and where it was raised are kept in the record."""
    try:
        return train_run(
            get_spec(job.contestant.model),
            job.contestant.settings,
            ctx.job_pairs(job),
            seed=job.seed,
            device=ctx.device,
            job=job.key,
            on_event=on_event,
            cancel=cancel,
        )
    except Exception as err:  # noqa: BLE001 - recorded, shown, and the bench goes on
        return failed_outcome(f"{type(err).__name__}: {err}", where=raised_at(err))


def raised_at(err: BaseException) -> str | None:
    """Where `err` was raised, as "file.py:LINE in function" (its traceback's last frame)."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return None
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


def failed_outcome(message: str, where: str | None = None) -> RunOutcome:
    """A "failed" run: the message's first line, and `where` it was raised if known."""
    first = (message.strip().splitlines() or ["failed"])[0][:ERROR_CHARS]
    return RunOutcome(status="failed", params=0, error=f"{first} (at {where})" if where else first)
