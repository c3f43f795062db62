"""run_bench: contestants x rounds through an executor, written down as they finish.

Every finished run is appended to the journal (flushed, fsynced) before the next one is
reported, so `kill -9` loses only runs in flight; `--resume` reads the journal back and runs
only the (contestant, round) pairs it lacks. Ctrl-C (KeyboardInterrupt) or `cancel.set()`
stops the executor, keeps every finished run and still writes the results JSON, with status
"cancelled". Runs that failed (an exception, a dead worker) are recorded, and rerun by a
later `--resume`; diverged runs are a result and are kept.

Before anything trains, the output is claimed (digitduel.bench.outfile: one bench per
results file, never a silent replace) and the data checked (digitduel.bench.prechecks). A
full disk is a warning while only the results file's refresh fails, and a clean stop (one
line, exit 1, resumable) once a finished run cannot be journaled.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from digitduel.bench.executors import (
    Executor,
    make_executor,
    prestart,
    resolve_name,
    run_jobs,
)
from digitduel.bench.jobs import DataContext, Job, JobSink
from digitduel.bench.journal import Journal, JournalFull, first_difference, journal_path
from digitduel.bench.outfile import claim_output
from digitduel.bench.plan import BenchPlan, round_seeds
from digitduel.bench.prechecks import check_data, check_executors
from digitduel.bench.provenance import plan_origins, plan_provenance
from digitduel.bench.results import (
    BenchResult,
    DataInfo,
    EpochRecord,
    RunRecord,
    environment,
    load_results,
    now_iso,
    order_runs,
    save_results,
    summarise,
)
from digitduel.bench.signals import CancelOnSignal
from digitduel.data import MnistData, load_mnist
from digitduel.data.download import OnProgress
from digitduel.errors import ConfigError
from digitduel.models.registry import get_spec
from digitduel.training.device import resolve_device
from digitduel.training.events import (
    BenchEnded,
    BenchStarted,
    Cancel,
    JobKey,
    Note,
    OnEvent,
    RunEnded,
)
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
    force: bool = False,
    allow_mixed_executors: bool = False,
    on_event: OnEvent | None = None,
    cancel: Cancel | None = None,
    mnist: MnistData | None = None,
    on_download: OnProgress | None = None,
) -> BenchResult:
    """Run `plan`, writing `out_path` (JSON) and its journal; returns the results.
    The output is checked and locked first (one bench per file; an existing file is resumed
    with `resume`, replaced only with `force`), the data next, and only then does anything
    train. `allow_mixed_executors` lets a resume add runs of another executor family.
    `mnist` (a loaded MnistData) skips loading, e.g. for tests with synthetic digits;
    `on_download` hears the bytes of a download of MNIST (`data.download_mnist`)."""
    emit = on_event or _nobody_listens
    out_path = Path(out_path)
    with claim_output(out_path, journal_path(out_path), resume=resume, force=force):
        device = resolve_device(plan.bench.device)
        jobs = plan_jobs(plan)
        prestart(plan.bench.executor, n_jobs=plan.bench.jobs, device=device, n_tasks=len(jobs))
        if mnist is None:
            mnist = _load_digits(plan, emit, on_download)
        check_data(plan, mnist, jobs)
        executor_name = resolve_name(plan.bench.executor, device, len(jobs), plan.bench.jobs)
        journal, done, todo = open_journal(plan, jobs, out_path, resume, emit)
        try:
            if not allow_mixed_executors:
                check_executors(done, executor_name, out_path, plan.contestants, device)
            return _run_jobs(plan, out_path, jobs, todo, done, journal, device, mnist, emit, cancel)
        finally:
            journal.close()


def _run_jobs(
    plan: BenchPlan,
    out_path: Path,
    jobs: list[Job],
    todo: list[Job],
    done: list[RunRecord],
    journal: Journal,
    device: torch.device,
    mnist: MnistData,
    emit: OnEvent,
    cancel: Cancel | None,
) -> BenchResult:
    """The bench proper, once its output, data and journal are in hand."""
    executor = make_executor(
        plan.bench.executor,
        n_jobs=plan.bench.jobs,
        device=device,
        n_tasks=len(todo),
        settings=plan.bench,
    )
    ctx = DataContext.from_mnist(
        mnist,
        plan.bench.n_pairs,
        str(device),
        _model_modules(plan),
        folds=plan.bench.folds,
        model_origins=plan_origins(plan),
    )
    result = result_header(plan, mnist, device, executor)
    stop = CancelOnSignal(cancel)
    recorder = Recorder(plan, result, out_path, journal, emit, runs=done, executor=executor.name)
    recorder.on_failure = stop.pressed.set  # a journal that cannot be written stops the bench
    recorder.refresh()  # at once: `show` reads a bench still in its first run ("running")
    emit(
        BenchStarted(
            total_runs=len(jobs),
            done_runs=len(jobs) - len(todo),
            contestants=tuple(c.label for c in plan.contestants),
            rounds=plan.bench.rounds,
            held_out=plan.bench.held_out,
        )
    )
    if len(todo) < len(jobs):
        emit(Note(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} runs already finished"))
    cancelled = True  # what the file says if the executor fails: its finished runs, resumable
    try:
        cancelled = _execute(executor, todo, ctx, recorder, stop)
    finally:
        recorder.finish("cancelled" if cancelled else "finished")
    emit(BenchEnded(status=result.status, results_path=str(out_path)))
    return result


def _nobody_listens(event: object) -> None:
    pass


def _load_digits(plan: BenchPlan, emit: OnEvent, on_download: OnProgress | None) -> MnistData:
    return load_mnist(
        plan.data_dir,
        offline=True if plan.offline else None,
        on_note=lambda msg: emit(Note(msg, "warning")),
        on_progress=on_download,
    )


def _model_modules(plan: BenchPlan) -> list[str]:
    """The modules defining the contestants' models, for worker processes to import. User
    models are not among them: their modules exist only once their files are loaded, which
    workers do from the context's `model_origins`."""
    specs = [get_spec(c.model) for c in plan.contestants]
    return sorted({s.factory.__module__ for s in specs if s.origin is None})


