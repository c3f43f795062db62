"""Bring your own model: user architectures in the one registry, beside the built-ins.

Ways in (each ends in `ModelSpec`s with an `origin`, checked by a dry run on load):
  - a plain Python file, `load_source("my_nets.py")`: imported under a module name derived
    from its absolute path and kept in `sys.modules`, so its classes pickle by reference in
    any process that loads the same file (no package, no `__main__` guard needed);
  - an importable module, `load_source("labnets.models:Net")` (uvicorn's `module:attr`);
  - installed distributions declaring the entry-point group `digitduel.models`
    (`load_entry_points()`), so a lab can `pip install` its collection;
  - `path.py:Name` / `module:Name` naming a plain `nn.Module` class or factory without
    decorator: registered under `name=` or the kebab-case of its name (`SiameseNet` ->
    `siamese-net`).
Inside those files `from digitduel import register` is this module's `register`: the built-in
decorator's options, with the name, report, description and recipe optional.

Every problem is a `ConfigError` (exit 2) whose one line names the file (and line).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from digitduel.errors import ConfigError, DigitduelError
from digitduel.models.registry import ModelSpec, get_spec, list_specs, remove_spec
from digitduel.models.user_register import (
    LOADING,
    Loading,
    ModelOrigin,
    ModelSource,
    admit,
    candidate,
    file_sha256,
    kebab_case,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_MODEL_FILES",
    "ModelOrigin",
    "ModelSource",
    "file_sha256",
    "forget_user_models",
    "kebab_case",
    "load_entry_points",
    "load_origins",
    "load_source",
    "load_user_models",
    "parse_source",
    "model_file_flags",
    "model_names",
    "register",
    "sources_from_env",
    "user_specs",
]

ENTRY_POINT_GROUP = "digitduel.models"
ENV_MODEL_FILES = "DIGITDUEL_MODEL_FILES"  # os.pathsep-separated, like PATH
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


# --- loading --------------------------------------------------------------------------------


def parse_source(text: str, name: str | None = None) -> ModelSource:
    """`my.py`, `dir/my.py:MyNet`, `pkg.module` or `pkg.module:attr` -> a `ModelSource`."""
    text = text.strip()
    if not text:
        raise ConfigError("an empty model file or module reference", code=2)
    target, attr = text, None
    head, sep, tail = text.rpartition(":")
    if sep and head and tail.isidentifier():
        target, attr = head, tail
    path = Path(target).expanduser()
    if target.endswith(".py") or "/" in target or os.sep in target or path.exists():
        return ModelSource("file", str(path.resolve()), attr, name, shown=target)
    if all(part.isidentifier() for part in target.split(".")):
        return ModelSource("module", target, attr, name, shown=target)
    raise ConfigError(
        f"{text}: neither a Python file (PATH.py[:Name]) nor a module reference (module:attr)",
        code=2,
    )


@dataclass
class _Loaded:
    digest: str | None  # of the file (None: a module, never re-imported)
    module: Any
    names: list[str]  # the models its decorators registered
    named: list[str] = field(default_factory=list)  # registered by `file.py:Name`


_FILES: dict[str, _Loaded] = {}  # by absolute path or module name


def load_source(
    source: str | ModelSource, name: str | None = None, *, read_from: str | Path | None = None
) -> list[ModelSpec]:
    """Load one file or module reference; idempotent (a file re-executes only if its
    content changed). Returns the specs it registered, already checked. `read_from`: a copy
    of the file's bytes elsewhere (a Ray worker on another machine), loaded as the file itself
    (same module name, same models), so models pickled where the file is unpickle here."""
    src = parse_source(source, name) if isinstance(source, str) else source
    list_specs()  # the built-ins first: a user name must not shadow one
    if src.kind == "file":
        loaded = _import_file(src, None if read_from is None else Path(read_from))
        origin = ModelOrigin(
            kind="file",
            label=Path(src.target).name,
            source=replace(src, attr=None, name=None),
            files=((src.target, loaded.digest),),
        )
    else:
        loaded = _import_module(src)
        origin = ModelOrigin(
            kind="module", label=src.target, source=replace(src, attr=None, name=None)
        )
    if src.attr is None:
        if not loaded.names:
            raise ConfigError(
                f"{src.shown or src}: registers no model (decorate a class with "
                "`@register` from digitduel, or name one: PATH.py:MyNet)",
                code=2,
            )
        return [get_spec(n) for n in loaded.names]
    obj = _attr(loaded.module, src)
    return _register_named(
        obj,
        src.name or kebab_case(src.attr),
        loaded,
        replace(origin, source=src),
        src.shown or str(src),
    )


def _import_file(src: ModelSource, read_from: Path | None = None) -> _Loaded:
    """`src.target`'s file, imported under a module name derived from `src.target`; its bytes
    are read from `read_from` where given (a copy shipped to another machine)."""
    shown, path = src.shown or src.target, Path(read_from or src.target)
    if not path.exists():
        raise ConfigError(f"{shown}: no such file", code=2)
    if not path.is_file():
        raise ConfigError(f"{shown}: not a file", code=2)
    digest = file_sha256(path)
    known = _FILES.get(src.target)
    if known is not None and known.digest == digest:
        return known
    if known is not None:  # edited since: forget its models, run it again
        for n in known.names + known.named:
            remove_spec(n)
        del _FILES[src.target]
    stem = re.sub(r"\W", "_", Path(src.target).stem)
    module_name = f"_digitduel_user_{stem}_{hashlib.sha256(src.target.encode()).hexdigest()[:10]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{shown}: cannot be imported as Python", code=2)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before running it: pickle and dataclasses look it up
    origin = ModelOrigin(
        kind="file",
        label=Path(src.target).name,
        source=replace(src, attr=None, name=None),
        files=((src.target, digest),),
    )
    try:
        specs = _run_collecting(lambda: spec.loader.exec_module(module), origin, shown, path)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    _FILES[src.target] = _Loaded(digest, module, [s.name for s in specs])
    return _FILES[src.target]


def _import_module(src: ModelSource) -> _Loaded:
    known = _FILES.get(src.target)
    if known is not None:
        return known
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # like `python -m` and uvicorn: the current directory
    origin = ModelOrigin(kind="module", label=src.target, source=replace(src, attr=None, name=None))
    box: list[Any] = []
    specs = _run_collecting(
        lambda: box.append(importlib.import_module(src.target)),
        origin,
        src.shown or src.target,
        None,
    )
    names = [s.name for s in specs] or [  # imported earlier by the user's own code
        s.name for s in user_specs() if s.origin.kind == "import" and s.origin.label == src.target
    ]
    _FILES[src.target] = _Loaded(None, box[0], names)
    return _FILES[src.target]


def _run_collecting(
    execute: Callable[[], Any], origin: ModelOrigin, shown: str, path: Path | None
) -> list[ModelSpec]:
    """Run user code with the decorator collecting; models registered meanwhile with the
    built-ins' decorator are adopted too. Any exception becomes one line naming the file."""
    before = {s.name for s in list_specs()}
    LOADING.append(Loading())
    try:
        execute()
    except DigitduelError:
        raise
    except (Exception, SystemExit) as err:  # whatever the user's code raised, as one line
        raise ConfigError(_one_line(err, shown, path), code=2) from err
    finally:
        found = LOADING.pop().found
    for n in sorted({s.name for s in list_specs()} - before):  # `registry.register` users
        found.append(get_spec(n))
        remove_spec(n)
    return admit(found, origin, shown)


