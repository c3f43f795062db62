"""`digitduel bench`, `show`, `compare` and `presets`: thin Typer commands over digitduel.bench.

On a terminal `bench` shows rich progress bars (overall, each run in flight, ETA); elsewhere
(pipes, CI, nohup) one plain line per finished run; `--json` keeps stdout for the summary JSON
alone (progress lines then go to stderr).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from digitduel.cli.console import make_console
from digitduel.cli.main import app
from digitduel.cli.run_options import RunOptions, parse_set, run_and_report, with_run_options
from digitduel.errors import ConfigError


@app.command()
@with_run_options
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
    seed: int = typer.Option(None, "--seed", help="Base seed; round r derives its own."),
    n_pairs: int = typer.Option(None, "--n-pairs", help="Train pairs and test pairs per round."),
    *,
    run: RunOptions,
) -> None:
    """Train contestants x rounds and report mean ± std accuracy and time per run."""
    from digitduel.bench.plan import plan_for_all, plan_for_models
    from digitduel.bench.presets import plan_from_preset
    from digitduel.settings import split_keys

    chosen = sum([bool(all_models), bool(model), preset is not None])
    if chosen != 1:
        raise ConfigError("choose exactly one of --all, --model NAME ... or --preset NAME|FILE")
    run.check_resume("bench")
    # Explicit flags win over --set; both go through the same schema.
    flags = dict(
        epochs=epochs, lr=lr, optimizer=optimizer, batch_size=batch_size, eval_every=eval_every,
        rounds=rounds, seed=seed, n_pairs=n_pairs, **run.bench_flags(),
    )  # fmt: skip
    train, bench_values, _ = split_keys(parse_set(set_values or []), flags)
    common = {"train_overrides": train, "bench_overrides": bench_values, **run.data_source()}
    if preset is not None:
        plan = plan_from_preset(preset, **common)
    elif all_models:
        plan = plan_for_all(**common)
    else:
        plan = plan_for_models(list(model), **common)
    run_and_report(plan, run)


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
    console = make_console()
    console.print(results_table(result))
    env = result.environment
    console.print(
        f"{env.device} ({env.device_name}), {env.executor} executor x{env.jobs}, "
        f"torch {env.torch}, digitduel {env.digitduel}; data: {result.data.description}",
        style="dim",
    )
    for line in origin_lines(result):
        console.print(line, style="dim", highlight=False)


def origin_lines(result) -> list[str]:
    """Where each contestant's model came from: the user's file or package with the SHA-256
    of its source as the results file recorded it; the built-ins in one line."""
    models = result.models or {}
    if not models:
        return []  # all built-in: the line above names the digitduel version
    lines = []
    names = list(dict.fromkeys(c.model for c in result.contestants))
    for name in [n for n in names if n in models]:
        p = models[name]
        digests = ", ".join(f"sha256 {f.sha256[:12]}" for f in p.files)
        lines.append(f"{name}: user model from {p.where()}" + (f" ({digests})" if digests else ""))
    built_in = [n for n in names if n not in models]
    if built_in:
        lines.append(f"{', '.join(built_in)}: built-in (digitduel {result.environment.digitduel})")
    return lines
