"""The run options that `bench`, `tune` and `reproduce` share, declared once, and the run
they drive.

`@with_run_options` adds the shared options (`-r/--rounds`, `--epochs`, `--set`, `--seed`,
`--n-pairs`, `--device`, `--data-dir`, `--offline`, `-o/--out`, `--resume`, `--executor`,
`-j/--jobs`, `--ray-address`, `--gpus-per-job`, `--force`, `--allow-mixed-executors`,
`--json`, `--model-file`, `--name`) to a Typer command and hands them to it as one
`RunOptions`, so the commands cannot drift apart in names, short flags or help; the user's
model files are loaded before the command runs.
The help of an option that is a setting is the settings schema's own description and default
(digitduel.settings), so a setting reads the same in `--help`, the TUI form and a preset
error. `run_and_report` runs a plan with progress, then prints its table (or its summary
JSON); resume_cmd.py rebuilds a plan from a results file for `--resume`.
"""

from __future__ import annotations

import functools
import inspect
import json
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from digitduel.cli.console import make_console
from digitduel.errors import ConfigError


@dataclass(frozen=True)
class RunOptions:
    """Where a run's data comes from, where it runs, and where its results go."""

    rounds: int | None = None
    epochs: int | None = None
    set_values: tuple[str, ...] | None = None
    seed: int | None = None
    n_pairs: int | None = None
    device: str | None = None
    data_dir: Path | None = None
    offline: bool = False
    out: Path | None = None
    resume: bool = False
    executor: str | None = None
    jobs: int | None = None
    ray_address: str | None = None
    gpus_per_job: float | None = None
    force: bool = False
    allow_mixed_executors: bool = False
    as_json: bool = False
    model_files: tuple[str, ...] | None = None
    name: str | None = None

    def check_resume(self, what: str) -> None:
        if self.resume and self.out is None:
            raise ConfigError(
                f"--resume needs --out FILE: the results file of the {what} to resume"
            )

    def settings(self, **own: Any) -> dict[str, Any]:
        """The settings given, as one flat dict of schema keys (None: not given): `--set`,
        then a command's `own` flags and the shared ones (explicit flags win over --set)."""
        return {**parse_set(list(self.set_values or [])), **self._flags(own)}

    def flag_names(self, **own: Any) -> dict[str, str]:
        """Schema key -> the flag the user typed for it (`--epochs`, `--set aux_weight`)."""
        names = {k: f"--set {k}" for k in parse_set(list(self.set_values or []))}
        return names | {k: "--" + k.replace("_", "-") for k in self._flags(own)}

    def _flags(self, own: dict[str, Any]) -> dict[str, Any]:
        flags = {
            "rounds": self.rounds, "epochs": self.epochs, "seed": self.seed,
            "n_pairs": self.n_pairs, "device": self.device, "executor": self.executor,
            "jobs": self.jobs, "ray_address": self.ray_address,
            "gpus_per_job": self.gpus_per_job, **own,
        }  # fmt: skip
        return {k: v for k, v in flags.items() if v is not None}

    def given(self) -> list[str]:
        """The shared options given on the command line, by flag (for `reproduce --from`)."""
        defaults = asdict(RunOptions())
        return [_FLAGS[name] for name, value in asdict(self).items() if value != defaults[name]]

    def data_source(self) -> dict[str, Any]:
        """The plan functions' `data_dir` (absolute: the results file records it) and
        `offline`."""
        return {
            "data_dir": str(self.data_dir.resolve()) if self.data_dir else None,
            "offline": self.offline,
        }

    def results_path(self, name: str) -> Path:
        from digitduel.settings import default_results_path

        return self.out or default_results_path(name)


def setting_help(key: str, default: str | None = None) -> str:
    """An option's help from the settings schema: the field's description, then its default
    (`default` when the command's default is not the schema's, e.g. "the recipe's")."""
    from pydantic_core import PydanticUndefined

    from digitduel.settings import BenchSettings, TrainSettings

    field = (TrainSettings.model_fields | BenchSettings.model_fields)[key]
    # As written in the schema (lower case: "auto, cpu, cuda..." must not read "Auto").
    text = (field.description or key.replace("_", " ")).rstrip(".")
    if default is None and field.default is not PydanticUndefined:
        default = "auto" if field.default is None else str(field.default)
    return f"{text}." + (f" Default: {default}." if default else "")


def _setting(key: str, *flags: str, metavar: str, default: str | None = None) -> Any:
    return typer.Option(
        "--" + key.replace("_", "-"),
        *flags,
        help=setting_help(key, default),
        metavar=metavar,
        show_default=False,
    )


