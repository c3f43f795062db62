"""A local Ray instance dies with the digitduel process that started it, even on kill -9.

Ray ties its GCS server and raylet to the driver (the kernel kills them when it dies), but not
the agents and workers the raylet started: after a `kill -9` of the driver they linger for
minutes, retrying a GCS that is gone. So the driver marks every process of its local instance
(an environment variable naming the driver's pid, inherited by all Ray starts) and starts this
file as a tiny watchdog (plain Python, stdlib only, no digitduel import) that waits for the
driver's end (its stdin, a pipe only the driver holds, reaches EOF however it ends) and then
kills every process still marked with the driver's pid. The next local start also sweeps away
what a dead driver left behind, should its watchdog have been killed too.

Linux only (/proc); elsewhere both do nothing, and Ray's own clean-up applies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

MARK = "DIGITDUEL_RAY_DRIVER"  # in the environment of every process of a local instance
SWEEP_S = 10.0  # after the driver's end: kill marked processes for at most this long,
QUIET_SWEEPS = 3  # until this many sweeps in a row (0.5 s apart) found none (late spawns)


def marked(owner: int | None = None) -> dict[int, int]:
    """pid -> owning driver pid, for the marked processes (of `owner` only, if given)."""
    found: dict[int, int] = {}
    prefix = f"{MARK}=".encode()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as env:
                values = [v for v in env.read().split(b"\0") if v.startswith(prefix)]
        except OSError:  # gone, or another user's process
            continue
        if values and values[0][len(prefix) :].isdigit():
            driver = int(values[0][len(prefix) :])
            if owner is None or driver == owner:
                found[int(entry)] = driver
    return found


def kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass  # already gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans() -> None:
    """Kill what local instances of drivers that are gone left behind (their watchdog too was
    killed, say); a living driver's instance is left alone."""
    kill(pid for pid, driver in marked().items() if driver != pid and not _alive(driver))


def start_watchdog() -> None:
    """Mark this process's future Ray processes, and start the watchdog that kills them when
    this process ends. Call just before starting a local Ray instance."""
    if not os.path.isdir("/proc"):
        return
    if os.environ.get(MARK) == str(os.getpid()):
        return  # this process has one already (a second bench in the TUI)
    env = {k: v for k, v in os.environ.items() if k != MARK}  # the watchdog: not a victim
    watchdog = subprocess.Popen(
        [sys.executable, "-S", os.path.abspath(__file__), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # a Ctrl-C at the terminal is for the driver only
    )
    _WATCHDOGS.append(watchdog)  # keep the pipe open for as long as this process lives
    os.environ[MARK] = str(os.getpid())


_WATCHDOGS: list[subprocess.Popen] = []


def _watch(driver: int) -> None:
    sys.stdin.buffer.read()  # returns at EOF: the driver has ended, however it ended
    deadline, quiet = time.monotonic() + SWEEP_S, 0
    while time.monotonic() < deadline and quiet < QUIET_SWEEPS:
        victims = marked(driver)
        kill(victims)
        quiet = 0 if victims else quiet + 1
        time.sleep(0.5)


if __name__ == "__main__":
    _watch(int(sys.argv[1]))
