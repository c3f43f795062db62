"""Where a bench's user models came from, written down so a result stays traceable.

A built-in model is defined by the digitduel version the results file records; a user model
(digitduel.models.user) is defined by a file or a distribution. The results file records, per
user model the plan trains, its `ModelProvenance` (the file path, or the distribution and
version, and the SHA-256 of each source file); the journal's header records the same, so
`--resume` can refuse, by name, a model whose file changed since the journal began: its
finished runs were trained by code that no longer exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from digitduel.errors import ConfigError


class SourceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # absolute, as loaded
    sha256: str


class ModelProvenance(BaseModel):
    """`ModelOrigin.to_dict()` as a schema: what the results file keeps of a user model."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["file", "module", "entry-point", "import"]
    label: str  # the file name, module, or "distribution version"
    source: str | None = None  # as `--model-file` takes it (PATH.py[:Name], module:attr)
    entry_point: str | None = None
    distribution: str | None = None
    version: str | None = None
    files: list[SourceFile] = Field(default_factory=list)

    def where(self) -> str:
        """One phrase for `show`: the file (relative when below here) or the package."""
        if self.kind == "entry-point":
            return f"{self.distribution or 'unknown distribution'} {self.version or ''}".strip()
        if self.kind == "file" and self.files:
            return _short_path(self.files[0].path)
        return self.source or self.label


def _short_path(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _sha256_or_none(path: str) -> str | None:
    from digitduel.models.user_register import file_sha256

    try:
        return file_sha256(path)
    except OSError:
        return None


def plan_origins(plan: Any) -> list[Any]:
    """The `ModelOrigin`s of the plan's user models (each once), for worker processes."""
    from digitduel.models.registry import get_spec

    origins = []
    for name in dict.fromkeys(c.model for c in plan.contestants):
        origin = get_spec(name).origin
        if origin is not None and origin not in origins:
            origins.append(origin)
    return origins


def plan_provenance(plan: Any) -> dict[str, ModelProvenance] | None:
    """Per registered model name, the provenance of each user model the plan trains;
    None when every contestant is a built-in (the results file then says nothing more)."""
    from digitduel.models.registry import get_spec

    found = {}
    for name in dict.fromkeys(c.model for c in plan.contestants):
        origin = get_spec(name).origin
        if origin is not None:
            found[name] = ModelProvenance.model_validate(origin.to_dict())
    return found or None


def check_unchanged(
    recorded: dict[str, Any] | None, now: dict[str, ModelProvenance] | None, where: str
) -> None:
    """Refuse (ConfigError, exit 2) when a user model's source file has another SHA-256 now
    than when the journal at `where` began. `recorded` is the journal header's JSON."""
    if not recorded:
        return
    for name, raw in recorded.items():
        then = ModelProvenance.model_validate(raw)
        loaded = (now or {}).get(name)
        files_now = {f.path: f.sha256 for f in loaded.files} if loaded is not None else {}
        for f in then.files:
            sha_now = files_now.get(f.path) or _sha256_or_none(f.path)
            if sha_now != f.sha256:
                raise ConfigError(
                    f"--resume: model {name!r}: {_short_path(f.path)} changed since {where} "
                    "began (its SHA-256 differs); rerun without --resume or choose another --out"
                )


def origin_lines(result: Any) -> list[str]:
    """For `show`: where each contestant's model came from, the user's file or package with
    the SHA-256 the results file recorded, then the built-ins in one line (none at all when
    every model is built-in: the environment line names the digitduel version)."""
    models = result.models or {}
    if not models:
        return []
    lines = []
    names = list(dict.fromkeys(c.model for c in result.contestants))
    for name in [n for n in names if n in models]:
        p = models[name]
        digests = ", ".join(f"sha256 {f.sha256[:12]}" for f in p.files)
        lines.append(f"{name}: user model from {p.where()}" + (f" ({digests})" if digests else ""))
    built_in = [n for n in names if n not in models]
    if built_in:
        lines.append(f"{', '.join(built_in)}: built-in (digitduel {result.environment.digitduel})")
    return lines
