"""The one schema for run settings.

Presets (TOML), CLI flags and the TUI form all build a `TrainSettings` / `BenchSettings`
through these pydantic models, so they validate the same way. Unknown keys are errors.

Resolution order for a contestant's training settings (later wins):
    schema defaults <- the model's registered recipe <- preset [settings]
    <- the contestant's own overrides <- CLI flags / TUI form
"""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Optimizer = Literal["adam", "sgd", "rmsprop"]
Loss = Literal["ce", "mse", "bce"]
Augmentation = Literal["swap", "repair", "crop_flip"]

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class _Strict(BaseModel):
    # No NaN or infinity in any setting: `lr = nan` is "a finite number", not "<= 10".
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, v: Any) -> Any:
        # pydantic's lax mode reads `epochs = true` as 1 and `lr = true` as 1.0; no setting
        # here is a boolean, so true/false is always a mistake.
        if isinstance(v, bool):
            raise ValueError(f"expected a number or a name, not {str(v).lower()}")
        return v


class TrainSettings(_Strict):
    """How one contestant is trained (one run = one model, one round)."""

    optimizer: Optimizer = Field("adam", description="adam, sgd (with momentum) or rmsprop")
    lr: float = Field(1e-3, gt=0, le=10, description="learning rate")
    lr2: float | None = Field(
        None,
        gt=0,
        le=10,
        description="second learning rate after lr_switch of the epochs (step schedule)",
    )
    lr_switch: float = Field(
        0.6, gt=0, lt=1, description="fraction of the epochs trained at lr before switching to lr2"
    )
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 penalty")
    epochs: int = Field(25, strict=True, ge=1, le=10_000, description="epochs per run")
    batch_size: int = Field(100, strict=True, ge=1, le=100_000, description="training batch size")
    loss: Loss = Field("ce", description="ce (2 logits), mse (one output unit) or bce (one logit)")
    aux_weight: float = Field(
        0.0, ge=0, le=1000, description="alpha: weight of the digit (auxiliary) loss"
    )
    main_weight: float = Field(
        1.0, ge=0, le=1000, description="gamma: weight of the comparison loss"
    )
    augment: list[Augmentation] = Field(
        default_factory=list, description="per-batch augmentations: swap, repair, crop_flip"
    )
    eval_every: int = Field(
        1,
        strict=True,
        ge=1,
        le=10_000,
        description="evaluate the test set every k epochs and after the last: 1 draws whole "
        "test curves; more saves the evaluations' time (about a fifth of a CPU run)",
    )

    @field_validator("augment")
    @classmethod
    def _unique_augment(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("augmentations must not repeat")
        return v

    def evaluates_after(self, epoch: int) -> bool:
        """Whether the test set is evaluated after `epoch` (0-based): every `eval_every`
        epochs, and always after the last one (the run's reported test accuracy)."""
        return (epoch + 1) % self.eval_every == 0 or epoch + 1 == self.epochs

    def lr_at(self, epoch: int) -> float:
        """Learning rate in force during `epoch` (0-based): the step schedule."""
        if self.lr2 is not None and epoch >= round(self.lr_switch * self.epochs):
            return self.lr2
        return self.lr


class BenchSettings(_Strict):
    """What a bench does as a whole: rounds, data, device, seed, executor."""

    rounds: int = Field(
        1,
        strict=True,
        ge=1,
        le=1000,
        description="rounds, each a fresh draw of pairs and a fresh initialisation (with "
        "folds: how many folds are run)",
    )
    n_pairs: int = Field(
        1000, strict=True, ge=2, le=100_000, description="train pairs and test pairs per round"
    )
    seed: int = Field(
        0, strict=True, ge=0, le=2**31 - 1, description="base seed; round r derives its own"
    )
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    executor: Literal["auto", "serial", "processes", "batched", "ray"] = Field(
        "auto", description="auto, serial, processes, batched or ray"
    )
    jobs: int | None = Field(
        None,
        strict=True,
        ge=1,
        le=256,
        description="worker processes (processes; batched: stacks at once)",
    )
    ray_address: str | None = Field(
        None,
        description="ray executor: the cluster's HOST:PORT (default RAY_ADDRESS, else a "
        "local Ray instance)",
    )
    gpus_per_job: float | None = Field(
        None,
        gt=0,
        le=1,
        description="ray executor on CUDA: the share of a GPU each contestant's "
        "job asks for (default 0.25: four small jobs per GPU)",
    )
    folds: int = Field(
        0,
        strict=True,
        ge=0,
        le=100,
        description="k-fold cross-validation (0: off): one draw of train pairs split into k "
        "folds; round r trains on the other folds and validates on fold r (no test pairs)",
    )

    @model_validator(mode="before")
    @classmethod
    def _rounds_follow_folds(cls, data: Any) -> Any:
        # `--folds 4` alone means every fold once: the reports' "4-fold cross validation".
        if isinstance(data, dict) and data.get("folds") and data.get("rounds") is None:
            return {**data, "rounds": data["folds"]}
        return data

    @property
    def held_out(self) -> str:
        """What a run's "test" accuracy measures: the test pairs, or under cross-validation
        the held-out fold of the train pairs ("val")."""
        return "val" if self.folds else "test"

    @model_validator(mode="after")
    def _folds_fit(self) -> BenchSettings:
        if self.folds == 1:
            raise ValueError("folds must be 0 (off) or at least 2")
        if self.folds and self.rounds > self.folds:
            raise ValueError(
                f"rounds ({self.rounds}) exceeds folds ({self.folds}): with cross-validation "
                "each round validates on one fold"
            )
        if self.folds and self.n_pairs // self.folds < 1:
            raise ValueError(f"{self.n_pairs} pairs cannot be split into {self.folds} folds")
        return self

    @field_validator("device")
    @classmethod
    def _device_form(cls, v: str) -> str:
        if not _DEVICE_RE.match(v):
            raise ValueError("device must be auto, cpu, cuda, cuda:N or mps")
        return v


TRAIN_KEYS = frozenset(TrainSettings.model_fields)
BENCH_KEYS = frozenset(BenchSettings.model_fields)


class SettingsError(ValueError):
    """A settings problem, already phrased as one line for the user."""


def first_error(err: ValidationError) -> tuple[str, str]:
    """(dotted key, message) of a pydantic error's first problem, in the user's words: an
    extra key is an "unknown key", a validator's message loses pydantic's "Value error, ".
    The key is empty for a check across keys."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return key, "unknown key"
    return key, first["msg"].removeprefix("Value error, ")


def describe_validation_error(err: ValidationError, where: str = "") -> str:
    """One line naming the first bad key and what is wrong with it."""
    key, msg = first_error(err)
    prefix = f"{where}: " if where else ""
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{prefix}{key + ': ' if key else ''}{msg}{more}"


def _merge(layers: tuple[dict[str, Any] | None, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:  # later wins; None (a layer or a value) means "not set here"
        if layer:
            merged.update({k: v for k, v in layer.items() if v is not None})
    return merged


def _resolve(model: type[_Strict], layers: tuple[dict[str, Any] | None, ...], where: str):
    try:
        return model(**_merge(layers))
    except ValidationError as err:
        raise SettingsError(describe_validation_error(err, where)) from None


def resolve_train(*layers: dict[str, Any] | None, where: str = "") -> TrainSettings:
    """Merge override layers (None or dicts, later wins) into validated TrainSettings."""
    return _resolve(TrainSettings, layers, where)


def resolve_bench(*layers: dict[str, Any] | None, where: str = "") -> BenchSettings:
    """Merge override layers (None or dicts, later wins) into validated BenchSettings."""
    return _resolve(BenchSettings, layers, where)


def split_keys(
    *layers: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Merge flat settings layers (a preset's [settings]; `--set` then the explicit flags;
    the TUI form), later winning, and split them into (train overrides, bench overrides,
    unknown keys). None, for a layer or a value, means "not set here"."""
    given = _merge(layers)
    train = {k: v for k, v in given.items() if k in TRAIN_KEYS}
    bench = {k: v for k, v in given.items() if k in BENCH_KEYS}
    unknown = [k for k in given if k not in TRAIN_KEYS and k not in BENCH_KEYS]
    return train, bench, unknown


def split_assignment(item: str) -> tuple[str, str] | None:
    """`KEY=VALUE` (`--set`, `--grid`) as (key, raw value text); None without a key or `=`.
    Dashes in the key read as underscores, as in the flags (`batch-size` = `batch_size`)."""
    key, sep, raw = item.partition("=")
    key = key.strip().replace("-", "_")
    return (key, raw.strip()) if sep and key else None


def parse_literal(text: str, *, bare_words: bool = True) -> Any:
    """A TOML literal (`1e-3`, `true`, `["swap"]`, `"adam"`) as a value. With `bare_words` a
    text that is no literal is that string (`adam`); without, it raises ValueError."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as err:
        if bare_words:
            return text  # the schema validates it later, like any value
        raise ValueError(str(err)) from None


RESULTS_DIR = Path("digitduel-results")


def default_results_path(name: str, folder: Path = RESULTS_DIR) -> Path:
    """Where a run's results go unless told: `<folder>/<local time>-<name>.json` (the name made
    safe for a file system). `bench`, `tune`, `reproduce` and the TUI all name files so."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Path(folder) / f"{stamp}-{safe}.json"


def check_field(name: str, value: Any) -> str | None:
    """Return the schema's error message for one field value, or None if it is valid."""
    model = TrainSettings if name in TRAIN_KEYS else BenchSettings if name in BENCH_KEYS else None
    if model is None:
        return "unknown setting"
    try:
        model.__pydantic_validator__.validate_assignment(model.model_construct(), name, value)
    except ValidationError as err:
        return first_error(err)[1]
    return None
