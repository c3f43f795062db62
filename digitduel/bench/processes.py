"""The `processes` executor: a pool of worker processes, one torch thread each.

Tiny models do not scale over threads (a 9 ms step spends much of its time in per-op
overheads), but independent runs scale over processes: on 2 cores, two one-thread workers
finish about twice the runs of one two-thread loop.

Why a hand-written pool rather than concurrent.futures: a worker that dies (segfault, OOM
kill) breaks a ProcessPoolExecutor and fails every pending future. Here each worker has its
own inbox, so the parent always knows which job a dead worker held: that job is recorded as
"failed", a fresh worker replaces it, and the other jobs go on.

The pool (`run_pool`) hands out units of work, not only single jobs: a unit is the jobs one
worker runs in one go, through a `RunUnit` function that reports each job's outcome by index
and then says the unit "ended". The processes executor's units are one job each (`run_each`);
`--executor batched --jobs N` gives each worker a contestant's rounds to train as one stack
(digitduel.bench.batched_bridge.run_group). A worker that dies fails the jobs of its unit it
had not reported; the finished ones stay recorded. Workers train on one torch thread unless
the caller says otherwise (the batched pool on CUDA keeps torch's default).

Workers start through the forkserver (digitduel.bench.forkserver: torch and torch._dynamo
imported once, for every worker and every replacement; no inherited OpenMP state), which the
command line starts before it imports torch itself, so the two imports overlap. Each worker
gets the DataContext once, warms up per model on its first job of that model (in the
trainer), and ignores SIGINT and SIGHUP (a terminal sends them to the whole process group):
they reach the parent, which sets the shared cancel Event; trainers see it within one batch.

Faults: a worker that dies while starting (the OOM killer, say: the parent then gets a
BrokenPipeError writing its start-up data) is started again at the next tick, MAX_START_TRIES
times in a row at most; a pool that cannot start any worker is a one-line `WorkerStartError`
(the runner still writes the results file). Workers end when the bench dies, however it dies
(digitduel.bench.lifeline), and the forkserver and resource tracker follow them.
"""

from __future__ import annotations

import queue
import signal
import time
from collections import deque
from collections.abc import Callable

from digitduel.bench.forkserver import context
from digitduel.bench.jobs import (
    DataContext,
    Job,
    JobSink,
    failed_outcome,
    prepare_worker,
    run_job,
)
from digitduel.bench.lifeline import die_with_parent, watch_lifeline
from digitduel.errors import DigitduelError
from digitduel.training.events import Cancel, Event, Note, OnEvent
from digitduel.training.trainer import RunOutcome

POLL_S = 0.2  # how often the parent looks at cancel and at worker liveness
DRAIN_S = 10.0  # after a cancel, how long finished/cancelled results may take to arrive
MAX_START_TRIES = 3  # failed worker starts in a row before the pool gives up

# A unit of work: the jobs one worker runs in one go, each with its index in the pool's jobs
# (the processes executor: one job; the batched executor with --jobs N: a contestant's rounds).
Unit = list[tuple[int, Job]]
Report = Callable[[int, RunOutcome], None]  # a worker's word that the job of this index ended
RunUnit = Callable[[Unit, DataContext, Report, OnEvent, Cancel], None]


class WorkerStartError(DigitduelError):
    """No worker process could be started (MAX_START_TRIES in a row failed)."""


def _worker_entry(lifeline, *args) -> None:
    """A worker's life: tied to the bench's (lifeline), then `_worker_main(*args)`."""
    die_with_parent()  # our parent, the forkserver, dies with the bench
    watch_lifeline(lifeline)  # the bench itself: portable, and the spawn start method
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a hangup cancels through the parent
    _worker_main(*args)


