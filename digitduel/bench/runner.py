"""run_bench: contestants x rounds through an executor, written down as they finish.

Every finished run is appended to the journal (flushed, fsynced) before the next one is
reported, so `kill -9` loses only runs in flight; `--resume` reads the journal back and runs
only the (contestant, round) pairs it lacks. Ctrl-C (KeyboardInterrupt) or `cancel.set()`
stops the executor, keeps every finished run and still writes the results JSON, with status
"cancelled". Runs that failed (an exception, a dead worker) are recorded, and rerun by a
later `--resume`; diverged runs are a result and are kept.
"""

from __future__ import annotations

import math
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from digitduel.bench.executors import DataContext, Job, make_executor, prestart
from digitduel.bench.journal import Journal, journal_path
from digitduel.bench.plan import BenchPlan, round_seeds
from digitduel.bench.results import (
    BenchResult,
    DataInfo,
    EpochRecord,
    RunRecord,
    environment,
    now_iso,
    order_runs,
    save_results,
    summarise,
)
from digitduel.training.device import resolve_device
from digitduel.training.events import BenchEnded, BenchStarted, JobKey, Note, RunEnded
from digitduel.training.trainer import RunOutcome

KEEP_ON_RESUME = ("ok", "diverged")
SNAPSHOT_EVERY_S = 5.0  # how stale the results file of a running bench may get


def plan_jobs(plan: BenchPlan) -> list[Job]:
    """Round-major: every contestant of round 0, then round 1, ... so the first rounds give a
    complete paired comparison early, and a round's pairs are drawn once per worker.
    With k-fold cross-validation every round shares round 0's draw and validates on fold r;
    initialisation still differs per round."""
    folds = plan.bench.folds
    jobs = []
    for r in range(plan.bench.rounds):
        data_seed, seed = round_seeds(plan.bench.seed, r)
        if folds:
            data_seed = round_seeds(plan.bench.seed, 0)[0]
        fold = r if folds else None
        jobs.extend(Job(c, r, seed, data_seed, fold) for c in plan.contestants)
    return jobs


