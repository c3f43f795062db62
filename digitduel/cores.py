"""How many CPU cores this process may use: one function, torch-free, so the command line can
ask it before it imports torch (digitduel.bench.forkserver) as the executors do."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPU cores this process may run on (respects taskset/cgroup affinity where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
