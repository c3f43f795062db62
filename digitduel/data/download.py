"""Fetching the four MNIST files from public mirrors, each checked against its published MD5.

A file is streamed into a temporary file beside its destination and renamed into place only
once its checksum matches, so an interrupted or corrupt download never looks like data. A
mirror that cannot be reached is not asked again for the other files, and the connect timeout
is short: with no network, falling back to the embedded digits takes seconds.

Nothing here draws: progress goes to an `on_progress(file name, bytes so far, total bytes or
None)` callback, notes to `on_note`, and the caller (the CLI) decides how to show them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from digitduel.errors import DataError

# The four standard files, by role.
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# MD5 of each gzipped file as published (the same table torchvision uses). Tests replace this
# table with the checksums of the files they serve; read it at call time, never as a default.
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

# In the order tried: the two mirrors torchvision relies on, then the original site.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# Seconds a socket may wait (connect, then each read). Short: a black-holed network must not
# hold the user for minutes before the embedded fallback.
TIMEOUT_S = 5.0
_CHUNK = 1 << 16

Note = Callable[[str], None]
OnProgress = Callable[[str, int, int | None], None]  # file name, bytes so far, total (if known)


def checksums() -> Mapping[str, str]:
    return OFFICIAL_MD5


def file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def mirrors_from_env(mirrors: Iterable[str] | None = None) -> list[str]:
    """The mirror list: the argument, else $DIGITDUEL_MIRRORS (comma-separated), else the
    public ones. Each URL gets a trailing slash so a file name can be appended."""
    if mirrors is None:
        env = os.environ.get("DIGITDUEL_MIRRORS", "").strip()
        mirrors = env.split(",") if env else DEFAULT_MIRRORS
    out = [m.strip() for m in mirrors if m and m.strip()]
    if not out:
        raise DataError("the mirror list is empty")
    return [m if m.endswith("/") else m + "/" for m in out]


class _Unreachable(Exception):
    """The mirror did not answer at all (as opposed to answering with an error)."""


def _fetch(url: str, dest: Path, expected_md5: str | None, on_progress: OnProgress) -> str:
    """Stream `url` into a temp file beside `dest`; rename on a checksum match. Returns the
    MD5. Raises _Unreachable for connection failures, DataError for anything else."""
    try:
        resp = urllib.request.urlopen(url, timeout=TIMEOUT_S)  # noqa: S310 (http/https/file)
    except urllib.error.HTTPError as err:
        raise DataError(f"HTTP {err.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise _Unreachable(str(reason)) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    h = hashlib.md5(usedforsecurity=False)
    try:
        with resp, os.fdopen(fd, "wb") as out:
            length = resp.headers.get("Content-Length")
            total = int(length) if length else None
            done = 0
            on_progress(dest.name, done, total)
            while True:
                try:
                    block = resp.read(_CHUNK)
                except (OSError, ValueError) as err:
                    raise DataError(f"download interrupted ({err})") from None
                if not block:
                    break
                h.update(block)
                out.write(block)
                done += len(block)
                on_progress(dest.name, done, total)
        got = h.hexdigest()
        if expected_md5 is not None and got != expected_md5:
            raise DataError(f"checksum mismatch (MD5 {got}, expected {expected_md5})")
        os.replace(tmp, dest)
        return got
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_mnist(
    dest: Path,
    *,
    mirrors: Iterable[str] | None = None,
    on_progress: OnProgress | None = None,
    on_note: Note | None = None,
    force: bool = False,
) -> list[Path]:
    """Put the four verified MNIST files into `dest`, trying the mirrors in turn for each.

    Files already there with the right checksum are kept (unless `force`); a file there with
    the wrong checksum is replaced. Raises DataError naming what failed on every mirror.
    `on_progress` hears each file's bytes as they arrive, `on_note` each mirror that failed."""
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create {dest} ({err.strerror or err})") from None
    table = checksums()
    urls = mirrors_from_env(mirrors)
    note = on_note or (lambda _msg: None)
    progress = on_progress or (lambda _name, _done, _total: None)
    todo = []
    for name in FILES.values():
        target = dest / name
        if not force and target.is_file() and file_md5(target) == table.get(name):
            continue
        todo.append(name)
    if not todo:
        return [dest / n for n in FILES.values()]
    dead: set[str] = set()  # mirrors that did not answer: don't wait on them again
    for name in todo:
        failures = []
        for base in urls:
            if base in dead:
                continue
            try:
                _fetch(base + name, dest / name, table.get(name), progress)
                break
            except _Unreachable as err:
                dead.add(base)
                failures.append(f"{base}: unreachable ({err})")
            except DataError as err:
                failures.append(f"{base}: {err}")
            note(f"{name}: {failures[-1]}")
        else:
            detail = "; ".join(failures) if failures else "every mirror was unreachable"
            raise DataError(f"could not download {name}: {detail}")
    return [dest / n for n in FILES.values()]
