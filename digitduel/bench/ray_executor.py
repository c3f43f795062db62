"""The `ray` executor: the bench's jobs as Ray tasks, on this machine or on a Ray cluster.

    no address      a local Ray instance sized to this machine (its usable cores)
    --ray-address   (or Ray's own RAY_ADDRESS) an existing cluster: `ray start --head` on one
                    node, `ray start --address HEAD:6379` on the others; see docs/cluster.md

On CPU, one task per (contestant, round), asking for one CPU and training on one torch
thread, like the processes executor's workers. On CUDA, one task per contestant: its rounds
as one stacked model through the batched trainer, asking for a fraction of a GPU
(`gpus_per_job`, DEFAULT_GPUS_PER_JOB) so that several small contestants share one GPU.

The digits and the user's model files (by content: digitduel.bench.ray_models) go to the
object store once (`ray.put`), and every task draws its round's pairs
from its seeds exactly as `run_job` does locally, so the figures are the processes
executor's. Per-epoch events stream back through a channel actor while tasks run; a cancel
stops tasks not yet started (`ray.cancel`) and running ones within a batch or two (they
poll the channel's stop flag); finished tasks are recorded as they finish. A task whose
worker or node dies is retried once (Ray's `max_retries`, same seeds), then recorded as a
failed run with Ray's reason, and the bench goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayError, RayTaskError, TaskCancelledError

from digitduel.bench.jobs import DataContext, Job, JobSink, failed_outcome
from digitduel.bench.ray_models import model_files
from digitduel.bench.ray_reaper import start_watchdog, sweep_orphans
from digitduel.bench.ray_tasks import Channel, run_group, run_one
from digitduel.errors import DigitduelError
from digitduel.training.device import usable_cores
from digitduel.training.events import Note
from digitduel.training.trainer import RunOutcome

# A contestant's stacked rounds use well under 1 GiB of GPU memory, and training such tiny
# models is bound by kernel launches (CPU side) rather than by the GPU's arithmetic: one
# process leaves the GPU idle between its launches, so four processes per GPU (each with its
# own CPU core) keep it busy. Four: an ordinary GPU node has at least four cores per GPU.
# Not yet measured on a GPU here; `--gpus-per-job 1` gives each contestant a GPU of its own.
DEFAULT_GPUS_PER_JOB = 0.25
POLL_S = 0.2  # how long the driver waits for a finished task before draining events again
CANCEL_GRACE_S = 30.0  # after a cancel, how long running tasks get to notice it
MAX_RETRIES = 1  # a dead worker's task runs once more (same seeds, same result)
CONNECT_TIMEOUT_S = 5.0  # a cluster address that does not answer fails in this long


@dataclass(frozen=True)
class ClusterInfo:
    nodes: int
    cpus: int
    gpus: float
    startup_s: float  # ray.init: starting a local instance, or connecting to a cluster
    address: str | None  # what we connected to; None: a local instance
    reused: bool = False  # this process was connected already (the TUI's previous bench)

    def describe(self) -> str:
        gpus = int(self.gpus) if float(self.gpus).is_integer() else self.gpus
        if self.reused:
            where = "connected before"
        elif self.address is None:
            where = f"a local instance, started {self.startup_s:.1f} s"
        else:
            where = f"at {self.address}, {self.startup_s:.1f} s"
        return (
            f"connected to Ray cluster: {self.nodes} node{'s' * (self.nodes != 1)}, "
            f"{self.cpus} CPUs, {gpus} GPUs ({where})"
        )


def connect(address: str | None = None, debug: bool = False) -> ClusterInfo:
    """Join the cluster at `address` (else RAY_ADDRESS), or start a local instance; quiet
    unless `debug` (no banner, no worker output on the terminal). Reuses a connection this
    process already has (a notebook, a test session, the TUI's previous bench)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    started, reused = time.perf_counter(), ray.is_initialized()
    if not reused:
        common = {
            "log_to_driver": debug,
            "logging_level": logging.INFO if debug else logging.ERROR,
        }
        with _real_std_streams():
            if address is None:
                # A local instance dies with this process, even on kill -9 (ray_reaper).
                sweep_orphans()
                start_watchdog()
                _init_local(num_cpus=usable_cores(), include_dashboard=False, **common)
            else:
                _check_reachable(address)
                try:
                    ray.init(address=address, **common)
                except (ConnectionError, ValueError, RuntimeError) as err:
                    raise DigitduelError(
                        f"cannot connect to the Ray cluster at {address}: {_first_line(err)}"
                    ) from None
    resources = ray.cluster_resources()
    return ClusterInfo(
        nodes=sum(1 for node in ray.nodes() if node.get("Alive")),
        cpus=int(resources.get("CPU", 0)),
        gpus=float(resources.get("GPU", 0)),
        startup_s=time.perf_counter() - started,
        address=address,
        reused=reused,
    )


def _init_local(**options) -> None:
    """Start a local Ray instance from a thread that lasts as long as this process. Ray has the
    kernel kill its GCS server and raylet when the *thread* that started them ends (Linux's
    parent-death signal follows the thread): started from the TUI's bench worker thread, they
    would die with the first bench, and the next bench (or the exit) would wait a minute for
    a GCS that is gone."""
    if threading.current_thread() is threading.main_thread():
        ray.init(address="local", **options)
        return
    started, failed = threading.Event(), []

    def keeper() -> None:
        try:
            ray.init(address="local", **options)
        except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread
            failed.append(err)
        started.set()
        if not failed:
            threading.Event().wait()  # never set: this thread must not end before the process

    threading.Thread(target=keeper, name="digitduel-ray", daemon=True).start()
    started.wait()
    if failed:
        raise failed[0]


_DEVNULL: list[Any] = []  # opened once, never closed: faulthandler keeps its descriptor


@contextmanager
def _real_std_streams():
    """Under Textual (the TUI), sys.stdout and sys.stderr are captures without a file
    descriptor, and ray.init fails ("file.fileno() is not a valid file descriptor":
    faulthandler wants one). While it runs, such a stream is /dev/null: nothing of Ray's
    reaches the screen either way."""
    saved = sys.stdout, sys.stderr
    if not all(_has_descriptor(stream) for stream in saved):
        if not _DEVNULL:
            _DEVNULL.append(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as we do
        sys.stdout, sys.stderr = (s if _has_descriptor(s) else _DEVNULL[0] for s in saved)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _has_descriptor(stream: Any) -> bool:
    try:
        return stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _check_reachable(address: str) -> None:
    """A HOST:PORT that does not answer is one line within seconds (Ray itself retries for
    minutes). Other forms (`auto`, `ray://...`) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise DigitduelError(
            f"cannot connect to the Ray cluster at {address}: {err.strerror or err} "
            "(is `ray start --head` running there?)"
        ) from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


class RayExecutor:
    """Runs the bench's jobs as Ray tasks; see the module docstring."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        device: Any = None,
        gpus_per_job: float | None = None,
        debug: bool = False,
    ):
        self.cluster = connect(address, debug)
        self.gpu = getattr(device, "type", str(device)) == "cuda"
        if self.gpu and not self.cluster.gpus:
            # Tasks asking for a GPU share would wait forever for one.
            raise DigitduelError(
                f"device {device} asked for, but the Ray cluster has no GPU: "
                f"{self.cluster.describe()}"
            )
        self.gpus_per_job = gpus_per_job or DEFAULT_GPUS_PER_JOB
        self.threads = 1
        # How many jobs run at once: a CPU each, or a GPU share each.
        slots = self.cluster.gpus / self.gpus_per_job if self.gpu else self.cluster.cpus
        self.jobs = max(1, int(slots))
        self._announced = False

    def run(self, jobs: list[Job], ctx: DataContext, sink: JobSink) -> None:
        if not self._announced:
            self._announced = True
            sink.on_event(Note(self.cluster.describe()))
        if not jobs:
            return
        # The digits, and the user's model files by content (digitduel.bench.ray_models):
        # in the object store once per bench, whatever the number of tasks.
        files = model_files(job.contestant.model for job in jobs)
        ctx_box = [ray.put(ctx)] + ([ray.put(files)] if files else [])
        channel = Channel.remote()
        tasks = self._submit(jobs, ctx_box, channel)
        try:
            _drive(tasks, channel, sink)
        except BaseException:
            # A second Ctrl-C (or any error here): stop every task now; finished runs are kept.
            for ref in tasks:
                ray.cancel(ref, force=True)
            raise
        finally:
            ray.kill(channel)

    def _submit(self, jobs, ctx_box, channel) -> dict[Any, list[tuple[int, Any]]]:
        """ObjectRef -> the (index, job)s its task runs."""
        if not self.gpu:
            return {
                run_one.options(
                    num_cpus=1,
                    max_retries=MAX_RETRIES,
                    name=f"digitduel {job.key.contestant} r{job.round}",
                ).remote(i, job, ctx_box, channel): [(i, job)]
                for i, job in enumerate(jobs)
            }
        groups: dict[str, list[tuple[int, Any]]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.key.contestant, []).append((i, job))
        return {
            run_group.options(
                num_cpus=1,
                num_gpus=self.gpus_per_job,
                max_retries=MAX_RETRIES,
                name=f"digitduel {label} x{len(group)}",
            ).remote([i for i, _ in group], [job for _, job in group], ctx_box, channel): group
            for label, group in groups.items()
        }


def _drive(tasks: dict, channel, sink: JobSink) -> None:
    """Until every task is done: forward events, record finished tasks, honour a cancel."""
    pending = dict(tasks)
    cancelled_at: float | None = None
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
        # Drained after the wait: a finished task flushed its events before returning.
        for event in ray.get(channel.drain.remote()):
            sink.on_event(event)
        for ref in ready:
            group = pending.pop(ref)
            for (_, job), outcome in zip(group, _outcomes(ref, len(group)), strict=True):
                sink.on_record(job, outcome)
        if cancelled_at is None and sink.cancelled():
            cancelled_at = time.monotonic()
            _stop(pending, channel)
        elif cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_S:
            for ref in pending:  # tasks that did not notice: stop them the hard way
                ray.cancel(ref, force=True)
            cancelled_at = float("inf")


def _stop(pending: dict, channel) -> None:
    """Raise the stop flag running tasks poll, and cancel the tasks that have not started
    (a running task is left to stop itself cleanly, so it reports "cancelled")."""
    ray.get(channel.stop.remote())
    started = ray.get(channel.started.remote())
    for ref, group in pending.items():
        if not any(index in started for index, _ in group):
            ray.cancel(ref)


def _outcomes(ref, n: int) -> list[RunOutcome]:
    """The finished task's outcomes, or what became of it, one per job of the task."""
    try:
        value = ray.get(ref, timeout=60)
    except TaskCancelledError:
        return [RunOutcome(status="cancelled", params=0) for _ in range(n)]
    except RayTaskError as err:  # our task code raised (run_job itself never does)
        cause = err.cause if err.cause is not None else err
        return [failed_outcome(f"{type(cause).__name__}: {cause}") for _ in range(n)]
    except GetTimeoutError:
        return [failed_outcome("Ray never delivered the task's result") for _ in range(n)]
    except RayError as err:  # a worker or node died, twice: Ray has retried it once
        reason = f"Ray task failed after {MAX_RETRIES} retry: {_first_line(err)}"
        return [failed_outcome(reason) for _ in range(n)]
    return value if isinstance(value, list) else [value]


def make_ray_executor(n_jobs, device, n_tasks, settings=None) -> RayExecutor:
    """The registry's factory (digitduel.bench.executors): address and GPU share from the
    bench settings; `DIGITDUEL_DEBUG=1` lets Ray's banner and worker output through."""
    return RayExecutor(
        getattr(settings, "ray_address", None),
        device=device,
        gpus_per_job=getattr(settings, "gpus_per_job", None),
        debug=os.environ.get("DIGITDUEL_DEBUG", "") not in ("", "0"),
    )