def _one_line(err: BaseException, shown: str, path: Path | None) -> str:
    """`my.py:12: NameError: name 'nn' is not defined`, pointing at the user's own line."""
    if isinstance(err, SyntaxError) and err.filename:
        at = shown if path is not None and Path(err.filename) == path else err.filename
        return f"{at}:{err.lineno}: syntax error: {err.msg}"
    if isinstance(err, SystemExit):
        return f"{shown}: called exit({err.code}) while loading"
    message = f"{type(err).__name__}: {err}".strip()
    if "unknown report" in message:
        message += " (use `from digitduel import register`: its report is optional)"
    frames = traceback.extract_tb(err.__traceback__)
    mine = [f for f in frames if path is not None and Path(f.filename) == path]
    if mine:
        return f"{shown}:{mine[-1].lineno}: {message}"
    outside = [f for f in frames if _is_user_frame(f.filename)]
    if outside:
        return f"{shown}: {outside[-1].filename}:{outside[-1].lineno}: {message}"
    return f"{shown}: {message}"


def _is_user_frame(filename: str) -> bool:
    skip = (_PACKAGE_DIR, sys.base_prefix, sys.prefix, "<frozen")
    return not filename.startswith(skip)


def _attr(module: Any, src: ModelSource) -> Any:
    try:
        return getattr(module, src.attr)
    except AttributeError:
        import difflib

        names = [n for n in vars(module) if not n.startswith("_")]
        close = difflib.get_close_matches(src.attr, names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"{src.shown or src}: no name {src.attr!r}{hint}", code=2) from None


def _register_named(
    obj: Any, name: str, loaded: _Loaded, origin: ModelOrigin, shown: str
) -> list[ModelSpec]:
    """`file.py:Name`: the model(s) decorated as `Name`, or `Name` registered as it is."""
    decorated = [get_spec(n) for n in loaded.names if _unwrapped(get_spec(n)) is obj]
    if decorated:
        return decorated
    if name in loaded.named:  # named before from this same file
        return [get_spec(name)]
    if not callable(obj):
        raise ConfigError(
            f"{shown}: {name!r} is a {type(obj).__name__}, not an nn.Module class or factory",
            code=2,
        )
    spec = candidate(obj, name, None, None, None, "compare", False, False, {})
    ready = admit([spec], origin, shown)
    loaded.named.append(name)
    return ready


