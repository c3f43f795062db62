"""Where the digits come from, in order: a directory the user names, the user cache, a
download into that cache, and the copy embedded in the package (MNIST's real test split and
5,000 of its training digits).

1. `data_dir` or `$DIGITDUEL_DATA`: the four standard IDX files, gzipped or not, directly in
   the directory or in the `MNIST/raw/` layout torchvision leaves behind. Validated
   structurally; `verified` only when the gzipped files match the official MD5s (a subset or an
   unpacked copy is fine to use, but it is not the published MNIST).
2. The cache (`$DIGITDUEL_CACHE/mnist`, default: the platform's user cache directory). Only
   verified downloads are renamed into it, and every file is checked again on use, so a
   damaged cache file is never read.
3. A download into the cache, unless offline (`offline=True` or `$DIGITDUEL_OFFLINE=1`).
4. The embedded copy (`embedded.py`), announced once (`on_note`, else a warning).

`summarize_mnist` tells what `load_mnist` would load (same source, same checks) by counting
the IDX files with numpy, without torch: `digitduel data info` answers in under a second.

Parsed digits are kept in-process, keyed by the files' identity (path, size, mtime), so a bench
that loads the data every round parses 70,000 digits once.
"""

from __future__ import annotations

import errno
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from digitduel.data import download as dl
from digitduel.data.embedded import EMBEDDED_DIR, EMBEDDED_NOTE, embedded_files, load_embedded
from digitduel.data.idx import read_images, read_labels
from digitduel.data.inventory import DataSummary, count_split
from digitduel.errors import DataError

if TYPE_CHECKING:  # digits imports torch; only loading needs it, counting (`data info`) doesn't
    from digitduel.data.digits import DigitSplit, MnistData, Source

Note = Callable[[str], None]
_TRUE = {"1", "true", "yes", "on"}
_SUBDIRS = (".", "MNIST/raw", "raw", "mnist")  # torchvision: root/MNIST/raw/

_lock = threading.Lock()
_parsed: dict[tuple, tuple[DigitSplit, DigitSplit]] = {}
_md5: dict[tuple, str] = {}
_embedded: list[MnistData] = []
_warned_embedded = False


