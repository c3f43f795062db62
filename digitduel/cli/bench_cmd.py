"""`digitduel bench`, `show`, `compare` and `presets`: thin Typer commands over digitduel.bench.

On a terminal `bench` shows rich progress bars (overall, each run in flight, ETA); elsewhere
(pipes, CI, nohup) one plain line per finished run; `--json` keeps stdout for the summary JSON
alone (progress lines then go to stderr).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from digitduel.cli.main import app
from digitduel.errors import ConfigError

# Options that `bench` and `tune` (and anything else that runs a plan) share, defined once.
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Folder with the four MNIST IDX files.")
]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Never download the data.")]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="Results file (default: ./digitduel-results/<time>-<name>.json)."
    ),
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Skip the runs the --out file's journal has.")
]
ExecutorOpt = Annotated[
    str | None, typer.Option("--executor", help="auto, serial, processes, batched or ray.")
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="ray executor: the cluster's HOST:PORT (default: $RAY_ADDRESS, else a local Ray).",
    ),
]
GpusPerJobOpt = Annotated[
    float | None,
    typer.Option("--gpus-per-job", help="ray executor on CUDA: GPU share per job (default 0.25)."),
]
JobsOpt = Annotated[
    int | None, typer.Option("--jobs", "-j", help="Worker processes (processes executor).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print only the summary JSON on stdout.")]


def _console(stderr: bool = False):
    """A rich console; off a terminal (logs, pipes) wide enough that tables do not wrap."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160)
    return console


