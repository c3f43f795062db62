"""Executors: where and when the bench's (contestant, round) jobs run.

Every executor satisfies the `Executor` protocol below; the runner knows nothing else about
it. The built-in ones, by the name `--executor` takes:

    serial     jobs one after another in this process (one torch thread: see SerialExecutor)
    processes  a pool of worker processes (one torch thread each, one per core by default),
               each warmed up once and reused; events and cancel cross the process boundary
    batched    the R rounds of a contestant as one stacked model (digitduel.training.batched);
               contestants it cannot batch go to the fallback executor, with a Note saying so,
               and their runs are recorded with the fallback's name. With --jobs N (N > 1):
               N worker processes (the processes executor's pool), each training whole
               contestants' stacks, several at once; opt-in, as it is unmeasured on a GPU
    ray        Ray tasks, on this machine or a cluster (digitduel.bench.ray_executor; the
               optional extra digitduel[ray])
    auto       batched on CUDA (in one process, whatever --jobs says), processes on a multi-core
               CPU with more than one job, else serial
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import torch

from digitduel.bench.forkserver import batched_pool, start_server
from digitduel.bench.jobs import DataContext, Job, JobSink, run_job
from digitduel.bench.processes import ProcessExecutor, run_pool
from digitduel.errors import ConfigError, DigitduelError
from digitduel.settings import BenchSettings
from digitduel.training.device import set_threads, usable_cores
from digitduel.training.trainer import RunOutcome


class Executor(Protocol):
    """How a bench's jobs get run. What the runner relies on, and all it relies on:

    `name`     written to the results file (environment.executor) and shown to the user
    `jobs`     how many jobs run at once (environment.jobs)
    `threads`  torch threads each job trains with (environment.threads)
    `run(jobs, ctx, sink)`
               runs the `Job`s (digitduel.bench.jobs) with the data of `ctx`, in any order
               and anywhere, and returns when every one has ended or `sink.cancel` is set. The
               `JobSink` (digitduel.bench.jobs) carries the two callbacks and the cancel flag:
               it calls `sink.on_record(job, outcome)` once per job it ran, whatever the status
               (a job that raised is a "failed" outcome: `run_job` does that), forwards the
               trainer's events to `sink.on_event`, and starts no job once `sink.cancelled()`
               (sink.cancel may be None). Both callbacks are called from the caller's process,
               one call at a time.

    Results, journal and resume live in the runner, so every executor behaves the same there.
    A new back end (a cluster, say) is a class with these four members and one
    `register_executor` line; jobs and the trainer do not change.
    """

    name: str
    jobs: int
    threads: int

    def run(self, jobs: list[Job], ctx: DataContext, sink: JobSink) -> None: ...


class ExecutorError(DigitduelError):
    """An executor stopped on an error of its own: not a failed run (those are recorded and
    the bench goes on) but the machinery (a pipe, a cluster connection) failing under it."""


def run_jobs(executor: Executor, jobs: list[Job], ctx: DataContext, sink: JobSink) -> None:
    """`executor.run(...)`, with any error it lets out as one `ExecutorError` line (exit 1).
    Why: whatever an executor raises must reach the user as one line, never a traceback nor
    nothing at all (an escaping BrokenPipeError is taken by Click for a closed stdout: exit 1
    without a word). Errors the user can fix (DigitduelError) and Ctrl-C pass unchanged; the
    runner writes the results file with the finished runs in any case."""
    try:
        executor.run(jobs, ctx, sink)
    except DigitduelError:
        raise
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise ExecutorError(
            f"the {executor.name} executor stopped ({type(err).__name__}: {first}); "
            "the finished runs are kept (continue with --resume)"
        ) from err


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

    def run(self, jobs: list[Job], ctx: DataContext, sink: JobSink) -> None:
        previous = torch.get_num_threads()
        set_threads(self.threads)
        try:
            for job in jobs:
                if sink.cancelled():
                    return
                outcome = run_job(job, ctx, sink.on_event, sink.cancel)
                sink.on_record(job, outcome)
                if outcome.status == "cancelled":
                    return
        finally:
            set_threads(previous)


class BatchedExecutor:
    """The rounds of one contestant as one stacked model, through `run_batched`
    (digitduel.bench.batched_bridge): it groups the jobs by contestant, trains each group it
    can batch in one call, and returns the jobs it could not, which go to `fallback`. The
    fallback's outcomes carry its name (RunOutcome.executor): the results say which runs were
    stacked and which were trained one by one (other random draws: prechecks.check_executors)."""

    name = "batched"
    # What results files have always recorded for it; the batches themselves train with
    # torch's thread setting in this process, and leftovers with the fallback's.
    threads = 1

    def __init__(self, fallback: Executor):
        self.fallback = fallback
        self.jobs = fallback.jobs

    def run(self, jobs: list[Job], ctx: DataContext, sink: JobSink) -> None:
        from digitduel.bench.batched_bridge import run_batched

        leftovers = run_batched(jobs, ctx, sink)
        if leftovers and not sink.cancelled():
            self.fallback.run(leftovers, ctx, trained_by(self.fallback.name, sink))


class BatchedPoolExecutor:
    """`--executor batched --jobs N`: several contestants' stacks at once, in N worker
    processes (processes.run_pool: its lifeline, dead-worker handling, cancel and events). A
    worker trains one contestant's rounds at a time (batched_bridge.run_group), and that
    contestant's leftovers there too; a worker that dies fails its contestant's unfinished runs.

    Why opt-in (auto never picks it): meant for one GPU shared by several processes (issue 17),
    where no one has measured it yet. Workers keep torch's default thread count on CUDA; on a
    CPU one thread each, as the processes executor's, so the figures are the one-process
    batched executor's on one thread."""

    name = "batched"
    threads = 1  # as BatchedExecutor records

    def __init__(self, workers: int, device: torch.device | str = "cpu"):
        self.workers = self.jobs = max(1, int(workers))
        self.one_thread = torch.device(device).type == "cpu"

    def run(self, jobs: list[Job], ctx: DataContext, sink: JobSink) -> None:
        from digitduel.bench.batched_bridge import by_contestant, run_group

        groups = list(by_contestant(jobs).values())
        run_pool(groups, ctx, sink, self.workers, run_group, one_thread=self.one_thread)