def open_journal(
    plan: BenchPlan, jobs: list[Job], out_path: Path, resume: bool, emit: OnEvent
) -> tuple[Journal, list[RunRecord], list[Job]]:
    """The journal to append to, the plan's runs it already holds (on `resume`: those that
    ended "ok" or "diverged"; failed runs run again), and the jobs still to run. A resumed
    results file whose journal is gone gets its journal back from the file's runs."""
    path = journal_path(out_path)
    if not resume or not (path.exists() or out_path.exists()):
        return Journal.start(path, plan), [], list(jobs)
    if path.exists():
        journal, contents = Journal.resume(path, plan)
        previous = contents.runs
        if contents.damaged:
            emit(Note(f"{path}: skipped {contents.damaged} damaged line(s); every readable "
                      "run is kept (a skipped run runs again)", "warning"))  # fmt: skip
    else:
        previous = runs_of_results(out_path, plan)
        journal = Journal.start(path, plan, previous)
        emit(Note(f"{path} was missing: rebuilt from the {len(previous)} runs in {out_path}"))
    # A resumed journal may hold more rounds than now asked for: keep only the plan's.
    wanted = {job.key for job in jobs}
    done = [
        r for r in previous if r.status in KEEP_ON_RESUME and JobKey(r.model, r.round) in wanted
    ]
    finished = {JobKey(r.model, r.round) for r in done}
    return journal, done, [job for job in jobs if job.key not in finished]


def runs_of_results(out_path: Path, plan: BenchPlan) -> list[RunRecord]:
    """The runs of a results file written by this plan's settings (to rebuild its journal);
    a file of other settings is refused by name."""
    previous = load_results(out_path)
    then = BenchPlan(
        name=previous.name,
        contestants=previous.contestants,
        bench=previous.bench,
        data_dir=plan.data_dir,  # not in the file as given; the data's description is
    )
    if then.fingerprint() != plan.fingerprint():
        raise ConfigError(
            f"{out_path} was written by a bench with different settings "
            f"({first_difference(then.identity(), plan.identity())}) and has no journal; "
            "rerun without --resume (with --force to replace it) or choose another --out"
        )
    return previous.runs


def result_header(
    plan: BenchPlan, mnist: MnistData, device: torch.device, executor: Executor
) -> BenchResult:
    """The results file before any run: what ran, where, on which data ("running")."""
    return BenchResult(
        name=plan.name,
        preset=plan.preset,
        description=plan.description,
        status="running",
        created=now_iso(),
        environment=environment(device, executor.name, executor.jobs, executor.threads),
        data=DataInfo(
            source=mnist.source,
            path=mnist.path,
            verified=mnist.verified,
            n_pairs=plan.bench.n_pairs,
            description=mnist.describe(),
        ),
        bench=plan.bench,
        contestants=plan.contestants,
        models=plan_provenance(plan),
        report=plan.report,
        report_source=plan.report_source,
    )


