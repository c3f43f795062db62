"""Presets: one TOML file per report protocol, in the repo's top-level `presets/` folder
(shipped in the wheel as `digitduel._presets`), or any `.toml` file given by path.

    name = "quick"
    description = "..."
    model_files = ["my_nets.py"]  # optional: user model files, relative to this preset file
    [settings]                 # train keys (lr, epochs, ...) and bench keys (rounds, seed, n_pairs)
    epochs = 5
    rounds = 2
    [[contestants]]            # label (defaults to the model), model, then any train keys
    label = "ws-aux"
    model = "sgd-ws-aux"
    lr = 0.05
    [report]                   # the report's published numbers, percent as published
    source = "Table II, 10 rounds"
    [report.ws-aux]
    mean = 97.9
    std = 0.4

Every problem is a `ConfigError` (exit 2) naming the file and the key, e.g.
`presets/foo.toml: [[contestants]] #2 'lrr': unknown key`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from digitduel.bench.plan import BenchPlan, ReportRow, contestant_for, make_bench_settings
from digitduel.errors import ConfigError
from digitduel.settings import (
    BENCH_KEYS,
    TRAIN_KEYS,
    SettingsError,
    first_error,
    resolve_train,
    split_keys,
)

TOP_KEYS = {"name", "description", "model_files", "settings", "contestants", "report"}
CONTESTANT_KEYS = {"label", "model"}


@dataclass
class Preset:
    name: str
    description: str
    where: str  # how errors name the file: presets/<name>.toml or the path given
    train: dict[str, Any] = field(default_factory=dict)
    bench: dict[str, Any] = field(default_factory=dict)
    contestants: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, ReportRow] | None = None
    report_source: str | None = None
    model_files: list[str] = field(default_factory=list)  # absolute (or module:attr) sources

    def to_plan(
        self,
        *,
        train_overrides: dict[str, Any] | None = None,
        bench_overrides: dict[str, Any] | None = None,
        data_dir: str | None = None,
        offline: bool = False,
        extra_models: list[str] | None = None,
    ) -> BenchPlan:
        """The preset's plan; `extra_models` (e.g. the user's own, `reproduce -m mine`) join
        its contestants with their own recipe and the CLI overrides, not the preset's
        [settings], which are the report's set-up for the report's models."""
        if self.model_files:
            from digitduel.models.user import load_source

            for source in self.model_files:
                load_source(source)  # its one-line ConfigError names the file
        contestants = []
        for i, entry in enumerate(self.contestants, start=1):
            own = {k: v for k, v in entry.items() if k not in CONTESTANT_KEYS}
            contestants.append(
                contestant_for(
                    entry["model"],
                    label=entry.get("label"),
                    layers=[self.train, own, train_overrides],
                    where=f"{self.where}: [[contestants]] #{i}",
                )
            )
        contestants += _extra_contestants(extra_models or [], contestants, train_overrides)
        bench = make_bench_settings(self.bench, where=f"{self.where}: [settings]")
        bench = make_bench_settings(bench.model_dump(), bench_overrides, where="flags")
        return BenchPlan(
            name=self.name,
            description=self.description,
            contestants=contestants,
            bench=bench,
            data_dir=data_dir,
            offline=offline,
            preset=self.name,
            report=self.report,
            report_source=self.report_source,
        )


def _extra_contestants(
    models: list[str], present: list[Any], train_overrides: dict[str, Any] | None
) -> list[Any]:
    from digitduel.models.user import model_names

    labels = {c.label for c in present}
    extra = []
    for name in model_names(models):
        if name in labels:
            raise ConfigError(f"--model {name}: the preset already has a contestant {name!r}")
        labels.add(name)
        extra.append(contestant_for(name, layers=[train_overrides], where="flags"))
    return extra


def builtin_dir():
    return resources.files("digitduel._presets")


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in builtin_dir().iterdir() if p.name.endswith(".toml"))


def list_presets() -> list[Preset]:
    return [load_preset(n) for n in builtin_names()]


def load_preset(name_or_path: str) -> Preset:
    """A built-in preset by name, or a TOML file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"preset file {name_or_path} not found")
        return parse_preset(
            _read_text(path, name_or_path), where=str(name_or_path), base=path.parent
        )
    resource = builtin_dir() / f"{name_or_path}.toml"
    if not resource.is_file():
        from digitduel.models.registry import report_key  # an earlier name of a report's

        name_or_path = report_key(name_or_path)
        resource = builtin_dir() / f"{name_or_path}.toml"
    if not resource.is_file():
        known = ", ".join(builtin_names()) or "none"
        raise ConfigError(f"unknown preset {name_or_path!r} (known: {known})")
    return parse_preset(resource.read_text(encoding="utf-8"), where=f"presets/{name_or_path}.toml")


