"""Worker processes end when the bench that started them dies, however it dies.

A bench killed with `kill -9` (or by the OOM killer) runs no clean-up, and its processes
executor's workers would go on: each blocks on its inbox or trains its job to the end, holding
~300 MB, and keeps the forkserver and multiprocessing's resource tracker alive with it (both
exit only once every holder of their pipes has gone). Two ways, so that either suffices:

- a lifeline (portable): the bench holds the only write end of a pipe; each worker watches the
  read end in a thread and exits when it reads end-of-file, which the kernel delivers as soon
  as the bench is gone, whatever killed it;
- `PR_SET_PDEATHSIG` (Linux): the kernel sends SIGKILL to a process when its parent dies. The
  workers' parent is the forkserver, whose parent is the bench: the forkserver arms it by
  importing this module first among its preloads (the `FORKSERVER_GUARD` below), the workers
  arm it at start-up, so the bench's death takes down the forkserver, then the workers.

With workers and forkserver gone, the resource tracker reads end-of-file and exits too.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHANED_EXIT = 1  # a worker whose bench is gone; nobody is left to read the code
FORKSERVER_GUARD = __name__  # put first in the forkserver's preloads: see the module's end


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; False
    elsewhere). The "parent" is the *thread* that started this process: start a process that
    calls this only from a thread that lives as long as the process should. A parent that
    died before the call goes unnoticed here: the lifeline (and the forkserver's own "alive"
    pipe) covers that moment."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_lifeline(reader) -> None:
    """Exit this process when `reader` (the read end of the bench's lifeline pipe, a
    multiprocessing Connection) reaches end-of-file, i.e. when the bench holding the only
    write end has closed it or died. Watched from a daemon thread: no effect on the work."""

    def wait_then_exit() -> None:
        try:
            reader.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(ORPHANED_EXIT)

    threading.Thread(target=wait_then_exit, name="digitduel-lifeline", daemon=True).start()


def _is_forkserver() -> bool:
    """True in multiprocessing's forkserver process (started as `python -c 'from
    multiprocessing.forkserver import main; ...'`), which imports its preloads at start."""
    try:
        cmdline = Path("/proc/self/cmdline").read_bytes()
    except OSError:
        return False
    return b"from multiprocessing.forkserver import main" in cmdline


# Imported as a preload of the forkserver (and only there does importing this module do
# anything): the forkserver dies with the bench, and with it, through their own
# PR_SET_PDEATHSIG, the workers it forked.
if _is_forkserver():
    die_with_parent()
