"""Executors: how the bench's (contestant, round) jobs get run.

An executor receives picklable `Job`s, a `DataContext` (the loaded digits, pair count,
device) and three callbacks; it calls `on_record(job, outcome)` once per job it ran (whatever
the status, including "cancelled"), forwards trainer events to `on_event`, and stops starting
jobs once `cancel.is_set()`. Results, journal and resume live in the runner, so every
executor behaves the same there. A new back end (a cluster, say) is one more class here and
one `register_executor` line; the trainer does not change.

    serial     jobs one after another in this process (one torch thread: see SerialExecutor)
    processes  a pool of worker processes (one torch thread each, one per core by default),
               each warmed up once and reused; events and cancel cross the process boundary
    batched    the R rounds of a contestant as one stacked model (digitduel.training.batched);
               contestants it cannot batch go to the fallback executor, with a Note saying so
    ray        Ray tasks, on this machine or a cluster (digitduel.bench.ray_executor; the
               optional extra digitduel[ray])
    auto       batched on CUDA, processes on a multi-core CPU with more than one job, else serial
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from digitduel.bench.plan import Contestant
from digitduel.errors import ConfigError
from digitduel.training.device import set_threads, usable_cores
from digitduel.training.events import JobKey, Note
from digitduel.training.trainer import RunOutcome, train_run

OnRecord = Callable[["Job", RunOutcome], None]
OnEvent = Callable[[Any], None]


@dataclass(frozen=True)
class Job:
    contestant: Contestant
    round: int
    seed: int  # initialisation, dropout, batch order
    data_seed: int  # which pairs: shared by every contestant of the round
    fold: int | None = None  # cross-validation: the round validates on this fold of the draw

    @property
    def key(self) -> JobKey:
        return JobKey(self.contestant.label, self.round)


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
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_mnist(
        cls, mnist, n_pairs: int, device: str, model_modules=(), folds: int = 0
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


def run_job(job: Job, ctx: DataContext, on_event: OnEvent | None, cancel: Any) -> RunOutcome:
    """One job in this process. Anything that goes wrong inside is a "failed" run, not a crash
    of the bench: the error's last line is kept in the record."""
    from digitduel.models.registry import get_spec

    try:
        spec = get_spec(job.contestant.model)
        return train_run(
            spec,
            job.contestant.settings,
            ctx.job_pairs(job),
            seed=job.seed,
            device=ctx.device,
            job=job.key,
            on_event=on_event,
            cancel=cancel,
        )
    except Exception as err:  # noqa: BLE001 - recorded, shown, and the bench goes on
        return failed_outcome(f"{type(err).__name__}: {err}", tb=traceback.format_exc())


def failed_outcome(message: str, tb: str | None = None) -> RunOutcome:
    first = (message.strip().splitlines() or ["failed"])[0][:300]
    return RunOutcome(status="failed", params=0, error=first)


class Executor(Protocol):
    name: str

    def run(
        self,
        jobs: list[Job],
        ctx: DataContext,
        *,
        on_record: OnRecord,
        on_event: OnEvent,
        cancel: Any,
    ) -> None: ...


def _cancelled(cancel: Any) -> bool:
    return cancel is not None and cancel.is_set()


class SerialExecutor:
    """One job after another in this process, torch using `threads` (default one).

    Why one thread by default: these models are tiny, so a second thread buys only ~1.3x on
    an idle 2-core machine, but on a busy one OpenMP threads wait on each other (measured
    here under load: 43-89 s per run with 2 threads against a steady 6.7 s with 1); and a
    run's figures depend on the thread count (reduction order), so one thread everywhere
    makes serial, processes and resumed runs give the same numbers for the same seed."""

    name = "serial"

    def __init__(self, threads: int | None = None):
        self.threads = threads or 1
        self.jobs = 1

    def run(self, jobs, ctx, *, on_record, on_event, cancel) -> None:
        previous = torch.get_num_threads()
        set_threads(self.threads)
        try:
            for job in jobs:
                if _cancelled(cancel):
                    return
                outcome = run_job(job, ctx, on_event, cancel)
                on_record(job, outcome)
                if outcome.status == "cancelled":
                    return
        finally:
            set_threads(previous)


