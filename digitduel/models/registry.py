"""The model registry (timm-style `@register`) and the one output contract.

Every model takes a batch `[B, 2, 14, 14]` and returns a `ModelOutput`:
  - `compare`: `[B, 2]` logits (loss "ce"), `[B, 1]` score (loss "mse"/"bce"), or None for
    digit-only models;
  - `digits`: `[B, 2, 10]` per-digit logits where the architecture has them, else None.

A registration names the report, how the model predicts ("compare": from `compare`;
"digits": by comparing the two predicted digit classes) and the report's training recipe as
a dict of `TrainSettings` overrides, so `bench --all` trains each model the way its report did.

This module imports no model file (they import it): `digitduel.models` imports them, so any
import of `digitduel.models` or of this module (its package comes first) registers them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from digitduel.errors import ConfigError

REPORTS = {
    "jomeau": "Jomeau, Rajaonson, Dandjee",
    "sgd": "ConvNet / WS / WS+aux (SGD report)",
    "borba": "Borba, de Champs, Grognuz",
    "cappelletti": "Cappelletti, Dufour, Huguelet",
    "banjac": "Banjac, Karalupov, Yorusun",
}

# Earlier names of a report's key, still understood (--report, presets, results files).
REPORT_ALIASES = {"convnet-ws-aux": "sgd"}  # the SGD report's models were always sgd-*


def report_key(name: str) -> str:
    """A report's one short key (what its models' names, --report and its preset share),
    from the key itself or an earlier name of it."""
    return REPORT_ALIASES.get(name, name)


class ModelOutput(NamedTuple):
    compare: torch.Tensor | None
    digits: torch.Tensor | None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    report: str  # a key of REPORTS
    description: str  # one line
    factory: Callable[..., nn.Module]
    recipe: dict[str, Any]  # TrainSettings overrides: the report's training set-up
    predicts: Literal["compare", "digits"] = "compare"
    weight_sharing: bool = False
    aux: bool = False  # uses the digit labels in training
    kwargs: dict[str, Any] = field(default_factory=dict)  # constructor options
    origin: Any = None  # a user model's models.user.ModelOrigin (file/package, SHA-256)

    def create(self) -> nn.Module:
        return self.factory(**self.kwargs)

    def param_count(self) -> int:
        return sum(p.numel() for p in self.create().parameters())


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    name: str,
    *,
    report: str,
    description: str,
    recipe: dict[str, Any],
    predicts: Literal["compare", "digits"] = "compare",
    weight_sharing: bool = False,
    aux: bool = False,
    **kwargs: Any,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register `factory(**kwargs)` under `name`. Stack decorators to register variants."""
    report = report_key(report)
    if report not in REPORTS:
        raise ValueError(f"unknown report {report!r}")

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(
            name=name,
            report=report,
            description=description,
            factory=factory,
            recipe=dict(recipe),
            predicts=predicts,
            weight_sharing=weight_sharing,
            aux=aux,
            kwargs=dict(kwargs),
        )
        return factory

    return deco


def add_spec(spec: ModelSpec) -> None:
    """Register a ready-made spec (digitduel.models.user builds user models' specs)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec


def remove_spec(name: str) -> None:
    """Forget a model (a user file being re-loaded after an edit)."""
    _REGISTRY.pop(name, None)


class UnknownModelError(ConfigError, KeyError):
    """A model name the registry does not know: a usage error (one line, exit 2) wherever it
    surfaces, and still a KeyError for code that looks names up."""

    def __str__(self) -> str:  # KeyError quotes its message; we want one plain line
        return str(self.args[0])


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see `digitduel models`)"
        raise UnknownModelError(f"unknown model {name!r}{hint}") from None


def list_specs(report: str | None = None) -> list[ModelSpec]:
    report = None if report is None else report_key(report)
    return [s for s in _REGISTRY.values() if report is None or s.report == report]
