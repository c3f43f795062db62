"""What a bench will run: contestants x rounds, their resolved settings, and the seeds.

Settings resolve in one order for everybody (see digitduel.settings):
    schema defaults <- model recipe <- preset [settings] <- contestant overrides <- CLI flags

Seeds: round r of base seed s gets a data seed and an init seed derived from (s, r) with
numpy's SeedSequence, so every contestant of round r sees the same pairs (a paired
comparison) and rounds are independent draws. Contestants of one round also share the init
seed: two contestants with the same architecture start from the same weights and differ only
by their settings; different architectures get different weights anyway.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from digitduel.errors import ConfigError
from digitduel.settings import (
    BenchSettings,
    SettingsError,
    TrainSettings,
    resolve_bench,
    resolve_train,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contestant(_Strict):
    label: str
    model: str
    settings: TrainSettings


class ReportRow(_Strict):
    """A report's published figure for one contestant, in percent as published."""

    mean: float
    std: float | None = None
    rounds: int | None = None
    train_mean: float | None = None
    train_std: float | None = None
    note: str | None = None


class BenchPlan(_Strict):
    name: str
    contestants: list[Contestant]
    bench: BenchSettings = Field(default_factory=BenchSettings)
    data_dir: str | None = None
    offline: bool = False
    preset: str | None = None
    description: str | None = None
    report: dict[str, ReportRow] | None = None
    report_source: str | None = None

    def identity(self) -> dict[str, Any]:
        """What must match for `--resume` to reuse finished runs: everything that changes a
        single run's result (contestants, their settings, pairs, seed, device, data), but not
        the number of rounds (round r is the same draw whatever the total) nor the executor."""
        identity = {
            "contestants": [c.model_dump(mode="json") for c in self.contestants],
            "n_pairs": self.bench.n_pairs,
            "seed": self.bench.seed,
            "device": self.bench.device,
            "data_dir": self.data_dir,
        }
        if self.bench.folds:  # only then, so benches without folds keep their fingerprints
            identity["folds"] = self.bench.folds
        return identity

    def fingerprint(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def round_seeds(base_seed: int, round_index: int) -> tuple[int, int]:
    """(data_seed, init_seed) of a round: deterministic, independent across rounds."""
    import numpy as np

    data_seed, init_seed = np.random.SeedSequence([base_seed, round_index]).generate_state(2)
    return int(data_seed) & 0x7FFFFFFF, int(init_seed) & 0x7FFFFFFF


def contestant_for(
    model: str,
    *,
    label: str | None = None,
    layers: list[dict[str, Any] | None] | None = None,
    where: str = "",
) -> Contestant:
    """A contestant with settings resolved as recipe <- layers (later wins)."""
    from digitduel.models.registry import UnknownModelError, get_spec

    try:
        spec = get_spec(model)
    except UnknownModelError as err:
        raise ConfigError(f"{where}: {err}" if where else str(err)) from None
    try:
        settings = resolve_train(spec.recipe, *(layers or []), where=where)
    except SettingsError as err:
        raise ConfigError(str(err)) from None
    _check_model_fits_loss(spec, settings, where)
    return Contestant(label=label or model, model=model, settings=settings)


def _check_model_fits_loss(spec, settings: TrainSettings, where: str) -> None:
    """A two-sample forward and loss now, so a model/loss mismatch (e.g. loss "ce" on a
    one-output model) is one error before the bench, not a "failed" run per round."""
    import torch

    from digitduel.training.objective import compute_loss

    with torch.random.fork_rng(devices=[]):
        model = spec.create().eval()
        with torch.no_grad():
            out = model(torch.zeros(2, 2, 14, 14))
        target, classes = torch.zeros(2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long)
        try:
            compute_loss(
                out, target, classes, settings.loss, settings.aux_weight, settings.main_weight
            )
        except ValueError as err:
            prefix = f"{where}: " if where else ""
            raise ConfigError(
                f"{prefix}model {spec.name!r} with loss {settings.loss!r}: {err}"
            ) from None


def make_bench_settings(*layers: dict[str, Any] | None, where: str = "") -> BenchSettings:
    try:
        return resolve_bench(*layers, where=where)
    except SettingsError as err:
        raise ConfigError(str(err)) from None


def plan_for_models(
    models: list[str],
    *,
    train_overrides: dict[str, Any] | None = None,
    bench_overrides: dict[str, Any] | None = None,
    data_dir: str | None = None,
    offline: bool = False,
    name: str | None = None,
) -> BenchPlan:
    """Contestants = the named models, each with its registered recipe (+ CLI overrides).
    A `PATH.py[:Name]` or `module:attr` among them is loaded and stands for its models."""
    from digitduel.models.user import model_names

    if not models:
        raise ConfigError("no models to bench (use --all, --model NAME or --preset NAME)")
    models = model_names(models)
    if len(set(models)) != len(models):
        raise ConfigError("a model is named twice; each contestant needs its own label")
    contestants = [contestant_for(m, layers=[train_overrides], where="flags") for m in models]
    plan_name = name or (models[0] if len(models) == 1 else f"{len(models)}-models")
    return BenchPlan(
        name=plan_name,
        contestants=contestants,
        bench=make_bench_settings(bench_overrides, where="flags"),
        data_dir=data_dir,
        offline=offline,
    )


def plan_for_all(**kwargs: Any) -> BenchPlan:
    """Every registered model with its report's recipe."""
    from digitduel.models.registry import list_specs

    return plan_for_models([s.name for s in list_specs()], name="all", **kwargs)