def trained_by(executor: str, sink: JobSink) -> JobSink:
    """`sink`, with each outcome recorded as trained by `executor` (unless it says otherwise)."""

    def on_record(job: Job, outcome: RunOutcome) -> None:
        sink.on_record(job, replace(outcome, executor=outcome.executor or executor))

    return JobSink(on_record, sink.on_event, sink.cancel)


# factory(n_jobs, device, n_tasks, settings) -> an executor: n_jobs as the user asked (None:
# choose), n_tasks the number of jobs it will be given (to size a pool no larger than the work),
# settings the bench's BenchSettings (what only some executors read: Ray's address), or None.
ExecutorFactory = Callable[[int | None, torch.device, int, BenchSettings | None], Executor]

_FACTORIES: dict[str, ExecutorFactory] = {}


def register_executor(name: str, factory: ExecutorFactory) -> None:
    """Make `--executor name` (and `make_executor(name)`) build executors with `factory`."""
    _FACTORIES[name] = factory


def _make_processes(
    n_jobs: int | None, device: torch.device, n_tasks: int, settings: BenchSettings | None
) -> Executor:
    workers = n_jobs or min(usable_cores(), max(n_tasks, 1))
    return ProcessExecutor(workers=workers)


def _make_serial(
    n_jobs: int | None, device: torch.device, n_tasks: int, settings: BenchSettings | None
) -> Executor:
    return SerialExecutor()


def _make_batched(
    n_jobs: int | None, device: torch.device, n_tasks: int, settings: BenchSettings | None
) -> Executor:
    if batched_pool("batched", n_jobs):
        return BatchedPoolExecutor(n_jobs, device)
    return _one_process_batched(n_jobs, device, n_tasks)


def _one_process_batched(n_jobs: int | None, device: torch.device, n_tasks: int) -> Executor:
    """The stacks in this process; leftovers to the executor auto would pick without batched."""
    fallback = auto_choice(device, n_tasks, batched_ok=False, n_jobs=n_jobs)
    return BatchedExecutor(make_executor(fallback, n_jobs=n_jobs, device=device, n_tasks=n_tasks))


register_executor("serial", _make_serial)
register_executor("processes", _make_processes)
register_executor("batched", _make_batched)


RAY_MISSING = "the ray executor needs Ray: pip install 'digitduel[ray]'"


def _ray_factory() -> ExecutorFactory:
    """digitduel.bench.ray_executor's factory; without Ray installed, a ConfigError (exit 2)."""
    try:
        from digitduel.bench.ray_executor import make_ray_executor
    except ImportError as err:
        if (err.name or "").split(".")[0] != "ray":
            raise
        raise ConfigError(RAY_MISSING) from None
    return make_ray_executor


def _make_ray(
    n_jobs: int | None, device: torch.device, n_tasks: int, settings: BenchSettings | None
) -> Executor:
    return _ray_factory()(n_jobs, device, n_tasks, settings)


register_executor("ray", _make_ray)


def auto_choice(
    device: torch.device, n_tasks: int, batched_ok: bool = True, n_jobs: int | None = None
) -> str:
    """The fastest executor we know for this device and amount of work."""
    if device.type == "cuda" and batched_ok:
        return "batched"
    if device.type == "cpu" and usable_cores() > 1 and n_tasks > 1 and n_jobs != 1:
        return "processes"
    return "serial"


def resolve_name(name: str, device: torch.device, n_tasks: int, n_jobs: int | None) -> str:
    """The executor `name` stands for: "auto" is the fastest for this device and work."""
    return auto_choice(device, n_tasks, n_jobs=n_jobs) if name == "auto" else name


def make_executor(
    name: str,
    *,
    n_jobs: int | None = None,
    device=None,
    n_tasks: int = 1,
    settings: BenchSettings | None = None,
) -> Executor:
    """An executor by name ("auto" resolves to one of the others); `settings` (BenchSettings)
    carries what only some executors read (the ray executor's address and GPU share)."""
    device = torch.device(device or "cpu")
    resolved = resolve_name(name, device, n_tasks, n_jobs)
    if name == "auto" and resolved == "batched":
        # Never the worker pool: several stacks at once is unmeasured on a GPU (opt-in).
        return _one_process_batched(n_jobs, device, n_tasks)
    name = resolved
    if name not in _FACTORIES:
        known = ", ".join(["auto", *_FACTORIES])
        raise ConfigError(f"unknown executor {name!r} (known: {known})")
    return _FACTORIES[name](n_jobs, device, n_tasks, settings)


def prestart(name: str, *, n_jobs: int | None = None, device=None, n_tasks: int = 1) -> None:
    """Begin what the executor `name` would start slowly (the processes executor's forkserver
    imports torch for 2-4 s), so it overlaps the caller's data loading. A missing Ray is
    reported here, before any data is loaded."""
    resolved = resolve_name(name, torch.device(device or "cpu"), n_tasks, n_jobs)
    if resolved == "processes" or batched_pool(name, n_jobs):
        start_server()
    elif resolved == "ray":
        _ray_factory()
