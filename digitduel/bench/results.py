"""The results file: a versioned pydantic schema, written atomically, read back strictly.

Accuracies are fractions (0..1) in the file and percent only on screen. `runs` holds every
finished run (one per contestant and round); `summary` is derived from them (mean and sample
standard deviation over the rounds that ended "ok"; diverged and failed runs are counted, not
averaged, so one NaN does not hide behind a mean).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from digitduel.bench.plan import BenchPlan, Contestant, ReportRow
from digitduel.bench.provenance import ModelProvenance
from digitduel.errors import DigitduelError
from digitduel.numbers import mean_std
from digitduel.settings import BenchSettings, first_error

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EpochRecord(_Model):
    epoch: int
    train_loss: float | None  # None: not finite (the epoch the run diverged)
    train_accuracy: float
    test_accuracy: float | None  # None on epochs that `eval_every` skipped
    digit_accuracy: float | None = None
    lr: float
    elapsed_s: float


class RunRecord(_Model):
    model: str  # the contestant label
    model_name: str  # the registered model
    round: int  # 0-based
    seed: int  # init seed
    data_seed: int
    status: Literal["ok", "diverged", "failed"]
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    digit_accuracy: float | None = None
    wall_time_s: float = 0.0  # training steps only
    total_time_s: float = 0.0  # with per-epoch evaluation and set-up
    params: int = 0
    device: str = "cpu"
    channels_last: bool = False
    error: str | None = None
    host: str | None = None  # hostname of the machine it ran on (None: older files)
    node: str | None = None  # the executor's node id (Ray), where one machine holds several
    # Which executor trained it: batched runs draw other dropout masks and batch orders than
    # per-run executors (serial, processes), so `--resume` does not mix the two unasked.
    executor: str | None = None
    epochs: list[EpochRecord] = Field(default_factory=list)


class ContestantSummary(_Model):
    label: str
    model_name: str
    params: int | None = None
    runs: int
    ok: int
    diverged: int
    failed: int
    train_mean: float | None = None
    train_std: float | None = None
    test_mean: float | None = None
    test_std: float | None = None
    digit_mean: float | None = None
    time_mean_s: float | None = None  # training wall time per run


class Environment(_Model):
    digitduel: str
    torch: str
    python: str
    platform: str
    device: str
    device_name: str
    cpu: str
    gpu: str | None = None
    threads: int
    executor: str
    jobs: int


class DataInfo(_Model):
    source: str
    path: str | None = None
    verified: bool = False
    n_pairs: int
    description: str


class BenchResult(_Model):
    schema_version: int = SCHEMA_VERSION
    name: str
    preset: str | None = None
    description: str | None = None
    status: Literal["finished", "cancelled", "running"] = "finished"
    created: str
    finished: str | None = None
    environment: Environment
    data: DataInfo
    bench: BenchSettings
    contestants: list[Contestant]
    # User models (by registered name): file or distribution, SHA-256 of the sources. Absent
    # from files written before it existed, and when every contestant is a built-in.
    models: dict[str, ModelProvenance] | None = None
    report: dict[str, ReportRow] | None = None
    report_source: str | None = None
    runs: list[RunRecord] = Field(default_factory=list)
    summary: list[ContestantSummary] = Field(default_factory=list)


def now_iso() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def summarise(contestants: list[Contestant], runs: list[RunRecord]) -> list[ContestantSummary]:
    out = []
    for c in contestants:
        mine = [r for r in runs if r.model == c.label]
        ok = [r for r in mine if r.status == "ok"]
        train = [r.train_accuracy for r in ok if r.train_accuracy is not None]
        test = [r.test_accuracy for r in ok if r.test_accuracy is not None]
        digits = [r.digit_accuracy for r in ok if r.digit_accuracy is not None]
        times = [r.wall_time_s for r in mine if r.status != "failed"]
        out.append(
            ContestantSummary(
                label=c.label,
                model_name=c.model,
                params=next((r.params for r in mine if r.params), None),
                runs=len(mine),
                ok=len(ok),
                diverged=sum(r.status == "diverged" for r in mine),
                failed=sum(r.status == "failed" for r in mine),
                train_mean=mean_std(train)[0],
                train_std=mean_std(train)[1],  # the sample std, None below two rounds
                test_mean=mean_std(test)[0],
                test_std=mean_std(test)[1],
                digit_mean=mean_std(digits)[0],
                time_mean_s=mean_std(times)[0],
            )
        )
    return out


def order_runs(contestants: list[Contestant], runs: list[RunRecord]) -> list[RunRecord]:
    """One run per (contestant, round), the last one written winning; plan order, then round."""
    rank = {c.label: i for i, c in enumerate(contestants)}
    unique = {(r.model, r.round): r for r in runs}
    return sorted(unique.values(), key=lambda r: (rank.get(r.model, len(rank)), r.round))


def environment(device, executor: str, jobs: int, threads: int) -> Environment:
    import torch

    from digitduel import __version__
    from digitduel.training.device import cpu_model, device_name

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return Environment(
        digitduel=__version__,
        torch=torch.__version__,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        device=str(device),
        device_name=device_name(device),
        cpu=cpu_model(),
        gpu=gpu,
        threads=threads,
        executor=executor,
        jobs=jobs,
    )


def save_results(result: BenchResult, path: str | Path) -> Path:
    """Write to a temporary file beside `path`, fsync, then rename: never a half-written file.
    A failure (a full disk) leaves the previous file as it was, and raises OSError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it 0600; a results file is for sharing
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(result.model_dump_json(indent=1))
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_results(path: str | Path) -> BenchResult:
    """Read a results file; a missing, corrupt or foreign file is one clear line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DigitduelError(f"results file {path} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DigitduelError(f"cannot read results file {path}: {err}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise DigitduelError(
            f"{path} is not valid JSON (line {err.lineno}): corrupt results file?"
        ) from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise DigitduelError(f"{path} is not a digitduel results file (no schema_version)")
    version = doc["schema_version"]
    if type(version) is not int:  # noqa: E721 - "1" or true are not the number 1
        raise DigitduelError(
            f"{path}: schema_version is {json.dumps(version)} ({type(version).__name__}); "
            f"this digitduel reads the number {SCHEMA_VERSION}"
        )
    if version != SCHEMA_VERSION:
        raise DigitduelError(
            f"{path} has schema version {version}; this digitduel reads {SCHEMA_VERSION}"
        )
    try:
        return BenchResult.model_validate(doc)
    except ValidationError as err:
        where, msg = first_error(err)
        raise DigitduelError(f"{path}: invalid results file at {where}: {msg}") from None


__all__ = [
    "SCHEMA_VERSION",
    "BenchPlan",
    "BenchResult",
    "ContestantSummary",
    "DataInfo",
    "EpochRecord",
    "Environment",
    "RunRecord",
    "load_results",
    "save_results",
    "summarise",
]
