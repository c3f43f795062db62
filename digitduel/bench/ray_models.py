"""The user's model files on Ray workers, shipped by content: a cluster node needs digitduel
installed, not the user's files.

The driver reads every user model file the bench's contestants come from (checked against the
SHA-256 recorded when it was loaded), and the bytes go to the object store once, beside the
digits. A worker writes them to a private temporary folder and loads each copy as the file
itself (`load_source(..., read_from=copy)`: the module name derives from the driver's path,
as in every local worker), so anything pickled on the driver resolves there.

Why by content rather than Ray's `runtime_env` (`py_modules`/`working_dir`): a runtime_env
gives each distinct environment its own fresh worker processes (no reuse of a warm worker's
digits and torch between benches, seconds per worker), uploads whole folders, and would import
a file under its own stem, not the module name the driver's pickles name. A model file is a
few kB: one object in the store is the cheapest way there, and the digest makes sure a worker
trains exactly the code the results describe.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from digitduel.errors import ConfigError
from digitduel.models.registry import get_spec
from digitduel.models.user import ModelSource, load_source


@dataclass(frozen=True)
class ModelFiles:
    """What a worker needs to load the contestants' user model files without them."""

    sources: tuple[tuple[ModelSource, str], ...] = ()  # (how the driver loaded it, SHA-256)
    contents: dict[str, bytes] = field(default_factory=dict)  # SHA-256 -> the file's bytes

    def __bool__(self) -> bool:
        return bool(self.sources)


def model_files(model_names: Iterable[str]) -> ModelFiles:
    """The user model files these models come from, read now on the driver. A file edited
    since it was loaded is refused (exit 2): the results would describe code no worker ran."""
    sources: dict[tuple, tuple[ModelSource, str]] = {}
    contents: dict[str, bytes] = {}
    for name in dict.fromkeys(model_names):
        origin = get_spec(name).origin
        if origin is None or origin.kind != "file" or origin.source is None:
            continue  # built-ins, installed modules and entry points: on every node already
        for path, digest in origin.files:
            if digest not in contents:
                contents[digest] = _read_checked(path, digest)
            source = origin.source
            sources[(source.target, source.attr, source.name)] = (source, digest)
    return ModelFiles(tuple(sources.values()), contents)


def _read_checked(path: str, digest: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})", code=2) from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise ConfigError(f"{path} changed since it was loaded; load it again", code=2)
    return data


# --- worker side ----------------------------------------------------------------------------

_loaded: set[tuple] = set()  # (target, attr, name, digest): loaded in this worker process
_folder: list[Path] = []  # this worker's private folder for the copies, made on first use


def load_model_files(files: ModelFiles) -> None:
    """In a Ray worker: write each shipped file to this worker's private folder and load it
    there as the driver's file (same module name, same registered models)."""
    for source, digest in files.sources:
        key = (source.target, source.attr, source.name, digest)
        if key in _loaded:
            continue
        data = files.contents[digest]
        if hashlib.sha256(data).hexdigest() != digest:  # never train other code than recorded
            raise ConfigError(f"{source.target}: the shipped copy does not match its SHA-256")
        copy = _private_folder() / digest[:16] / Path(source.target).name
        if not copy.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(data)
        load_source(source, read_from=copy)
        _loaded.add(key)


def _private_folder() -> Path:
    if not _folder:
        _folder.append(Path(tempfile.mkdtemp(prefix="digitduel-models-")))
        atexit.register(shutil.rmtree, _folder[0], ignore_errors=True)
    return _folder[0]
