"""The run options that `bench` and `tune` share, declared once, and the run they drive.

`@with_run_options` adds the shared options (`--device`, `--data-dir`, `--offline`, `-o/--out`,
`--resume`, `--force`, `--allow-mixed-executors`, `--executor`, `-j/--jobs`, `--ray-address`,
`--gpus-per-job`, `--json`, `--model-file`, `--name`) to a Typer command and hands them to it
as one `RunOptions`, so the commands cannot drift apart in names, short flags or help; the
user's model files are loaded before the command runs.
`parse_set` reads `--set KEY=VALUE` and `run_and_report` runs a plan with progress, then
prints its table (or its summary JSON).
"""

from __future__ import annotations

import functools
import inspect
import json
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

    device: str | None = None
    data_dir: Path | None = None
    offline: bool = False
    out: Path | None = None
    resume: bool = False
    force: bool = False
    allow_mixed_executors: bool = False
    executor: str | None = None
    jobs: int | None = None
    ray_address: str | None = None
    gpus_per_job: float | None = None
    as_json: bool = False
    model_files: list[str] | None = None
    name: str | None = None

    def check_resume(self, what: str) -> None:
        if self.resume and self.out is None:
            raise ConfigError(
                f"--resume needs --out FILE: the results file of the {what} to resume"
            )

    def bench_flags(self) -> dict[str, Any]:
        """The bench settings among the options (None: not given)."""
        return {
            "device": self.device,
            "executor": self.executor,
            "jobs": self.jobs,
            "ray_address": self.ray_address,
            "gpus_per_job": self.gpus_per_job,
        }

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
    typer.Option("--name", help="Registry name for the plain class of --model-file PATH.py:Name."),
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
            raise ConfigError("--name names one plain class: give exactly one --model-file "
                              "PATH.py:Class with it")
        sources = [replace(s, name=name) if s.attr else s for s in sources]
    load_user_models(sources)


# Each option's Typer declaration, in the order --help lists them (after a command's own).
_DECLARED = {
    "device": Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")
    ],
    "data_dir": Annotated[
        Path | None, typer.Option("--data-dir", help="Folder with the four MNIST IDX files.")
    ],
    "offline": Annotated[bool, typer.Option("--offline", help="Never download the data.")],
    "out": Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Results file (default: ./digitduel-results/<time>-<name>.json)."
        ),
    ],
    "resume": Annotated[
        bool, typer.Option("--resume", help="Skip the runs the --out file's journal has.")
    ],
    "force": Annotated[
        bool, typer.Option("--force", help="Replace an existing --out file and its journal.")
    ],
    "allow_mixed_executors": Annotated[
        bool,
        typer.Option(
            "--allow-mixed-executors",
            help="Let --resume add batched runs to per-run ones (serial, processes), or the reverse.",
        ),
    ],
    "executor": Annotated[
        str | None, typer.Option("--executor", help="auto, serial, processes, batched or ray.")
    ],
    "jobs": Annotated[
        int | None, typer.Option("--jobs", "-j", help="Worker processes (processes executor).")
    ],
    "ray_address": Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="ray executor: the cluster's HOST:PORT (default: $RAY_ADDRESS, else a local Ray).",
        ),
    ],
    "gpus_per_job": Annotated[
        float | None,
        typer.Option("--gpus-per-job", help="ray executor on CUDA: GPU share per job (default 0.25)."),
    ],
    "as_json": Annotated[
        bool, typer.Option("--json", help="Print only the summary JSON on stdout.")
    ],
    "model_files": ModelFiles,
    "name": ModelName,
}
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
        run = RunOptions(**{p.name: kwargs.pop(p.name) for p in _SHARED})
        load_model_files(run.model_files, run.name)
        return command(*args, run=run, **kwargs)

    # Typer reads the options from the signature: the command's own, then the shared ones.
    with_options.__signature__ = signature.replace(parameters=own + _SHARED)  # type: ignore
    return with_options


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


def run_and_report(plan: Any, run: RunOptions, extra: Callable | None = None) -> None:
    """Run the plan with progress, then print its table (or with `--json` its summary).
    `extra(result, console)` prints more after the table and returns keys for the JSON."""
    from digitduel.bench.journal import journal_path
    from digitduel.bench.runner import run_bench
    from digitduel.report.progress import make_listener
    from digitduel.report.tables import results_table, summary_dict

    out = run.results_path(plan.name)
    console = make_console(stderr=run.as_json)
    if run.force and not run.resume and (out.exists() or journal_path(out).exists()):
        console.print(f"note: --force: {out} and its journal are replaced")
    with make_listener(console) as listener:
        result = run_bench(
            plan,
            out,
            resume=run.resume,
            force=run.force,
            allow_mixed_executors=run.allow_mixed_executors,
            on_event=listener,
            on_download=listener.on_download,
        )
    if not run.as_json:
        console.print(results_table(result))
    more = extra(result, None if run.as_json else console) if extra else {}
    if run.as_json:
        typer.echo(json.dumps({**summary_dict(result, str(out)), **more}, indent=1))
    else:
        console.print(f"results: {out}")
    if result.status == "cancelled":
        typer.echo(
            f"interrupted: finished runs kept in {out} (continue with --resume --out {out})",
            err=True,
        )
        raise typer.Exit(130)
