"""The worker side of the `ray` executor: the remote tasks and the channel they report through.

Imported only where Ray is installed (by digitduel.bench.ray_executor, and by Ray workers
unpickling the tasks). A task trains through the same `run_job` (or the batched bridge) as
the local executors, so a (contestant, round) gives the same figures wherever it runs.

The channel is one small actor per bench, on no CPU: tasks append their events to it (each
caller's calls run in order, and a task waits for its last one before it returns, so the
driver, which drains the channel before recording a finished task, hears a run's epochs
before its end); the driver sets its stop flag, which every running task polls from a
background thread, so a cancel lands within a batch or two, not an actor call per batch.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import ray

from digitduel.bench.jobs import DataContext, JobSink, failed_outcome, prepare_worker, run_job
from digitduel.bench.ray_models import load_model_files
from digitduel.training.trainer import RunOutcome

CANCEL_POLL_S = 0.5  # how often a running task asks the channel whether to stop


@ray.remote(num_cpus=0)
class Channel:
    """Events on their way to the driver, the stop flag, and which jobs have started."""

    def __init__(self) -> None:
        self._events: list[Any] = []
        self._stop = False
        self._started: set[int] = set()

    def put(self, event: Any) -> None:
        self._events.append(event)

    def drain(self) -> list[Any]:
        events, self._events = self._events, []
        return events

    def stop(self) -> None:
        self._stop = True

    def stopped(self) -> bool:
        return self._stop

    def start(self, index: int) -> None:
        self._started.add(index)

    def started(self) -> set[int]:
        return set(self._started)


class _Sender:
    """`on_event` for a task: fire-and-forget puts, then `flush()` before the task returns."""

    def __init__(self, channel) -> None:
        self.channel = channel
        self.last = None

    def __call__(self, event: Any) -> None:
        self.last = self.channel.put.remote(event)

    def flush(self) -> None:
        if self.last is not None:
            ray.get(self.last)


class _ChannelCancel:
    """The `cancel` a trainer polls every batch: a local flag a daemon thread raises when the
    channel says stop (an actor call per batch would cost more than the batch)."""

    def __init__(self, channel) -> None:
        self.channel = channel
        self._set = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True, name="digitduel-cancel")
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.wait(CANCEL_POLL_S):
            try:
                if ray.get(self.channel.stopped.remote()):
                    self._set.set()
                    return
            except ray.exceptions.RayError:
                return  # the driver is gone: nobody is left to record the run anyway

    def is_set(self) -> bool:
        return self._set.is_set()

    def close(self) -> None:
        self._done.set()


# Per worker process: the bench's digits, fetched from the object store once and reused by
# every task this worker runs (with its drawn pairs and warmed-up models).
_CONTEXTS: dict[str, DataContext] = {}


def _context(ctx_box: list, granted_gpu: bool = False) -> DataContext:
    """The bench's DataContext in this worker, its user model files loaded. `ctx_box` holds
    the ObjectRefs of the context (and of the `ModelFiles`, if any) in a list, so Ray passes
    the references rather than a fresh copy per task. In a task Ray granted a GPU, that GPU is
    the only one visible: it is "cuda" here, whatever the driver's index was."""
    key = ctx_box[0].hex()
    if key not in _CONTEXTS:
        _CONTEXTS.clear()  # one bench at a time per worker: drop the last bench's digits
        if len(ctx_box) > 1:  # before the imports: a user file's module is loaded from a copy
            load_model_files(ray.get(ctx_box[1]))
        ctx = ray.get(ctx_box[0])
        for name in ("train_images", "train_labels", "test_images", "test_labels"):
            # Object-store arrays are read-only; torch wants writable ones (and warns).
            setattr(ctx, name, np.array(getattr(ctx, name)))
        if granted_gpu and ctx.device.startswith("cuda"):
            ctx.device = "cuda"
        # Modules and installed entry points as in any worker (installed on every node, like
        # digitduel); user files from the shipped copies loaded above, never from the
        # driver's paths, which a remote node does not have.
        prepare_worker(replace(ctx, model_origins=_not_files(ctx.model_origins)))
        _CONTEXTS[key] = ctx
    return _CONTEXTS[key]


def _not_files(origins: tuple) -> tuple:
    return tuple(o for o in origins if o is not None and o.kind != "file")


def _one_thread() -> None:
    """One torch thread, as the processes executor's workers: same figures, no oversubscription."""
    import torch

    from digitduel.training.device import set_threads

    set_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already fixed by an earlier task in this worker; harmless


def _stamp(outcome: RunOutcome) -> RunOutcome:
    """Where it ran: the machine, and Ray's node id (several nodes may share one machine)."""
    outcome.host = socket.gethostname()
    outcome.node = ray.get_runtime_context().get_node_id()
    return outcome


@ray.remote
def run_one(index: int, job, ctx_box: list, channel) -> RunOutcome:
    """One (contestant, round) on one CPU."""
    channel.start.remote(index)
    _one_thread()
    send, cancel = _Sender(channel), _ChannelCancel(channel)
    try:
        outcome = run_job(job, _context(ctx_box), send, cancel)
    finally:
        cancel.close()
        send.flush()
    return _stamp(outcome)


@ray.remote
def run_group(indices: list[int], jobs: list, ctx_box: list, channel) -> list[RunOutcome]:
    """A contestant's rounds on (a share of) one GPU, as one stacked model where the batched
    trainer can; rounds it cannot batch run one after another on the same GPU."""
    from digitduel.bench.batched_bridge import run_batched

    for index in indices:
        channel.start.remote(index)
    _one_thread()
    ctx = _context(ctx_box, granted_gpu=True)
    send, cancel = _Sender(channel), _ChannelCancel(channel)
    outcomes: dict[int, RunOutcome] = {}
    by_job = {id(job): i for i, job in enumerate(jobs)}

    def record(job, outcome: RunOutcome) -> None:
        outcomes[by_job[id(job)]] = outcome

    try:
        leftovers = run_batched(jobs, ctx, JobSink(record, send, cancel))
        for job in leftovers:
            if cancel.is_set():
                outcomes[by_job[id(job)]] = RunOutcome(status="cancelled", params=0)
            else:
                outcomes[by_job[id(job)]] = run_job(job, ctx, send, cancel)
    finally:
        cancel.close()
        send.flush()
    return [_stamp(outcomes.get(i) or _no_outcome(cancel)) for i in range(len(jobs))]


def _no_outcome(cancel) -> RunOutcome:
    """A round the batched bridge skipped: it stops between groups once cancelled."""
    if cancel.is_set():
        return RunOutcome(status="cancelled", params=0)
    return failed_outcome("the batched trainer returned no outcome for this round")
