"""A bench's signals: Ctrl-C, SIGTERM and SIGHUP stop it gracefully, unless the user ignored them.

A first signal only sets the cancel flag the executor polls, so the run in flight stops at
its next batch and the results file is written ("cancelled", exit 130) instead of the worker
processes being orphaned; a second raises KeyboardInterrupt as usual, for a user who really
wants out now. SIGTERM comes from `kill`, `timeout` or a batch scheduler, SIGHUP from a
dropped SSH session.

A signal whose disposition is SIG_IGN when the bench starts is left ignored: the user chose
that (`nohup` ignores SIGHUP; a shell without job control starts `cmd &` with SIGINT ignored),
and a bench started that way must survive the logout or the script's Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from digitduel.training.events import Cancel

CANCEL_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class CancelOnSignal:
    """The cancel flag the executor polls: the caller's `cancel`, or a first signal.

    Handlers are installed (on the main thread only: Python allows no other) for the entry's
    CANCEL_SIGNALS that are not ignored, and the previous handlers restored on exit."""

    def __init__(self, cancel: Cancel | None):
        self.cancel = cancel
        self.pressed = threading.Event()
        self._previous: dict[int, Any] = {}

    def is_set(self) -> bool:
        return self.pressed.is_set() or (self.cancel is not None and self.cancel.is_set())

    def _on_signal(self, signum, frame) -> None:
        if self.pressed.is_set():
            raise KeyboardInterrupt
        self.pressed.set()

    def __enter__(self) -> CancelOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in CANCEL_SIGNALS:
                if signal.getsignal(sig) == signal.SIG_IGN:
                    continue  # nohup, or `cmd &` in a script: the user wants it ignored
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