def _unwrapped(spec: ModelSpec) -> Any:
    return getattr(spec.factory, "factory", spec.factory)


_ENTRY_POINTS: dict[tuple[str, str], list[str]] = {}


def load_entry_points() -> list[ModelSpec]:
    """Every installed distribution's `digitduel.models` entry points (once per process)."""
    from importlib.metadata import entry_points

    list_specs()
    specs: list[ModelSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = (ep.name, ep.value)
        if key not in _ENTRY_POINTS:
            _ENTRY_POINTS[key] = [s.name for s in _load_entry_point(ep)]
        specs += [get_spec(n) for n in _ENTRY_POINTS[key] if get_spec(n) not in specs]
    return specs


def _load_entry_point(ep: Any) -> list[ModelSpec]:
    dist = getattr(ep, "dist", None)
    dist_name, version = (dist.name, dist.version) if dist is not None else (None, None)
    shown = f"entry point {ep.name!r} ({dist_name or 'unknown distribution'})"
    origin = ModelOrigin(
        kind="entry-point",
        label=f"{dist_name} {version}".strip(),
        entry_point=ep.name,
        distribution=dist_name,
        version=version,
    )
    loaded = _FILES.get(ep.module)  # several entry points may name one module
    if loaded is None:
        box: list[Any] = []
        specs = _run_collecting(
            lambda: box.append(importlib.import_module(ep.module)), origin, shown, None
        )
        loaded = _FILES[ep.module] = _Loaded(None, box[0], [s.name for s in specs])
    if ep.attr is None:
        if not loaded.names:
            raise ConfigError(f"{shown}: {ep.module} registers no model", code=2)
        return [get_spec(n) for n in loaded.names]
    try:
        obj = ep.load()  # the module is imported: this only resolves the attribute
    except AttributeError as err:
        raise ConfigError(f"{shown}: {ep.value}: {err}", code=2) from err
    return _register_named(obj, ep.name, loaded, origin, shown)


def sources_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """`DIGITDUEL_MODEL_FILES`: model files (or references), separated like PATH."""
    value = (os.environ if environ is None else environ).get(ENV_MODEL_FILES, "")
    return [part for part in value.split(os.pathsep) if part.strip()]


def load_user_models(
    sources: Iterable[str | ModelSource] = (),
    *,
    environ: Mapping[str, str] | None = None,
    entry_points: bool = True,
) -> list[ModelSpec]:
    """What a command calls: `sources` (its `--model-file`s), then `DIGITDUEL_MODEL_FILES`,
    then installed entry points. Returns every user model now registered."""
    for source in [*sources, *sources_from_env(environ)]:
        load_source(source)
    if entry_points:
        load_entry_points()
    return user_specs()


def is_reference(text: str) -> bool:
    """Whether a `--model` value names user code (`PATH.py[:Name]`, `module:attr`) rather
    than a registered model: registry names never hold ':' nor end in '.py'."""
    return ":" in text or text.endswith(".py")


def model_names(models: Iterable[str]) -> list[str]:
    """`--model` values as registered names: a reference is loaded and stands for the
    model(s) it registers (`-m labnets.models:Net`, `-m my_nets.py`)."""
    names: list[str] = []
    for text in models:
        found = [s.name for s in load_source(text)] if is_reference(text) else [text]
        names += [n for n in found if n not in names or not is_reference(text)]
    return names


def model_file_flags(name: str) -> str:
    """The options that make model `name` known to another command: `--model-file ...`
    (and `--name`) for a model loaded from a file or module, "" for a built-in or a model
    an installed entry point provides (found again without options)."""
    import shlex

    origin = get_spec(name).origin
    if origin is None or origin.source is None or origin.kind in ("entry-point", "import"):
        return ""
    src = origin.source
    shown = src.shown or src.target
    if src.attr and not shown.endswith(f":{src.attr}"):
        shown += f":{src.attr}"
    flags = f"--model-file {shlex.quote(shown)}"
    return flags + (f" --name {shlex.quote(src.name)}" if src.name else "")


def load_origins(origins: Iterable[ModelOrigin | None]) -> None:
    """Load, in this process (a worker), the user models these origins came from: the same
    files under the same module names, so models pickled elsewhere unpickle here."""
    for origin in origins:
        if origin is None:
            continue
        if origin.kind == "entry-point":
            load_entry_points()
        elif origin.source is not None:
            load_source(origin.source)


def user_specs() -> list[ModelSpec]:
    return [s for s in list_specs() if s.origin is not None]


def forget_user_models() -> None:
    """Unregister every user model and forget what was loaded (tests; a reload)."""
    for spec in user_specs():
        remove_spec(spec.name)
    _FILES.clear()
    _ENTRY_POINTS.clear()
