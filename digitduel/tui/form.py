"""The set-up form's fields and how they become a bench plan.

Every field is a settings key of digitduel.settings and is checked with `check_field`, so the
form flags exactly what a preset file or a CLI flag would refuse, with the schema's message.
An empty field means "not set here": each contestant keeps its model's recipe (or the
preset's value), as with an omitted CLI flag. The plan is built by the same functions the
CLI uses (`plan_for_models`, `plan_from_preset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from digitduel.settings import BENCH_KEYS, check_field


@dataclass(frozen=True)
class Field:
    key: str  # the settings key
    label: str
    kind: str  # "int", "float", "choice", "list"
    hint: str  # placeholder: what an empty field means
    choices: tuple[str, ...] = ()


# Order = order on screen: bench shape first, then how each contestant trains.
FIELDS: tuple[Field, ...] = (
    Field("rounds", "rounds", "int", "1"),
    Field("epochs", "epochs", "int", "recipe"),
    Field("n_pairs", "pairs", "int", "1000"),
    Field("batch_size", "batch size", "int", "recipe"),
    Field("optimizer", "optimiser", "choice", "recipe", ("adam", "sgd", "rmsprop")),
    Field("lr", "lr", "float", "recipe"),
    Field("lr2", "lr2 (step)", "float", "recipe: none"),
    Field("lr_switch", "lr switch", "float", "0.6 of epochs"),
    Field("momentum", "momentum", "float", "recipe"),
    Field("weight_decay", "weight decay", "float", "recipe"),
    Field("loss", "loss", "choice", "recipe", ("ce", "mse", "bce")),
    Field("aux_weight", "aux weight", "float", "recipe"),
    Field("main_weight", "main weight", "float", "recipe"),
    Field("augment", "augment", "list", "recipe (none: 'none')"),
    Field("eval_every", "eval every", "int", "1 epoch"),
    Field("folds", "CV folds", "int", "0: test pairs"),
    Field("seed", "seed", "int", "0"),
    Field(
        "executor", "executor", "choice", "auto", ("auto", "serial", "processes", "batched", "ray")
    ),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}


class FormError(ValueError):
    """One field's problem, phrased for the user."""


def parse_value(key: str, text: str) -> Any:
    """The typed value of a field's text; None for an empty field. Raises FormError."""
    spec = FIELD_BY_KEY[key]
    text = text.strip()
    if not text:
        return None
    if spec.kind == "int":
        try:
            value: Any = int(text.replace("_", ""))
        except ValueError:
            raise FormError("a whole number is required") from None
    elif spec.kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise FormError("a number is required (e.g. 0.001 or 1e-3)") from None
    elif spec.kind == "list":
        parts = [p.strip() for p in text.replace("+", ",").replace(" ", ",").split(",")]
        value = [] if text.lower() == "none" else [p for p in parts if p]
    else:
        value = text
    message = check_field(key, value)
    if message:
        raise FormError(message)
    return value


def field_message(key: str, text: str) -> str | None:
    """What is wrong with a field's text, or None: what the form shows as you type."""
    try:
        parse_value(key, text)
    except FormError as err:
        return str(err)
    return None


def format_value(key: str, value: Any) -> str:
    """The text a field shows for a value (a preset filling the form)."""
    if value is None:
        return ""
    if FIELD_BY_KEY[key].kind == "list":
        return ", ".join(value) if value else "none"
    return str(value)


def split_overrides(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Form values (None = not set) as the (train, bench) override dicts the plan takes."""
    train = {k: v for k, v in values.items() if v is not None and k not in BENCH_KEYS}
    bench = {k: v for k, v in values.items() if v is not None and k in BENCH_KEYS}
    return train, bench


@dataclass
class PresetChoice:
    """A preset loaded into the form: which models it brings and which values it set, so
    only the fields the user then changed override it (its contestants' own settings stay)."""

    name: str
    models: tuple[str, ...]
    values: dict[str, Any]  # as filled into the form


def preset_choice(name_or_path: str) -> PresetChoice:
    """Load a preset (built-in name or .toml path) for the form. Raises ConfigError."""
    from digitduel.bench.presets import load_preset

    preset = load_preset(name_or_path)
    values = {k: v for k, v in {**preset.train, **preset.bench}.items() if k in FIELD_BY_KEY}
    models = tuple(dict.fromkeys(c["model"] for c in preset.contestants))
    return PresetChoice(name_or_path, models, values)


def build_plan(
    models: list[str],
    values: dict[str, Any],
    *,
    device: str = "auto",
    preset: PresetChoice | None = None,
    data_dir: str | None = None,
    offline: bool = False,
):
    """The bench plan for the form: the preset's contestants when the selection is exactly
    the preset's models (fields overriding only where they differ from what it filled in),
    else the selected models with their recipes plus every filled field."""
    if preset is not None and set(models) == set(preset.models):
        from digitduel.bench import plan_from_preset

        changed = {k: v for k, v in values.items() if v != preset.values.get(k)}
        train, bench = split_overrides(changed)
        bench["device"] = device
        return plan_from_preset(
            preset.name,
            train_overrides=train,
            bench_overrides=bench,
            data_dir=data_dir,
            offline=offline,
        )
    from digitduel.bench import plan_for_models

    train, bench = split_overrides(values)
    bench["device"] = device
    return plan_for_models(
        list(models),
        train_overrides=train,
        bench_overrides=bench,
        data_dir=data_dir,
        offline=offline,
    )


def epochs_by_label(plan) -> dict[str, int]:
    return {c.label: c.settings.epochs for c in plan.contestants}