RESUME_HINT = "digitduel resume {out}"  # continues any results file, whoever wrote it

ModelFiles = Annotated[
    list[str] | None,
    typer.Option(
        "--model-file",
        metavar="PATH.py[:Name]",
        help="Your own model file or module:attr reference (repeatable; also "
        "DIGITDUEL_MODEL_FILES and installed 'digitduel.models' entry points); PATH.py:Name "
        "registers a plain nn.Module class.",
        show_default=False,
    ),
]
ModelName = Annotated[
    str | None,
    typer.Option(
        "--name",
        metavar="NAME",
        help="Registry name for the plain class of --model-file PATH.py:Name.",
    ),
]


def load_model_files(model_files: list[str] | None, name: str | None = None) -> None:
    """Load `--model-file`s (with `--name` for the one naming a plain class), then
    DIGITDUEL_MODEL_FILES and the installed entry points: every way in, for any command."""
    from dataclasses import replace

    from digitduel.models.user import load_user_models, parse_source

    sources = [parse_source(f) for f in model_files or []]
    if name is not None:
        named = [s for s in sources if s.attr]
        if len(named) != 1:
            raise ConfigError(
                "--name names one plain class: give exactly one --model-file PATH.py:Class with it"
            )
        sources = [replace(s, name=name) if s.attr else s for s in sources]
    load_user_models(sources)


# Each option's Typer declaration, in the order --help lists them (after a command's own).
_DECLARED = {
    "rounds": Annotated[
        int | None, _setting("rounds", "-r", metavar="INT", default="the preset's, else 1")
    ],
    "epochs": Annotated[
        int | None, _setting("epochs", metavar="INT", default="the model's recipe")
    ],
    "set_values": Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Any setting of the schema, repeatable (e.g. --set aux_weight=0.5 --set "
            "'augment=[\"swap\"]'); values are TOML literals, bare words are strings.",
            show_default=False,
        ),
    ],
    "seed": Annotated[int | None, _setting("seed", metavar="INT")],
    "n_pairs": Annotated[int | None, _setting("n_pairs", metavar="INT")],
    "device": Annotated[str | None, _setting("device", metavar="NAME")],
    "data_dir": Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            metavar="PATH",
            help="Folder with the four MNIST IDX files. Default: the cache, else a download.",
        ),
    ],
    "offline": Annotated[
        bool, typer.Option("--offline", metavar="", help="Never download the data.")
    ],
    "out": Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="PATH",
            help="Results file. Default: ./digitduel-results/ <time>-<name>.json (a new file).",
        ),
    ],
    "resume": Annotated[
        bool,
        typer.Option(
            "--resume",
            metavar="",
            help="Continue the --out file's bench from its stored plan: only the runs it "
            "lacks are run (-r may grow it; other settings given must agree).",
        ),
    ],
    "executor": Annotated[str | None, _setting("executor", metavar="NAME")],
    "jobs": Annotated[
        int | None,
        _setting("jobs", "-j", metavar="INT", default="one per usable core, at most one per run"),
    ],
    "ray_address": Annotated[str | None, _setting("ray_address", metavar="HOST:PORT", default="")],
    "gpus_per_job": Annotated[float | None, _setting("gpus_per_job", metavar="FLOAT", default="")],
    "force": Annotated[
        bool,
        typer.Option("--force", metavar="", help="Replace an existing --out file and its journal."),
    ],
    "allow_mixed_executors": Annotated[
        bool,
        typer.Option(
            "--allow-mixed-executors",
            metavar="",
            help="Let --resume add batched runs to per-run ones (serial, processes), or the "
            "reverse.",
        ),
    ],
    "as_json": Annotated[
        bool, typer.Option("--json", metavar="", help="Print only the summary JSON on stdout.")
    ],
    "model_files": ModelFiles,
    "name": ModelName,
}
_FLAGS = {
    "rounds": "--rounds", "epochs": "--epochs", "set_values": "--set", "seed": "--seed",
    "n_pairs": "--n-pairs", "device": "--device", "data_dir": "--data-dir",
    "offline": "--offline", "out": "--out", "resume": "--resume", "executor": "--executor",
    "jobs": "--jobs", "ray_address": "--ray-address", "gpus_per_job": "--gpus-per-job",
    "as_json": "--json", "force": "--force",
    "allow_mixed_executors": "--allow-mixed-executors", "model_files": "--model-file",
    "name": "--name",
}  # fmt: skip
_DEFAULTS = asdict(RunOptions())
_SHARED = [
    inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=_DEFAULTS[name], annotation=declared
    )
    for name, declared in _DECLARED.items()
]


