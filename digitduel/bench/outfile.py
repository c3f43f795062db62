"""The results file's place on disk: checked before any training, and held by one bench.

`claim_output(path, resume=, force=)` runs before the data is loaded or a model is built:

- the location must be a file we can create (not a directory, not under a regular file, not
  in a read-only or pseudo file system such as /proc): else one line, exit 2;
- one writer per results file: an exclusive `flock` on `FILE.lock` beside it, held for the
  bench's life; the kernel drops it when the process ends, however it ends (kill -9 too), so
  a stale lock file never blocks anyone. A second bench on the same file is refused with the
  holder's PID, exit 2;
- finished work is never replaced silently: an existing results file or journal is kept
  unless the bench resumes it (`--resume`) or the user says to replace it (`--force`).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from digitduel.errors import ConfigError


def lock_path(results_path: str | Path) -> Path:
    """r.json -> r.json.lock, in the same folder."""
    p = Path(results_path)
    return p.with_name(f"{p.name}.lock")


class OutputLock:
    """An exclusive, advisory lock on a results file, released by `release()` or by the
    kernel when the process dies. Use as a context manager or call `release()`."""

    def __init__(self, results_path: Path, fd: int):
        self.results_path = results_path
        self.path = lock_path(results_path)
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, results_path: str | Path) -> OutputLock:
        results_path = Path(results_path)
        path = lock_path(results_path)
        while True:
            fd = _open_lock_file(path, results_path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = _read_pid(fd)
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise ConfigError(f"cannot lock {path}: {err.strerror}") from None
                who = f"PID {holder}" if holder else "another process"
                raise ConfigError(
                    f"{results_path} is in use by another bench ({who}); wait for it to end "
                    "or choose another --out"
                ) from None
            # The holder before us may have removed the file between our open and our lock:
            # then we locked an orphan inode, and must lock the file now at that name.
            if _same_file(fd, path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(results_path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlink while still holding the lock, so nobody locks a file that is going away
        # without noticing (`_same_file` above).
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _open_lock_file(path: Path, results_path: Path) -> int:
    """The lock file's descriptor; every reason the location is unusable as one line."""
    if results_path.is_dir():
        raise ConfigError(f"--out {results_path} is a directory; name a file such as "
                          f"{results_path / 'results.json'}")  # fmt: skip
    try:
        results_path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        where = err.filename or results_path.parent
        raise ConfigError(
            f"cannot write results to {results_path}: {where}: {err.strerror or err}"
        ) from None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def check_not_replacing(results_path: Path, journal: Path, *, resume: bool, force: bool) -> None:
    """Refuse to start over on top of finished work unless told to (`--force`)."""
    if resume or force:
        return
    existing = [p for p in (results_path, journal) if p.exists()]
    if existing:
        raise ConfigError(
            f"{existing[0]} already exists; continue it with --resume, replace it with "
            "--force, or choose another --out"
        )


def claim_output(
    results_path: str | Path, journal: Path, *, resume: bool, force: bool
) -> OutputLock:
    """Check and lock where a bench writes, before it trains anything (see the module)."""
    lock = OutputLock.acquire(results_path)
    try:
        check_not_replacing(Path(results_path), journal, resume=resume, force=force)
    except BaseException:
        lock.release()
        raise
    return lock