def run_bench(
    plan: BenchPlan,
    out_path: str | Path,
    *,
    resume: bool = False,
    on_event: Callable[[Any], None] | None = None,
    cancel: Any = None,
    mnist: Any = None,
) -> BenchResult:
    """Run `plan`, writing `out_path` (JSON) and its journal; returns the results.
    `mnist` (a loaded MnistData) skips loading, e.g. for tests with synthetic digits."""
    emit = on_event or (lambda _e: None)
    out_path = Path(out_path)
    device = resolve_device(plan.bench.device)
    jobs = plan_jobs(plan)
    prestart(plan.bench.executor, n_jobs=plan.bench.jobs, device=device, n_tasks=len(jobs))
    if mnist is None:
        from digitduel.data import load_mnist

        mnist = load_mnist(
            plan.data_dir,
            offline=True if plan.offline else None,
            on_note=lambda msg: emit(Note(msg, "warning")),
        )

    wanted = {job.key for job in jobs}
    jpath = journal_path(out_path)
    if resume:
        journal, previous = Journal.resume(jpath, plan)
        kept = [r for r in previous if r.status in KEEP_ON_RESUME]
    else:
        journal, kept = Journal.start(jpath, plan), []
    finished_keys = {(r.model, r.round) for r in kept}
    todo = [j for j in jobs if (j.key.contestant, j.key.round) not in finished_keys]
    # A resumed journal may hold more rounds than now asked for: keep only the plan's.
    runs: list[RunRecord] = [r for r in kept if JobKey(r.model, r.round) in wanted]

    from digitduel.models.registry import get_spec

    modules = sorted({get_spec(c.model).factory.__module__ for c in plan.contestants})
    executor = make_executor(
        plan.bench.executor,
        n_jobs=plan.bench.jobs,
        device=device,
        n_tasks=len(todo),
        settings=plan.bench,
    )
    ctx = DataContext.from_mnist(
        mnist, plan.bench.n_pairs, str(device), modules, folds=plan.bench.folds
    )
    threads = getattr(executor, "threads", 1) if executor.name == "serial" else 1
    result = BenchResult(
        name=plan.name,
        preset=plan.preset,
        description=plan.description,
        status="running",
        created=now_iso(),
        environment=environment(device, executor.name, getattr(executor, "jobs", 1), threads),
        data=DataInfo(
            source=mnist.source,
            path=mnist.path,
            verified=mnist.verified,
            n_pairs=plan.bench.n_pairs,
            description=mnist.describe(),
        ),
        bench=plan.bench,
        contestants=plan.contestants,
        report=plan.report,
        report_source=plan.report_source,
    )

    last_snapshot = [time.monotonic()]

    def snapshot() -> None:
        """Rewrite the results file (status "running") every few seconds, so `digitduel show`
        or `reproduce --from` can read a bench still in progress, from another shell."""
        if time.monotonic() - last_snapshot[0] < SNAPSHOT_EVERY_S:
            return
        result.runs = order_runs(plan, runs)
        result.summary = summarise(plan.contestants, result.runs)
        save_results(result, out_path)
        last_snapshot[0] = time.monotonic()

    def on_record(job: Job, outcome: RunOutcome) -> None:
        if outcome.status == "cancelled":
            emit(RunEnded(job=job.key, status="cancelled", record=None))
            return
        record = to_record(job, outcome)
        runs.append(record)  # (first: an interrupt between the two lines reruns, never loses)
        journal.append(record)  # durable before anyone hears about it
        emit(RunEnded(job=job.key, status=record.status, record=record))
        snapshot()

    emit(
        BenchStarted(
            total_runs=len(jobs),
            done_runs=len(jobs) - len(todo),
            contestants=tuple(c.label for c in plan.contestants),
            rounds=plan.bench.rounds,
            held_out=plan.bench.held_out,
        )
    )
    if resume and len(todo) < len(jobs):
        emit(Note(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} runs already finished"))
    interrupted = False
    stop = _CtrlC(cancel)
    try:
        with stop:
            executor.run(todo, ctx, on_record=on_record, on_event=emit, cancel=stop)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        journal.close()

    cancelled = interrupted or stop.is_set()
    result.runs = order_runs(plan, runs)
    result.summary = summarise(plan.contestants, result.runs)
    result.status = "cancelled" if cancelled else "finished"
    result.finished = now_iso()
    save_results(result, out_path)
    emit(BenchEnded(status=result.status, results_path=str(out_path)))
    return result


class _CtrlC:
    """The cancel flag the executor polls: the caller's `cancel`, or a first Ctrl-C.

    On the main thread, a first SIGINT only sets the flag, so the run in flight stops at its
    next batch and nothing half-written can happen; a second one raises KeyboardInterrupt
    as usual (for a user who really wants out now). SIGTERM (`kill`, `timeout`, a batch
    scheduler) and SIGHUP (a dropped SSH session) are treated the same way, so the worker
    processes are stopped and the results file is written instead of being orphaned."""

    SIGNALS = tuple(
        getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
    )

    def __init__(self, cancel: Any):
        self.cancel = cancel
        self.pressed = threading.Event()
        self._previous: dict[int, Any] = {}

    def is_set(self) -> bool:
        return self.pressed.is_set() or (self.cancel is not None and self.cancel.is_set())

    def _on_signal(self, signum, frame) -> None:
        if self.pressed.is_set():
            raise KeyboardInterrupt
        self.pressed.set()

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


def to_record(job: Job, outcome: RunOutcome) -> RunRecord:
    return RunRecord(
        model=job.contestant.label,
        model_name=job.contestant.model,
        round=job.round,
        seed=job.seed,
        data_seed=job.data_seed,
        status=outcome.status,
        train_accuracy=outcome.train_accuracy,
        test_accuracy=outcome.test_accuracy,
        digit_accuracy=outcome.digit_accuracy,
        wall_time_s=round(outcome.wall_time_s, 4),
        total_time_s=round(outcome.total_time_s, 4),
        params=outcome.params,
        device=outcome.device,
        channels_last=outcome.channels_last,
        error=outcome.error,
        host=outcome.host or socket.gethostname(),
        node=outcome.node,
        epochs=[EpochRecord(**{k: _finite(v) for k, v in vars(e).items()}) for e in outcome.epochs],
    )


def _finite(value: Any) -> Any:
    """NaN/inf (a diverged epoch's loss) become null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