def is_offline(offline: bool | None = None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get("DIGITDUEL_OFFLINE", "").strip().lower() in _TRUE


def cache_root() -> Path:
    env = os.environ.get("DIGITDUEL_CACHE", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("digitduel", appauthor=False))


def cache_dir() -> Path:
    """Where downloads go and where the cache source looks."""
    return cache_root() / "mnist"


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _md5_of(path: Path) -> str:
    key = _identity(path)
    with _lock:
        if key in _md5:
            return _md5[key]
    digest = dl.file_md5(path)
    with _lock:
        _md5[key] = digest
    return digest


def locate_files(directory: Path) -> tuple[Path, dict[str, Path]]:
    """The directory actually holding the files and each role's file (gz preferred).
    Raises DataError naming what is missing."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist")
    best: tuple[int, Path, dict[str, Path], list[str]] | None = None
    for sub in _SUBDIRS:
        d = (directory / sub) if sub != "." else directory
        if not d.is_dir():
            continue
        found, missing = {}, []
        for role, gz_name in dl.FILES.items():
            for cand in (d / gz_name, d / gz_name.removesuffix(".gz")):
                if cand.is_file():
                    found[role] = cand
                    break
                _check_link(cand)
            else:
                missing.append(gz_name)
        if not missing:
            return d, found
        if best is None or len(found) > best[0]:
            best = (len(found), d, found, missing)
    if best is None or best[0] == 0:
        raise DataError(
            f"no MNIST files in {directory} (expected {', '.join(dl.FILES.values())}, "
            "gzipped or not)"
        )
    _, d, _, missing = best
    raise DataError(f"{d} lacks {', '.join(missing)}")


def _check_link(path: Path) -> None:
    """A symbolic link that leads nowhere is named as such, not as a missing file."""
    if not path.is_symlink():
        return
    try:
        path.stat()
    except OSError as err:
        what = "a symbolic link loop" if err.errno == errno.ELOOP else "a broken symbolic link"
        raise DataError(f"{path} is {what} ({err.strerror})") from None


def _all_official(files: dict[str, Path]) -> bool:
    table = dl.checksums()
    return all(
        p.name in table and p.name.endswith(".gz") and _md5_of(p) == table[p.name]
        for p in files.values()
    )


def _parse(files: dict[str, Path]) -> tuple[DigitSplit, DigitSplit]:
    from digitduel.data.digits import make_split

    key = tuple(_identity(files[r]) for r in dl.FILES)
    with _lock:
        if key in _parsed:
            return _parsed[key]
    train = make_split(
        read_images(files["train_images"]),
        read_labels(files["train_labels"]),
        _split_name(files, "train"),
    )
    test = make_split(
        read_images(files["test_images"]),
        read_labels(files["test_labels"]),
        _split_name(files, "test"),
    )
    with _lock:
        _parsed[key] = (train, test)
    return train, test


def load_dir(directory: Path, source: Source = "dir") -> MnistData:
    from digitduel.data.digits import MnistData

    where, files = locate_files(directory)
    train, test = _parse(files)
    return MnistData(train, test, source, str(where), _all_official(files))


def _verified_cache(note: Note) -> dict[str, Path] | None:
    """The cached files if all four are there and match the official MD5s."""
    d = cache_dir()
    files = {role: d / name for role, name in dl.FILES.items()}
    if not all(p.is_file() for p in files.values()):
        return None
    table = dl.checksums()
    bad = [p.name for p in files.values() if _md5_of(p) != table.get(p.name)]
    if bad:
        note(f"ignoring cached {', '.join(bad)} in {d}: checksum mismatch (damaged cache)")
        return None
    return files


def _announce_embedded(on_note: Note | None) -> None:
    global _warned_embedded
    if on_note is not None:
        on_note(EMBEDDED_NOTE)
        return
    with _lock:
        first, _warned_embedded = not _warned_embedded, True
    if first:
        warnings.warn(EMBEDDED_NOTE, UserWarning, stacklevel=3)


def locate_source(
    data_dir: str | os.PathLike | None,
    *,
    offline: bool | None,
    mirrors: Iterable[str] | None,
    note: Note,
    on_progress: dl.OnProgress | None,
) -> tuple[Source, Path, dict[str, Path]]:
    """Which files load_mnist reads (see the module doc): the source, its directory and each
    role's file. Downloads into the cache when nothing is there and not offline."""
    if data_dir is None:
        data_dir = os.environ.get("DIGITDUEL_DATA", "").strip() or None
    if data_dir is not None:
        # The user named the data: use it or say what is wrong with it, never fall back.
        where, files = locate_files(Path(data_dir))
        return "dir", where, files

    files = _verified_cache(note)
    if files is not None:
        return "cache", cache_dir(), files

    if not is_offline(offline):
        try:
            dl.download_mnist(cache_dir(), mirrors=mirrors, on_progress=on_progress)
        except DataError as err:
            note(f"MNIST download failed: {err}")
        else:
            files = _verified_cache(note)
            if files is not None:
                return "download", cache_dir(), files
    return "embedded", EMBEDDED_DIR, {role: EMBEDDED_DIR / name for role, name in dl.FILES.items()}


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    offline: bool | None = None,
    mirrors: Iterable[str] | None = None,
    on_note: Note | None = None,
    on_progress: dl.OnProgress | None = None,
) -> MnistData:
    """Load MNIST from the first source that has it (see the module doc). Raises DataError.

    `on_note` receives the few things a user should know (the embedded fallback, a failed
    download, a damaged cache); without it they become warnings, the fallback one once per
    process. `on_progress` hears a download's bytes (`download_mnist`); nothing is drawn here.
    The returned tensors are shared between calls: treat them as read-only.
    """
    from digitduel.data.digits import MnistData

    note: Note = on_note or (lambda msg: warnings.warn(msg, UserWarning, stacklevel=3))
    source, where, files = locate_source(
        data_dir, offline=offline, mirrors=mirrors, note=note, on_progress=on_progress
    )
    if source != "embedded":
        train, test = _parse(files)
        verified = _all_official(files) if source == "dir" else True  # the cache is verified
        return MnistData(train, test, source, str(where), verified)

    with _lock:
        cached = _embedded[0] if _embedded else None
    if cached is None:
        cached = load_embedded()
        with _lock:
            _embedded[:] = [cached]
    _announce_embedded(on_note)
    return replace(cached)


def summarize_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    offline: bool | None = None,
    mirrors: Iterable[str] | None = None,
    on_note: Note | None = None,
    on_progress: dl.OnProgress | None = None,
) -> DataSummary:
    """What load_mnist would load (same source, same checks, same notes), counted from the
    IDX files with numpy: no tensors, no torch import. For `digitduel data info`."""
    note: Note = on_note or (lambda msg: warnings.warn(msg, UserWarning, stacklevel=3))
    source, where, files = locate_source(
        data_dir, offline=offline, mirrors=mirrors, note=note, on_progress=on_progress
    )
    if source == "embedded":
        embedded_files(where)  # a damaged install fails here as it would when loading
        verified = False  # the test files are official, the 5,000-digit train set is not MNIST's
    else:
        verified = _all_official(files) if source == "dir" else True
    train = count_split(files["train_images"], files["train_labels"], _split_name(files, "train"))
    test = count_split(files["test_images"], files["test_labels"], _split_name(files, "test"))
    if source == "embedded":
        _announce_embedded(on_note)
    return DataSummary(train, test, source, str(where), verified)


def _split_name(files: dict[str, Path], split: str) -> str:
    return f"{files[split + '_images'].name} / {files[split + '_labels'].name}"