def _default_out(name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return Path("digitduel-results") / f"{stamp}-{safe}.json"


@app.command()
def bench(
    all_models: bool = typer.Option(
        False, "--all", help="Every registered model with its report's recipe."
    ),
    model: list[str] = typer.Option(None, "--model", "-m", help="A model to bench (repeatable)."),
    preset: str = typer.Option(None, "--preset", "-p", help="A preset name or a .toml file."),
    rounds: int = typer.Option(
        None, "--rounds", "-r", help="Rounds (fresh data draw and init each)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Override every contestant's epochs."),
    lr: float = typer.Option(None, "--lr", help="Override every contestant's learning rate."),
    optimizer: str = typer.Option(
        None, "--optimizer", help="adam, sgd or rmsprop for every contestant."
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Override every contestant's batch size."
    ),
    set_values: list[str] | None = typer.Option(
        None,
        "--set",
        help="Any setting of the schema as KEY=VALUE, repeatable (e.g. --set aux_weight=0.5 "
        "--set 'augment=[\"swap\"]'); values are TOML literals, bare words are strings.",
        show_default=False,
    ),
    eval_every: int = typer.Option(
        None,
        "--eval-every",
        help="Evaluate the test set every K epochs and after the last (default 1); "
        "larger saves about a fifth of a CPU run, with sparser test curves.",
    ),
    device: DeviceOpt = None,
    data_dir: DataDirOpt = None,
    offline: OfflineOpt = False,
    seed: int = typer.Option(None, "--seed", help="Base seed; round r derives its own."),
    n_pairs: int = typer.Option(None, "--n-pairs", help="Train pairs and test pairs per round."),
    out: OutOpt = None,
    resume: ResumeOpt = False,
    executor: ExecutorOpt = None,
    jobs: JobsOpt = None,
    ray_address: RayAddressOpt = None,
    gpus_per_job: GpusPerJobOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train contestants x rounds and report mean ± std accuracy and time per run."""
    from digitduel.bench.plan import plan_for_all, plan_for_models, plan_from_preset

    chosen = sum([bool(all_models), bool(model), preset is not None])
    if chosen != 1:
        raise ConfigError("choose exactly one of --all, --model NAME ... or --preset NAME|FILE")
    if resume and out is None:
        raise ConfigError("--resume needs --out FILE: the results file of the bench to resume")
    # Explicit flags win over --set; both go through the same schema.
    set_train, set_bench = _parse_set(set_values or [])
    train = {
        "epochs": epochs,
        "lr": lr,
        "optimizer": optimizer,
        "batch_size": batch_size,
        "eval_every": eval_every,
    }
    bench_keys = {
        "rounds": rounds,
        "device": device,
        "seed": seed,
        "n_pairs": n_pairs,
        "executor": executor,
        "jobs": jobs,
        "ray_address": ray_address,
        "gpus_per_job": gpus_per_job,
    }
    common = {
        "train_overrides": {**set_train, **{k: v for k, v in train.items() if v is not None}},
        "bench_overrides": {**set_bench, **{k: v for k, v in bench_keys.items() if v is not None}},
        "data_dir": str(data_dir.resolve()) if data_dir else None,
        "offline": offline,
    }
    if preset is not None:
        plan = plan_from_preset(preset, **common)
    elif all_models:
        plan = plan_for_all(**common)
    else:
        plan = plan_for_models(list(model), **common)
    out = out or _default_out(plan.name)
    _run_and_report(plan, out, resume=resume, as_json=as_json)


def _parse_set(items: list[str]) -> tuple[dict, dict]:
    """`--set KEY=VALUE` pairs -> (train overrides, bench overrides). The schema validates
    the values later, with the same one-line errors as presets and the TUI form."""
    import tomllib

    from digitduel.settings import BENCH_KEYS, TRAIN_KEYS, split_keys

    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            values[key] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            values[key] = raw.strip()  # a bare word: a string
    train, bench, unknown = split_keys(values)
    if unknown:
        known = ", ".join(sorted(TRAIN_KEYS | BENCH_KEYS))
        raise ConfigError(f"--set: unknown setting {unknown[0]!r} (known: {known})")
    return train, bench


def _run_and_report(plan, out: Path, *, resume: bool, as_json: bool, extra=None) -> None:
    """Run the plan with progress, then print its table (or with `--json` its summary).
    `extra(result, console)` prints more after the table and returns keys for the JSON."""
    from digitduel.bench.journal import journal_path
    from digitduel.bench.runner import run_bench
    from digitduel.report.progress import make_listener
    from digitduel.report.tables import results_table, summary_dict

    console = _console(stderr=as_json)
    if not resume and journal_path(out).exists():
        console.print(
            f"note: starting over; {journal_path(out)} is replaced (use --resume to continue it)"
        )
    with make_listener(console) as listener:
        result = run_bench(plan, out, resume=resume, on_event=listener)
    if not as_json:
        console.print(results_table(result))
    more = extra(result, None if as_json else console) if extra else {}
    if as_json:
        typer.echo(json.dumps({**summary_dict(result, str(out)), **more}, indent=1))
    else:
        console.print(f"results: {out}")
    if result.status == "cancelled":
        typer.echo(
            f"interrupted: finished runs kept in {out} (continue with --resume --out {out})",
            err=True,
        )
        raise typer.Exit(130)


@app.command()
def show(
    file: Path = typer.Argument(..., help="A results JSON written by `digitduel bench`."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole results file as JSON."),
) -> None:
    """Print the table of a saved bench result."""
    from digitduel.bench.results import load_results
    from digitduel.report.tables import results_table

    result = load_results(file)
    if as_json:
        typer.echo(result.model_dump_json(indent=1))
        return
    console = _console()
    console.print(results_table(result))
    env = result.environment
    console.print(
        f"{env.device} ({env.device_name}), {env.executor} executor x{env.jobs}, "
        f"torch {env.torch}, digitduel {env.digitduel}; data: {result.data.description}",
        style="dim",
    )


@app.command()
def compare(
    a: Path = typer.Argument(..., help="A results file."),
    b: Path | None = typer.Argument(
        None, help="A second results file: the same contestants, file against file."
    ),
    contestant: list[str] | None = typer.Option(
        None,
        "--contestant",
        "-c",
        help="With one file: compare these (repeatable; the first is the reference). "
        "Default: every contestant against the best.",
        show_default=False,
    ),
) -> None:
    """Is B really better than A? Two files side by side, or the contestants of one file
    against each other, with a t-test per pair: paired over rounds that drew the same pairs
    (within one bench, or two benches with the same seed and data), Welch's otherwise."""
    from digitduel.bench.results import load_results
    from digitduel.report.tables import compare_table, within_table

    first = load_results(a)
    if b is not None:
        if contestant:
            raise ConfigError("--contestant is for one file; with two, labels are matched")
        _console().print(compare_table(first, load_results(b), str(a), str(b)))
        return
    known = [s.label for s in first.summary]
    unknown = [c for c in contestant or [] if c not in known]
    if unknown:
        raise ConfigError(f"{a} has no contestant {unknown[0]!r} (it has: {', '.join(known)})")
    if contestant is not None and len(contestant) == 1:
        raise ConfigError("name two contestants or more with --contestant, or none")
    finished = [s.label for s in first.summary if s.test_mean is not None]
    if not finished:
        raise ConfigError(f"{a} has no finished run to compare")
    idle = [c for c in contestant or [] if c not in finished]
    if idle:
        raise ConfigError(f"{a} has no finished run of {idle[0]!r} to compare")
    _console().print(within_table(first, contestant or None, a.name))


@app.command()
def presets(
    as_json: bool = typer.Option(False, "--json", help="Print the presets as JSON."),
) -> None:
    """List the built-in presets (one per report, plus `quick`)."""
    from digitduel.bench.presets import list_presets
    from digitduel.report.tables import presets_table

    found = list_presets()
    if as_json:
        doc = [
            {
                "name": p.name,
                "description": p.description,
                "settings": {**p.train, **p.bench},
                "contestants": [{"label": c.get("label", c["model"]), **c} for c in p.contestants],
                "report_source": p.report_source,
            }
            for p in found
        ]
        typer.echo(json.dumps(doc, indent=1))
        return
    _console().print(presets_table(found))
