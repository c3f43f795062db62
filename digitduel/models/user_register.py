"""The user-model decorator and what a user model's spec carries: where it came from.

`register` (exported as `digitduel.register`) takes the built-in decorator's options with the
name, report, description and recipe optional. While digitduel.models.user loads a source, it
collects the decorated factories (`LOADING`) and `admit`s them all or none; used by an
ordinary import it admits at once. Admission checks the name, the recipe and one dry
forward/backward (digitduel.models.user_output), wraps outputs that are not a `ModelOutput`,
and records the origin (file or distribution, SHA-256 of the source files).
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from digitduel.errors import ConfigError
from digitduel.models.registry import ModelSpec, add_spec, get_spec

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ModelSource:
    """A reference to user code, as `--model-file` takes it; picklable, so a worker process
    can `load_source(source)` and get the very same models."""

    kind: Literal["file", "module"]
    target: str  # an absolute file path, or a dotted module name
    attr: str | None = None  # a class, factory or instance to register (else: decorators only)
    name: str | None = None  # registry name for `attr` (else derived from it)
    shown: str = field(default="", compare=False)  # as the user wrote it, for messages

    def __str__(self) -> str:
        return self.target + (f":{self.attr}" if self.attr else "")


@dataclass(frozen=True)
class ModelOrigin:
    """Where a user model came from: results record it, `--resume` compares `files`."""

    kind: Literal["file", "module", "entry-point", "import"]
    label: str  # shown where a built-in shows its report: file name, module, "dist version"
    source: ModelSource | None = None  # how to load it again (entry points: `entry_point`)
    entry_point: str | None = None
    distribution: str | None = None
    version: str | None = None
    files: tuple[tuple[str, str], ...] = ()  # (absolute path, SHA-256) of its source files

    def changed_files(self) -> list[str]:
        """The recorded files whose content is not what it was at load (or that are gone)."""
        return [p for p, digest in self.files if _digest_or_none(p) != digest]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "source": None if self.source is None else str(self.source),
            "entry_point": self.entry_point,
            "distribution": self.distribution,
            "version": self.version,
            "files": [{"path": p, "sha256": d} for p, d in self.files],
        }


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _digest_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


def kebab_case(name: str) -> str:
    """`SiameseNet` -> `siamese-net`, `MyCNN2` -> `my-cnn2`, `tiny_net` -> `tiny-net`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    return spaced.replace("_", "-").strip("-").lower()


# --- the decorator ------------------------------------------------------------------------


@dataclass
class Loading:
    """Specs the decorator collected while a source executes: admitted all or none."""

    found: list[ModelSpec] = field(default_factory=list)


LOADING: list[Loading] = []


def register(
    name: str | Callable[..., Any] | None = None,
    *,
    report: str | None = None,
    description: str | None = None,
    recipe: dict[str, Any] | None = None,
    predicts: Literal["compare", "digits"] = "compare",
    weight_sharing: bool = False,
    aux: bool = False,
    **kwargs: Any,
) -> Any:
    """Register a user model: `@register`, `@register("my-net")` or with the built-ins'
    options. `report` is a free label (default: the file or package it came from); `recipe`
    holds `TrainSettings` overrides (default: the schema's defaults)."""
    if callable(name):  # bare `@register`
        return register(
            None,
            report=report,
            description=description,
            recipe=recipe,
            predicts=predicts,
            weight_sharing=weight_sharing,
            aux=aux,
            **kwargs,
        )(name)

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        spec = candidate(
            factory, name, report, description, recipe, predicts, weight_sharing, aux, kwargs
        )
        if LOADING:
            LOADING[-1].found.append(spec)
        else:  # imported by the user's own code, outside our loaders
            admit([spec], _import_origin(factory), shown=spec.name)
        return factory

    return deco


def candidate(
    factory, name, report, description, recipe, predicts, weight_sharing, aux, kwargs
) -> ModelSpec:
    doc = (getattr(factory, "__doc__", None) or "").strip().splitlines()
    return ModelSpec(
        name=name or kebab_case(getattr(factory, "__name__", "model")),
        report=report or "",
        description=description or (doc[0] if doc else ""),
        factory=factory,
        recipe=dict(recipe or {}),
        predicts=predicts,
        weight_sharing=weight_sharing,
        aux=aux,
        kwargs=dict(kwargs),
    )


def _import_origin(factory: Callable[..., Any]) -> ModelOrigin:
    module = getattr(factory, "__module__", "") or ""
    source = None if module == "__main__" else ModelSource("module", module, shown=module)
    return ModelOrigin(kind="import", label=module, source=source)


# --- admission: checks, adaptation, provenance ----------------------------------------------


def admit(specs: list[ModelSpec], origin: ModelOrigin, shown: str) -> list[ModelSpec]:
    """Check every spec, then register them all (none if one fails)."""
    names = [s.name for s in specs]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"{shown}: model name {n!r} is registered twice", code=2)
    ready = [_finalize(s, origin, shown) for s in specs]
    for spec in ready:
        add_spec(spec)
    return ready


def _finalize(spec: ModelSpec, origin: ModelOrigin, shown: str) -> ModelSpec:
    from digitduel.models.user_output import AdaptedFactory, OutputProblem, dry_run
    from digitduel.settings import SettingsError, resolve_train

    where = f"{shown}: model {spec.name!r}"
    _check_name(spec.name, shown)
    if spec.predicts not in ("compare", "digits"):
        raise ConfigError(f"{where}: predicts must be 'compare' or 'digits'", code=2)
    try:
        settings = resolve_train(spec.recipe, where="recipe")
    except SettingsError as err:
        raise ConfigError(f"{where}: {err}", code=2) from err
    # One score cannot train with the default "ce": unless the recipe chose, use "bce".
    score_loss = spec.recipe.get("loss", "bce")

    def loss_of(found) -> tuple[str, float, float]:
        loss = score_loss if found.compare_width == 1 else settings.loss
        return loss, settings.aux_weight, settings.main_weight

    try:
        found = dry_run(spec.factory, spec.kwargs, loss_of)
    except OutputProblem as err:
        raise ConfigError(f"{where}: {err}", code=2) from err
    if spec.predicts == "digits" and not found.has_digits:
        raise ConfigError(f"{where}: predicts by digits but returns no digit output", code=2)
    recipe = dict(spec.recipe)
    if found.compare_width == 1:
        recipe["loss"] = score_loss
    return replace(
        spec,
        factory=AdaptedFactory(spec.factory) if found.adapted else spec.factory,
        recipe=recipe,
        report=spec.report or origin.label,
        description=spec.description or f"user model from {origin.label}",
        origin=replace(origin, files=_files_of(origin, spec.factory)),
    )


def _check_name(name: str, shown: str) -> None:
    from digitduel.models.registry import UnknownModelError

    if not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"{shown}: model name {name!r} must be letters, digits, '-', '_' or '.'", code=2
        )
    try:
        existing = get_spec(name)
    except UnknownModelError:
        return
    if existing.origin is None:
        raise ConfigError(
            f"{shown}: model name {name!r} clashes with a built-in model; pick another name", code=2
        )
    raise ConfigError(
        f"{shown}: model name {name!r} is already registered by {existing.origin.label}", code=2
    )


def _files_of(origin: ModelOrigin, factory: Callable[..., Any]) -> tuple[tuple[str, str], ...]:
    files = dict(origin.files)
    try:
        defined_in = inspect.getsourcefile(factory)
    except TypeError:
        defined_in = None
    if defined_in and Path(defined_in).is_file():
        path = str(Path(defined_in).resolve())
        files.setdefault(path, file_sha256(path))
    return tuple(files.items())
