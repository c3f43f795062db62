"""What a killed driver's local Ray instance leaves behind is killed (digitduel.bench.ray_reaper),
shown here with plain processes standing in for Ray's (tests/test_ray.py does it with Ray)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from digitduel.bench.ray_reaper import MARK, marked, sweep_orphans

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="Linux only (/proc)")


def _gone(process: subprocess.Popen, within: float) -> bool:
    deadline = time.monotonic() + within
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return process.poll() is not None


def test_the_watchdog_kills_what_a_kill_9_driver_started():
    # A driver that starts its watchdog, then a long "Ray" process, and prints its pid.
    driver_code = (
        "import subprocess, sys, time\n"
        "from digitduel.bench.ray_reaper import start_watchdog\n"
        "start_watchdog()\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    driver = subprocess.Popen([sys.executable, "-c", driver_code], stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    child_pid = int(driver.stdout.readline())
    assert marked(driver.pid) == {child_pid: driver.pid}
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child_pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{child_pid}") or _zombie(child_pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_next_start_sweeps_orphans_of_dead_drivers_only():
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = subprocess.Popen(["sleep", "300"], env={**os.environ, MARK: str(dead.pid)})
    kept = subprocess.Popen(["sleep", "300"], env={**os.environ, MARK: str(os.getpid())})
    try:
        sweep_orphans()
        assert _gone(orphan, within=5)
        assert kept.poll() is None  # its driver (this process) lives
    finally:
        for process in (orphan, kept):
            process.kill()
            process.wait()