class Recorder:
    """Where each finished run goes, in this order: the bench's runs, the journal (durable
    before anyone hears of it), the listeners, and every SNAPSHOT_EVERY_S the results file
    (status "running"), so `digitduel show` or `reproduce --from` can read a bench still in
    progress from another shell. Its `record` is the executor's `sink.on_record`.

    The journal is the record: a refresh of the results file that fails (a full disk) is a
    warning and training goes on; a journal append that fails stops the bench (`on_failure`)
    and `finish` raises it, after writing the results file if the disk allows."""

    def __init__(
        self,
        plan: BenchPlan,
        result: BenchResult,
        out_path: Path,
        journal: Journal,
        emit: OnEvent,
        runs: list[RunRecord],
        executor: str | None = None,
    ):
        self.plan, self.result, self.out_path = plan, result, out_path
        self.journal, self.emit, self.executor = journal, emit, executor
        self.runs = list(runs)
        self.last_snapshot = time.monotonic()
        self.failure: JournalFull | None = None
        self.on_failure: Callable[[], None] = lambda: None
        self._refresh_failed = False

    def record(self, job: Job, outcome: RunOutcome) -> None:
        if outcome.status == "cancelled":
            self.emit(RunEnded(job=job.key, status="cancelled", record=None))
            return
        record = to_record(job, outcome, outcome.executor or self.executor)
        # Runs first, journal second: an interrupt between the two reruns the job, never loses it.
        self.runs.append(record)
        if self.failure is None:
            try:
                self.journal.append(record)
            except JournalFull as err:
                self.failure = err
                self.on_failure()
        self.emit(RunEnded(job=job.key, status=record.status, record=record))
        if time.monotonic() - self.last_snapshot >= SNAPSHOT_EVERY_S:
            self.refresh()
            self.last_snapshot = time.monotonic()

    def refresh(self) -> None:
        """The results file, now; a failure is a warning (once until it works again)."""
        try:
            self.save()
        except OSError as err:
            if not self._refresh_failed:
                self.emit(Note(f"cannot refresh {self.out_path} ({err.strerror or err}); "
                               "training goes on, every finished run is in the journal",
                               "warning"))  # fmt: skip
            self._refresh_failed = True
        else:
            self._refresh_failed = False

    def save(self) -> None:
        self.result.runs = order_runs(self.plan.contestants, self.runs)
        self.result.summary = summarise(self.plan.contestants, self.result.runs)
        save_results(self.result, self.out_path)

    def finish(self, status: Literal["finished", "cancelled"]) -> None:
        """The final results file: every run, and how the bench ended. Raises the journal's
        failure, or the results file's own, as one line saying how to go on."""
        self.result.status = "cancelled" if self.failure else status
        self.result.finished = now_iso()
        resume = f"--resume --out {self.out_path}"
        try:
            self.save()
        except OSError as err:
            written = f"{self.out_path} could not be written either ({err.strerror or err})"
            if self.failure is None:
                raise JournalFull(
                    f"cannot write {self.out_path} ({err.strerror or err}); every finished "
                    f"run is in {self.journal.path}: make room, then rerun with {resume}"
                ) from None
        else:
            written = f"{self.out_path} holds the {len(self.result.runs)} finished runs"
        if self.failure is not None:
            raise JournalFull(
                f"{self.failure}; the bench stopped, {written}: make room, then continue "
                f"with {resume}"
            )


def _execute(
    executor: Executor, jobs: list[Job], ctx: DataContext, recorder: Recorder, stop: CancelOnSignal
) -> bool:
    """Run the jobs; True when the bench was cancelled (`cancel`, a signal, Ctrl-C)."""
    try:
        with stop:
            run_jobs(executor, jobs, ctx, JobSink(recorder.record, recorder.emit, stop))
    except KeyboardInterrupt:
        return True
    return stop.is_set()


def to_record(job: Job, outcome: RunOutcome, executor: str | None = None) -> RunRecord:
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
        executor=executor,
        epochs=[EpochRecord(**{k: _finite(v) for k, v in vars(e).items()}) for e in outcome.epochs],
    )


def _finite(value: Any) -> Any:
    """NaN/inf (a diverged epoch's loss) become null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