def _worker_main(
    wid: int, ctx: DataContext, inbox, outbox, cancel: Cancel, run_unit: RunUnit, one_thread: bool
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if one_thread:
        _one_torch_thread()
    try:
        prepare_worker(ctx)
        broken = None
    except Exception as err:  # noqa: BLE001 - e.g. a user model file gone: each job says so
        broken = failed_outcome(f"{type(err).__name__}: {err}")

    def on_event(event: Event) -> None:
        outbox.put(("event", wid, event))

    def report(index: int, outcome: RunOutcome) -> None:
        outbox.put(("done", wid, index, outcome))

    while True:
        unit = inbox.get()
        if unit is None:
            break
        if broken is not None:
            for index, _ in unit:
                report(index, broken)
        else:
            run_unit(unit, ctx, report, on_event, cancel)
        outbox.put(("ended", wid))


def _one_torch_thread() -> None:
    import torch

    from digitduel.training.device import set_threads

    set_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already fixed by an earlier parallel call; harmless


def run_each(unit: Unit, ctx: DataContext, report: Report, on_event, cancel: Cancel) -> None:
    """The processes executor's unit of work: its one job (or each job, in turn)."""
    for index, job in unit:
        report(index, run_job(job, ctx, on_event, cancel))


class _Worker:
    def __init__(self, mpctx, wid: int, ctx: DataContext, outbox, cancel, lifeline, how):
        self.wid = wid
        self.inbox = mpctx.Queue()
        self.proc = mpctx.Process(
            target=_worker_entry,
            args=(lifeline, wid, ctx, self.inbox, outbox, cancel, *how),
            name=f"digitduel-worker-{wid}",
            daemon=True,
        )
        try:
            self.proc.start()
        except BaseException:
            self.inbox.close()
            raise
        # The jobs of the unit it holds that have no result yet, by index; None: idle (its
        # last unit "ended"). A unit's jobs all end before the unit does.
        self.current: dict[int, Job] | None = None

    def give(self, unit: Unit) -> None:
        self.current = dict(unit)
        self.inbox.put(unit)

    def stop(self) -> None:
        try:
            self.inbox.put(None)
        except (ValueError, OSError):
            pass


class ProcessExecutor:
    name = "processes"
    threads = 1  # each worker trains with one torch thread

    def __init__(self, workers: int = 2):
        self.workers = max(1, int(workers))
        self.jobs = self.workers

    def run(self, jobs: list[Job], ctx: DataContext, sink: JobSink) -> None:
        run_pool([[job] for job in jobs], ctx, sink, self.workers)


def run_pool(
    units: list[list[Job]],
    ctx: DataContext,
    sink: JobSink,
    workers: int,
    run_unit: RunUnit = run_each,
    one_thread: bool = True,
) -> None:
    """Run `units` (lists of jobs) in a pool of `workers` processes, one unit per worker at a
    time: a worker calls `run_unit(unit, ctx, report, on_event, cancel)`, which reports each
    job's outcome by its index. `run_unit` must be a module-level function (it is pickled by
    name into each worker); `one_thread` gives each worker one torch thread."""
    if not any(units):
        return
    pool = _Pool(context(), ctx, [u for u in units if u], workers, sink, (run_unit, one_thread))
    try:
        pool.serve()
    except BaseException:
        pool.wind_down()  # Ctrl-C (or any error) in the parent: keep what finished
        raise
    finally:
        pool.close()


class _Pool:
    """The workers of one `run_pool`: hands out units, hears results and events, replaces
    dead workers, and records each job once (`done` holds the indexes recorded). Jobs are
    numbered across units; a dead worker's unfinished jobs are "failed" runs."""

    def __init__(self, mpctx, ctx: DataContext, units: list[list[Job]], size: int, sink, how):
        self.mpctx, self.ctx, self.size, self.how = mpctx, ctx, size, how
        self.jobs = [job for unit in units for job in unit]
        self.sink: JobSink = sink
        self.outbox = mpctx.Queue()
        self.stop = mpctx.Event()  # the cancel flag the workers' trainers poll every batch
        # Only this process holds the write end: workers exit when it closes (lifeline.py).
        self.lifeline, self.lifeline_writer = mpctx.Pipe(duplex=False)
        numbered = iter(enumerate(self.jobs))
        self.pending: deque[Unit] = deque([next(numbered) for _ in unit] for unit in units)
        self.workers: dict[int, _Worker] = {}
        self.next_wid = 0
        self.failed_starts = 0  # in a row
        self.last_start_error = ""
        self.done: set[int] = set()

    def spawn(self) -> bool:
        """Start one worker; False (and a warning) if it died while starting."""
        try:
            worker = _Worker(
                self.mpctx,
                self.next_wid,
                self.ctx,
                self.outbox,
                self.stop,
                self.lifeline,
                self.how,
            )
        except Exception as err:  # noqa: BLE001 - BrokenPipeError, EOFError, ...: retried
            self.failed_starts += 1
            self.last_start_error = f"{type(err).__name__}: {err}"
            self.sink.on_event(
                Note(f"a worker process died while starting ({self.last_start_error})", "warning")
            )
            return False
        self.failed_starts = 0
        self.workers[self.next_wid] = worker
        self.next_wid += 1
        return True

    def fill(self) -> None:
        """Start workers for the pending units, up to the pool's size. Once MAX_START_TRIES
        starts in a row have failed, go on with the workers there are, or give up if none."""
        idle = sum(w.current is None for w in self.workers.values())
        for _ in range(min(self.size - len(self.workers), len(self.pending) - idle)):
            if self.failed_starts >= MAX_START_TRIES:
                break
            self.spawn()
        if self.pending and not self.workers and self.failed_starts >= MAX_START_TRIES:
            raise WorkerStartError(
                f"could not start a worker process ({MAX_START_TRIES} tries, the last: "
                f"{self.last_start_error}); the finished runs are kept (continue with --resume)"
            )

    def serve(self) -> None:
        """Run every pending unit (none more once the sink is cancelled); return when all
        ended."""
        self.fill()
        last_reap = time.monotonic()
        while True:
            if self.sink.cancelled() and not self.stop.is_set():
                self.stop.set()
                self.pending.clear()
            for worker in self.workers.values():
                if worker.current is None and self.pending:
                    worker.give(self.pending.popleft())
            if not self.pending and all(w.current is None for w in self.workers.values()):
                return
            self.drain(POLL_S)
            if time.monotonic() - last_reap > POLL_S:
                last_reap = time.monotonic()
                self.reap()
                self.fill()

    def record(self, index: int, outcome) -> None:
        if index not in self.done:
            self.done.add(index)
            self.sink.on_record(self.jobs[index], outcome)

    def drain(self, timeout: float) -> bool:
        """Handle one message from the workers, if one comes within `timeout`."""
        try:
            msg = self.outbox.get(timeout=timeout)
        except queue.Empty:
            return False
        if msg[0] == "event":
            self.sink.on_event(msg[2])
            return True
        worker = self.workers.get(msg[1])
        if msg[0] == "ended":
            if worker is not None:
                worker.current = None
            return True
        _, _, index, outcome = msg
        if worker is not None and worker.current:
            worker.current.pop(index, None)
        self.record(index, outcome)
        return True

    def reap(self) -> None:
        """Forget dead workers; the jobs of its unit it had not finished are "failed" runs."""
        for wid, worker in list(self.workers.items()):
            if worker.proc.is_alive():
                continue
            while self.drain(0.05):  # results it sent just before dying still count
                pass
            message = f"worker process died (exit code {worker.proc.exitcode})"
            for index in worker.current or {}:
                self.record(index, failed_outcome(message))
            del self.workers[wid]

    def wind_down(self) -> None:
        """Stop the workers' runs and wait (up to DRAIN_S) for what they still send."""
        self.stop.set()
        deadline = time.monotonic() + DRAIN_S
        while any(w.current is not None for w in self.workers.values() if w.proc.is_alive()):
            if time.monotonic() > deadline or not self.drain(POLL_S):
                self.reap()
                if time.monotonic() > deadline:
                    break

    def close(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for worker in self.workers.values():
            worker.proc.join(timeout=5)
            if worker.proc.is_alive():
                worker.proc.terminate()
                worker.proc.join(timeout=2)
        self.lifeline_writer.close()  # any worker still there exits on its own now
        self.lifeline.close()
        self.outbox.close()