class BatchedExecutor:
    """Rounds of one contestant as one stacked model, through digitduel.training.batched:

        can_batch(spec, settings) -> (bool, reason)
        train_batched(spec, settings, pairs_per_round, seeds, device, on_epoch, cancel)
            -> list[RoundOutcome]   (one per seed, in order)

    Contestants it cannot batch (or everything, if the module is missing) go to `fallback`."""

    name = "batched"

    def __init__(self, fallback: Any):
        self.fallback = fallback
        self.jobs = getattr(fallback, "jobs", 1)

    def run(self, jobs, ctx, *, on_record, on_event, cancel) -> None:
        from digitduel.bench.batched_bridge import run_batched

        leftovers = run_batched(jobs, ctx, on_record=on_record, on_event=on_event, cancel=cancel)
        if leftovers and not _cancelled(cancel):
            self.fallback.run(leftovers, ctx, on_record=on_record, on_event=on_event, cancel=cancel)


_FACTORIES: dict[str, Callable[..., Any]] = {}


def register_executor(name: str, factory: Callable[..., Any]) -> None:
    """`factory(n_jobs, device, n_tasks, settings)` -> an executor (`settings`: the bench's
    BenchSettings, or None)."""
    _FACTORIES[name] = factory


def _make_processes(n_jobs: int | None, device, n_tasks: int, settings=None):
    from digitduel.bench.processes import ProcessExecutor

    workers = n_jobs or min(usable_cores(), max(n_tasks, 1))
    return ProcessExecutor(workers=workers)


def _make_serial(n_jobs: int | None, device, n_tasks: int, settings=None):
    return SerialExecutor()


def _make_batched(n_jobs: int | None, device, n_tasks: int, settings=None):
    fallback = auto_choice(device, n_tasks, batched_ok=False, n_jobs=n_jobs)
    return BatchedExecutor(make_executor(fallback, n_jobs=n_jobs, device=device, n_tasks=n_tasks))


register_executor("serial", _make_serial)
register_executor("processes", _make_processes)
register_executor("batched", _make_batched)


RAY_MISSING = "the ray executor needs Ray: pip install 'digitduel[ray]'"


def _ray_factory() -> Callable[..., Any]:
    """digitduel.bench.ray_executor's factory; without Ray installed, a ConfigError (exit 2)."""
    try:
        from digitduel.bench.ray_executor import make_ray_executor
    except ImportError as err:
        if (err.name or "").split(".")[0] != "ray":
            raise
        raise ConfigError(RAY_MISSING) from None
    return make_ray_executor


def _make_ray(n_jobs: int | None, device, n_tasks: int, settings=None):
    return _ray_factory()(n_jobs, device, n_tasks, settings)


register_executor("ray", _make_ray)


def auto_choice(device, n_tasks: int, batched_ok: bool = True, n_jobs: int | None = None) -> str:
    """The fastest executor we know for this device and amount of work."""
    if device.type == "cuda" and batched_ok:
        return "batched"
    if device.type == "cpu" and usable_cores() > 1 and n_tasks > 1 and n_jobs != 1:
        return "processes"
    return "serial"


def resolve_name(name: str, device, n_tasks: int, n_jobs: int | None) -> str:
    """The executor `name` stands for: "auto" is the fastest for this device and work."""
    return auto_choice(device, n_tasks, n_jobs=n_jobs) if name == "auto" else name


def make_executor(
    name: str, *, n_jobs: int | None = None, device=None, n_tasks: int = 1, settings=None
):
    """An executor by name ("auto" resolves to one of the others); `settings` (BenchSettings)
    carries what only some executors read (the ray executor's address and GPU share)."""
    device = torch.device(device or "cpu")
    name = resolve_name(name, device, n_tasks, n_jobs)
    if name not in _FACTORIES:
        known = ", ".join(["auto", *_FACTORIES])
        raise ConfigError(f"unknown executor {name!r} (known: {known})")
    return _FACTORIES[name](n_jobs, device, n_tasks, settings)


def prestart(name: str, *, n_jobs: int | None = None, device=None, n_tasks: int = 1) -> None:
    """Begin what the executor `name` would start slowly (the processes executor's forkserver
    imports torch for 2-4 s), so it overlaps the caller's data loading. A missing Ray is
    reported here, before any data is loaded."""
    resolved = resolve_name(name, torch.device(device or "cpu"), n_tasks, n_jobs)
    if resolved == "processes":
        from digitduel.bench.processes import start_server

        start_server()
    elif resolved == "ray":
        _ray_factory()


def executor_note(message: str) -> Note:
    return Note(message=message, level="warning")
