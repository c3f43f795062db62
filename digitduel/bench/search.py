"""Hyper-parameter search as the reports ran it: a grid of training settings, each point scored
by k-fold cross-validation on the train pairs (Jomeau et al.: learning rate, 4 folds, and the
auxiliary weight alpha; Borba et al.: 10 folds; the SGD report: a 20% validation split, i.e.
one fold of five).

A search is an ordinary bench: each grid point is a contestant, each round one fold of a
single draw (`BenchSettings.folds`), so it is resumable, journaled and parallel like any
bench, and its results file opens with `show` and `compare`. Only the train split is used:
a search never sees a test pair, so choosing a setting by it does not leak into test accuracy.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from digitduel.bench.plan import BenchPlan, contestant_for, make_bench_settings
from digitduel.bench.results import BenchResult, ContestantSummary
from digitduel.errors import ConfigError
from digitduel.settings import BENCH_KEYS, TRAIN_KEYS, parse_literal, split_assignment


def parse_grid_item(item: str) -> tuple[str, list[Any]]:
    """`KEY=V1,V2,...` or `KEY=[V1, V2, ...]` (TOML literals; bare words are strings)."""
    parts = split_assignment(item)
    if parts is None or not parts[1]:
        raise ConfigError(f"--grid {item!r}: expected KEY=V1,V2,...")
    key, raw = parts
    if raw.startswith("["):
        try:
            values = parse_literal(raw, bare_words=False)
        except ValueError as err:
            raise ConfigError(f"--grid {item!r}: not a TOML array ({err})") from None
    else:
        values = [parse_literal(v.strip()) for v in raw.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"--grid {item!r}: no values")
    return key, values


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The grid's cartesian product, first key slowest: {"lr": [1, 2], "alpha": [3]} ->
    [{"lr": 1, "alpha": 3}, {"lr": 2, "alpha": 3}]."""
    keys = list(grid)
    return [dict(zip(keys, vs, strict=True)) for vs in itertools.product(*grid.values())]


def set_flags(point: dict[str, Any]) -> str:
    """The point as `--set` flags for `digitduel bench` (TOML literals, shell-quoted)."""
    import shlex

    def literal(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:g}"
        return v if isinstance(v, str) and v.isidentifier() else json.dumps(v)

    return " ".join(f"--set {shlex.quote(f'{k}={literal(v)}')}" for k, v in point.items())


def point_label(model: str, point: dict[str, Any]) -> str:
    return " ".join([model] + [f"{k}={_show(v)}" for k, v in point.items()])


def plan_for_grid(
    model: str,
    grid: dict[str, list[Any]],
    *,
    train_overrides: dict[str, Any] | None = None,
    bench_overrides: dict[str, Any] | None = None,
    data_dir: str | None = None,
    offline: bool = False,
) -> BenchPlan:
    """One contestant per point of the grid's cartesian product (recipe <- overrides <- point),
    rounds = cross-validation folds of one draw of train pairs."""
    from digitduel.models.registry import UnknownModelError, get_spec

    try:
        get_spec(model)
    except UnknownModelError as err:
        raise ConfigError(str(err)) from None
    if not grid:
        raise ConfigError("a search needs a grid: --grid KEY=V1,V2,... (e.g. --grid lr=1e-4,1e-3)")
    for key, values in grid.items():
        if key in BENCH_KEYS:
            raise ConfigError(f"--grid {key}: a bench setting; a grid varies training settings")
        if key not in TRAIN_KEYS:
            known = ", ".join(sorted(TRAIN_KEYS))
            raise ConfigError(f"--grid: unknown setting {key!r} (known: {known})")
        shown = [_show(v) for v in values]
        if len(set(shown)) != len(shown):
            raise ConfigError(f"--grid {key}: a value is given twice")
    bench = make_bench_settings({"folds": 4}, bench_overrides, where="flags")
    if not bench.folds:
        raise ConfigError(
            "a search validates on folds of the train pairs: --folds must be at least 2 "
            "(choosing settings by test accuracy would leak the test set into them)"
        )
    contestants = []
    for point in grid_points(grid):
        label = point_label(model, point)
        contestants.append(
            contestant_for(model, label=label, layers=[train_overrides, point], where=label)
        )
    return BenchPlan(
        name=f"tune-{model}",
        contestants=contestants,
        bench=bench,
        data_dir=data_dir,
        offline=offline,
        description=f"{bench.folds}-fold cross-validated grid over {', '.join(grid)}",
    )


def best_point(result: BenchResult) -> ContestantSummary | None:
    """The contestant summary with the highest mean validation accuracy, or None."""
    scored = [s for s in result.summary if s.test_mean is not None]
    return max(scored, key=lambda s: s.test_mean) if scored else None