def with_run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command(..., *, run: RunOptions)` the shared options as Typer options."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "run"]

    @functools.wraps(command)
    def with_options(*args: Any, **kwargs: Any) -> Any:
        values = {p.name: kwargs.pop(p.name) for p in _SHARED}
        values["set_values"] = tuple(values["set_values"] or ()) or None
        values["model_files"] = tuple(values["model_files"] or ()) or None
        _start_workers_early(values, kwargs)  # before anything below imports torch
        load_model_files(list(values["model_files"] or ()), values["name"])
        return command(*args, run=RunOptions(**values), **kwargs)

    # Typer reads the options from the signature: the command's own, then the shared ones.
    with_options.__signature__ = signature.replace(parameters=own + _SHARED)  # type: ignore
    return with_options


def _start_workers_early(values: dict[str, Any], own: dict[str, Any]) -> None:
    """Start the processes executor's forkserver now, if the options point to it, so that its
    ~3 s of imports run beside this process's own (digitduel.bench.forkserver). Skipped for
    an explicit single run (one -m model, one round), which the serial executor trains."""
    from digitduel.bench.forkserver import start_early

    try:
        chosen = parse_set(list(values["set_values"] or ()))
    except ConfigError:
        return  # said properly once the command reads its settings
    models = own.get("model")
    one_run = (
        (values["rounds"] or chosen.get("rounds") or 1) == 1
        and isinstance(models, list)
        and len(models) == 1
        and not own.get("all_models")
        and own.get("preset") is None
        and not values["resume"]
    )
    if one_run:
        return
    start_early(
        values["executor"] or chosen.get("executor"),
        values["device"] or chosen.get("device"),
        values["jobs"] or chosen.get("jobs"),
    )


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` pairs (TOML literals, bare words are strings) as one flat dict of
    schema keys; split it with `settings.split_keys`. The schema validates the values later,
    with the same one-line errors as presets and the TUI form."""
    from digitduel.settings import (
        BENCH_KEYS,
        TRAIN_KEYS,
        parse_literal,
        split_assignment,
        split_keys,
    )

    values = {}
    for item in items:
        parts = split_assignment(item)
        if parts is None:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        values[parts[0]] = parse_literal(parts[1])
    unknown = split_keys(values)[2]
    if unknown:
        known = ", ".join(sorted(TRAIN_KEYS | BENCH_KEYS))
        raise ConfigError(f"--set: unknown setting {unknown[0]!r} (known: {known})")
    return values


def run_and_report(
    plan: Any, run: RunOptions, extra: Callable | None = None, *, hint: str = RESUME_HINT
) -> None:
    """Run the plan with progress, then print its table (or with `--json` its summary).
    `extra(result, console)` prints more after the table and returns keys for the JSON.
    `hint`: the command that continues the bench after Ctrl-C, `{out}` the results file."""
    from digitduel.bench.journal import journal_path
    from digitduel.report.tables import environment_line, results_table, summary_dict

    out = run.results_path(plan.name)
    console = make_console(stderr=run.as_json)
    if run.force and not run.resume and (out.exists() or journal_path(out).exists()):
        console.print(f"note: --force: {out} and its journal are replaced")
    result = run_with_progress(plan, out, run, console)
    if not run.as_json:
        console.print(results_table(result))
        console.print(environment_line(result), style="dim", markup=False, highlight=False)
    more = extra(result, None if run.as_json else console) if extra else {}
    if run.as_json:
        typer.echo(json.dumps({**summary_dict(result, str(out)), **more}, indent=1))
    else:
        console.print(f"results: {out}")
    exit_if_interrupted(result, hint.format(out=shlex.quote(str(out))))


def run_with_progress(plan: Any, out: Path, run: RunOptions, console: Any) -> Any:
    """`run_bench` with the progress display that suits `console`."""
    from digitduel.bench.runner import run_bench
    from digitduel.report.progress import make_listener

    with make_listener(console) as listener:
        return run_bench(
            plan,
            out,
            resume=run.resume,
            force=run.force,
            allow_mixed_executors=run.allow_mixed_executors,
            on_event=listener,
            on_download=listener.on_download,
        )


def exit_if_interrupted(result: Any, hint: str) -> None:
    """After a cancelled bench: say where its runs are and how to continue it; exit 130."""
    if result.status == "cancelled":
        typer.echo(f"interrupted: finished runs kept; continue with: {hint}", err=True)
        raise typer.Exit(130)
