"""The `processes` executor: a pool of worker processes, one torch thread each.

Tiny models do not scale over threads (a 9 ms step spends much of its time in per-op
overheads), but independent runs scale over processes: on 2 cores, two one-thread workers
finish about twice the runs of one two-thread loop.

Why a hand-written pool rather than concurrent.futures: a worker that dies (segfault, OOM
kill) breaks a ProcessPoolExecutor and fails every pending future. Here each worker has its
own inbox, so the parent always knows which job a dead worker held: that job is recorded as
"failed", a fresh worker replaces it, and the other jobs go on.

Workers start through the forkserver (spawn where there is none), which imports torch and
torch._dynamo once (the first torch.optim optimizer imports _dynamo: 1.3-1.9 s per process
here, which every worker and every replacement would otherwise pay); they never inherit the
parent's OpenMP state. `start_server()` starts the forkserver early, so its imports overlap
the parent's data loading. Each worker gets the DataContext once, warms up per model on its
first job of that model (in the trainer), and ignores SIGINT: Ctrl-C reaches the parent,
which sets the shared cancel Event; trainers see it within one batch.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import time
from collections import deque
from typing import Any

from digitduel.bench.executors import DataContext, Job, failed_outcome, run_job

POLL_S = 0.2  # how often the parent looks at cancel and at worker liveness
DRAIN_S = 10.0  # after a cancel, how long finished/cancelled results may take to arrive


PRELOAD = ["torch", "torch._dynamo", "digitduel.training.trainer"]  # torch brings torch.optim


def _context():
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


def start_server() -> None:
    """Start the forkserver now, in the background (it does its imports while the caller goes
    on); the pool's first fork waits for it. Idempotent; a no-op where there is no forkserver."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _worker_main(wid: int, ctx: DataContext, inbox, outbox, cancel) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import importlib

    import torch

    from digitduel.training.device import set_threads

    set_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already fixed by an earlier parallel call; harmless
    for module in ctx.model_modules:
        importlib.import_module(module)

    def on_event(event: Any) -> None:
        outbox.put(("event", wid, event))

    while True:
        item = inbox.get()
        if item is None:
            break
        index, job = item
        outcome = run_job(job, ctx, on_event, cancel)
        outbox.put(("done", wid, index, outcome))


class _Worker:
    def __init__(self, mpctx, wid: int, ctx: DataContext, outbox, cancel):
        self.wid = wid
        self.inbox = mpctx.Queue()
        self.proc = mpctx.Process(
            target=_worker_main,
            args=(wid, ctx, self.inbox, outbox, cancel),
            name=f"digitduel-worker-{wid}",
            daemon=True,
        )
        self.proc.start()
        self.current: tuple[int, Job] | None = None

    def give(self, index: int, job: Job) -> None:
        self.current = (index, job)
        self.inbox.put((index, job))

    def stop(self) -> None:
        try:
            self.inbox.put(None)
        except (ValueError, OSError):
            pass


class ProcessExecutor:
    name = "processes"

    def __init__(self, workers: int = 2):
        self.workers = max(1, int(workers))
        self.jobs = self.workers

    def run(self, jobs, ctx, *, on_record, on_event, cancel) -> None:
        if not jobs:
            return
        mpctx = _context()
        outbox = mpctx.Queue()
        stop = mpctx.Event()  # the cancel flag the workers' trainers poll every batch
        pending: deque[tuple[int, Job]] = deque(enumerate(jobs))
        pool: dict[int, _Worker] = {}
        next_wid = 0
        done: set[int] = set()

        def spawn() -> None:
            nonlocal next_wid
            pool[next_wid] = _Worker(mpctx, next_wid, ctx, outbox, stop)
            next_wid += 1

        def handle(msg) -> None:
            if msg[0] == "event":
                on_event(msg[2])
                return
            _, wid, index, outcome = msg
            worker = pool.get(wid)
            if worker is not None and worker.current and worker.current[0] == index:
                worker.current = None
            if index not in done:
                done.add(index)
                on_record(jobs[index], outcome)

        def drain(timeout: float) -> bool:
            try:
                handle(outbox.get(timeout=timeout))
                return True
            except queue.Empty:
                return False

        def reap() -> None:
            for wid, worker in list(pool.items()):
                if worker.proc.is_alive():
                    continue
                while drain(0.05):  # results it sent just before dying still count
                    pass
                if worker.current is not None:
                    index, job = worker.current
                    if index not in done:
                        done.add(index)
                        code = worker.proc.exitcode
                        on_record(job, failed_outcome(f"worker process died (exit code {code})"))
                del pool[wid]

        for _ in range(min(self.workers, len(jobs))):
            spawn()
        last_reap = time.monotonic()
        try:
            while True:
                if cancel is not None and cancel.is_set() and not stop.is_set():
                    stop.set()
                    pending.clear()
                for worker in pool.values():
                    if worker.current is None and pending:
                        worker.give(*pending.popleft())
                busy = [w for w in pool.values() if w.current is not None]
                if not busy and not pending:
                    break
                drain(POLL_S)
                if time.monotonic() - last_reap > POLL_S:
                    last_reap = time.monotonic()
                    reap()
                    while pending and len(pool) < self.workers:
                        spawn()
        except BaseException:
            # Ctrl-C (or any error) in the parent: stop the workers, keep what finished.
            stop.set()
            deadline = time.monotonic() + DRAIN_S
            while any(w.current for w in pool.values() if w.proc.is_alive()):
                if time.monotonic() > deadline or not drain(POLL_S):
                    reap()
                    if time.monotonic() > deadline:
                        break
            raise
        finally:
            for worker in pool.values():
                worker.stop()
            for worker in pool.values():
                worker.proc.join(timeout=5)
                if worker.proc.is_alive():
                    worker.proc.terminate()
                    worker.proc.join(timeout=2)
            outbox.close()