def _read_text(path: Path, where: str) -> str:
    """A preset file's text; unreadable or non-UTF-8 bytes are one line naming the file."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{where}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{where}: not UTF-8 text (byte 0x{err.object[err.start]:02x} on line {line}); "
            "save the preset as UTF-8"
        ) from None


def plan_from_preset(name_or_path: str, **overrides: Any) -> BenchPlan:
    """The plan of a built-in preset (by name) or a preset file (by path), with overrides:
    `Preset.to_plan`'s keywords (train_overrides, bench_overrides, data_dir, offline,
    extra_models), passed on as they are."""
    return load_preset(name_or_path).to_plan(**overrides)


def parse_preset(text: str, *, where: str, base: Path | None = None) -> Preset:
    """A preset from its TOML text; `base` is the folder its `model_files` are relative to
    (the preset file's own; None: the current directory)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where}: not valid TOML ({err})") from None
    _no_unknown(doc, TOP_KEYS, where)
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name': a non-empty string is required")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: 'description': must be a string")
    model_files = _model_files(doc.get("model_files", []), where, base)

    settings = _table(doc.get("settings", {}), f"{where}: [settings]")
    train, bench, unknown = split_keys(settings)
    if unknown:
        raise ConfigError(f"{where}: [settings] {unknown[0]!r}: unknown key")
    _check_train(train, f"{where}: [settings]")
    make_bench_settings(bench, where=f"{where}: [settings]")

    raw = doc.get("contestants")
    if not isinstance(raw, list) or not raw or not all(isinstance(c, dict) for c in raw):
        raise ConfigError(f"{where}: [[contestants]]: at least one contestant table is required")
    contestants, labels = [], set()
    for i, entry in enumerate(raw, start=1):
        at = f"{where}: [[contestants]] #{i}"
        for key in entry:
            if key in BENCH_KEYS:
                raise ConfigError(f"{at} {key!r}: a bench setting; put it in [settings]")
            if key not in CONTESTANT_KEYS and key not in TRAIN_KEYS:
                raise ConfigError(f"{at} {key!r}: unknown key")
        if not isinstance(entry.get("model"), str):
            raise ConfigError(f"{at} 'model': a model name is required")
        label = entry.get("label", entry["model"])
        if not isinstance(label, str) or not label:
            raise ConfigError(f"{at} 'label': must be a non-empty string")
        if label in labels:
            raise ConfigError(f"{at} 'label': {label!r} is used twice")
        labels.add(label)
        _check_train({k: v for k, v in entry.items() if k in TRAIN_KEYS}, at)
        contestants.append(entry)

    report, source = _report(doc.get("report"), labels, where)
    return Preset(
        name=name,
        description=description,
        where=where,
        train=train,
        bench=bench,
        contestants=contestants,
        report=report,
        report_source=source,
        model_files=model_files,
    )


def _model_files(raw: Any, where: str, base: Path | None) -> list[str]:
    """`model_files = ["my_nets.py", "labnets.models:Net"]`: files resolved against `base`."""
    if not isinstance(raw, list) or not all(isinstance(f, str) and f.strip() for f in raw):
        raise ConfigError(f"{where}: 'model_files': must be a list of file paths (strings)")
    from digitduel.models.user import parse_source

    resolved = []
    for item in raw:
        target, sep, attr = item.rpartition(":") if ":" in item else (item, "", "")
        path = Path(target).expanduser()
        if target.endswith(".py") and not path.is_absolute():
            item = str((base or Path.cwd()) / path) + sep + attr
        try:
            parse_source(item)  # a malformed entry is an error now, naming the preset
        except ConfigError as err:
            raise ConfigError(f"{where}: 'model_files': {err}") from None
        resolved.append(item)
    return resolved


def _report(
    raw: Any, labels: set[str], where: str
) -> tuple[dict[str, ReportRow] | None, str | None]:
    if raw is None:
        return None, None
    raw = _table(raw, f"{where}: [report]")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise ConfigError(f"{where}: [report] 'source': must be a string")
    rows = {}
    for label, row in raw.items():
        if label == "source":
            continue
        if label not in labels:
            raise ConfigError(f"{where}: [report.{label}]: no contestant has this label")
        try:
            rows[label] = ReportRow(**_table(row, f"{where}: [report.{label}]"))
        except ValidationError as err:
            key, msg = first_error(err)
            raise ConfigError(f"{where}: [report.{label}] {key!r}: {msg}") from None
    return rows, source


def _check_train(values: dict[str, Any], where: str) -> None:
    """Validate a layer on its own, so a wrong type is blamed on the table that has it."""
    try:
        resolve_train(values, where=where)
    except SettingsError as err:
        raise ConfigError(str(err)) from None


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table")
    return value


def _no_unknown(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in doc:
        if key not in allowed:
            raise ConfigError(f"{where}: {key!r}: unknown key")
