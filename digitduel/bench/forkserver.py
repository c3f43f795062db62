"""The worker processes' forkserver, started as early as a command can tell it will be used.

Workers start through multiprocessing's forkserver (spawn where there is none). The
forkserver imports torch, torch._dynamo (which the first torch.optim optimizer imports:
1.3-1.9 s here, which every worker would otherwise pay) and the trainer once, ~3 s on this
CPU; the workers it forks start with all of it, and never inherit the parent's OpenMP state.

Those ~3 s are the longest wait before the first run can start. The bench itself finds out
that it needs workers only after it has imported torch and built its plan (another ~2.5 s),
so `start_early` lets a command start the forkserver from its parsed options, before it
imports torch: the two imports then run side by side on two cores, not one after the other
(measured, with the faster exit of cli.main: a 4-round, 5-epoch processes bench took 5.3 s
instead of 7.3 s, as a whole process). A guess that turns out wrong
(the plan resolves to the serial executor) costs a forkserver that imports torch in the
background and ends with the command.

This module imports nothing heavy: the CLI calls it before torch is loaded.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path

from digitduel.bench.lifeline import FORKSERVER_GUARD
from digitduel.cores import usable_cores

# What the forkserver imports once for every worker (torch brings torch.optim).
PRELOAD = ["torch", "torch._dynamo", "digitduel.training.trainer", "digitduel.models"]

# Character devices an NVIDIA driver creates: "auto" may mean CUDA where one exists.
NVIDIA_DEVICE = Path("/dev/nvidiactl")


def context():
    """The multiprocessing context workers start from: the forkserver with its preloads."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(preload())
        return ctx
    return mp.get_context("spawn")


def preload() -> list[str]:
    """The forkserver's imports. Started from the main thread, it first arms PR_SET_PDEATHSIG
    (lifeline.FORKSERVER_GUARD) so it dies with the bench; not from another thread (the TUI
    runs benches in worker threads), since the signal fires when that *thread* ends, which
    would take the forkserver down under a later bench; the workers' lifelines cover it."""
    on_main = threading.current_thread() is threading.main_thread()
    return [FORKSERVER_GUARD, *PRELOAD] if on_main else list(PRELOAD)


def start_server() -> None:
    """Start the forkserver now, in the background (it does its imports while the caller goes
    on); the pool's first fork waits for it. Idempotent; a no-op where there is no forkserver."""
    if context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def batched_pool(executor: str | None, jobs: int | None) -> bool:
    """Whether `--executor batched` runs its stacks in a pool of worker processes: with
    --jobs above 1 (executors.BatchedPoolExecutor); else in the bench's own process."""
    return executor == "batched" and jobs is not None and jobs > 1


def likely_processes(executor: str | None, device: str | None, jobs: int | None) -> bool:
    """Whether a bench with these options (None: not given) will most likely start worker
    processes, judged without torch: the processes executor, which "auto" picks on a CPU
    with several cores (executors.auto_choice; a device left to "auto" is a GPU where
    NVIDIA's driver is), or the batched one with --jobs above 1, on any device."""
    if executor == "batched":
        return batched_pool(executor, jobs)
    if executor not in (None, "auto", "processes") or jobs == 1:
        return False
    if device not in (None, "auto", "cpu") or (device != "cpu" and NVIDIA_DEVICE.exists()):
        return False
    return executor == "processes" or usable_cores() > 1


def start_early(executor: str | None, device: str | None, jobs: int | None) -> bool:
    """Start the forkserver now if the options point to worker processes (see the module's
    docstring); True if it was started."""
    if not likely_processes(executor, device, jobs):
        return False
    start_server()
    return True
