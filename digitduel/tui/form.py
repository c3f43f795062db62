"""The set-up form's fields and how they become a bench plan.

Every field is a settings key of digitduel.settings and is checked with `check_field`, so the
form flags exactly what a preset file or a CLI flag would refuse, with the schema's message.
An empty field means "not set here": each contestant keeps its model's recipe (or the
preset's value), as with an omitted CLI flag. The plan is built by the same functions the
CLI uses (`plan_for_models`, `plan_from_preset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import UnionType
from typing import Any, Literal, get_args, get_origin

from digitduel.settings import TRAIN_KEYS, BenchSettings, TrainSettings, check_field, split_keys


@dataclass(frozen=True)
class Field:
    key: str  # the settings key
    label: str
    kind: str  # "int", "float", "choice", "list"
    hint: str  # placeholder: what an empty field means
    choices: tuple[str, ...] = ()


# Order = order on screen: the bench's shape and where it runs first (the set-up screen puts
# the device right after the executor), then how each contestant trains, so what is below
# the fold on a small terminal is the training fine print (the form names what is hidden).
FORM_KEYS = (
    "rounds", "epochs", "n_pairs", "folds", "seed", "executor",
    "batch_size", "optimizer", "lr", "lr2", "lr_switch", "momentum", "weight_decay", "loss",
    "aux_weight", "main_weight", "augment", "eval_every",
)  # fmt: skip
# Labels are the keys with spaces, hints what an empty field means (a training setting: the
# model's recipe; a bench setting: the schema's default), except for these.
_LABELS = {"n_pairs": "pairs", "optimizer": "optimiser", "lr2": "lr2 (step)", "folds": "CV folds"}
_HINTS = {
    "lr2": "recipe: none", "lr_switch": "0.6 of epochs",
    "augment": "recipe (none: 'none')", "eval_every": "1 epoch", "folds": "0: test pairs",
}  # fmt: skip


def _form_field(key: str) -> Field:
    """A form field as the settings schema declares the key: its kind and choices."""
    info = {**TrainSettings.model_fields, **BenchSettings.model_fields}[key]
    kind, choices = info.annotation, ()
    if isinstance(kind, UnionType):  # `float | None`: an empty field is the None
        kind = next(a for a in get_args(kind) if a is not type(None))
    if get_origin(kind) is Literal:
        kind, choices = "choice", get_args(kind)
    else:
        kind = "list" if get_origin(kind) is list else kind.__name__
    default = "recipe" if key in TRAIN_KEYS else str(info.default)
    hint = _HINTS.get(key, default)
    return Field(key, _LABELS.get(key, key.replace("_", " ")), kind, hint, choices)


FIELDS: tuple[Field, ...] = tuple(_form_field(key) for key in FORM_KEYS)
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
    """Form values (None = not set) as the (train, bench) override dicts the plan takes
    (every field is a schema key, so nothing is unknown)."""
    train, bench, _ = split_keys(values)
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
    if preset.model_files:  # its user models must be registered to be listed and picked
        from digitduel.models.user import load_source

        for source in preset.model_files:
            load_source(source)
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
