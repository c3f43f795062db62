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
    from digitduel.cli.user_verdict import user_verdict

    run_and_report(plan, run, extra=user_verdict)  # user models: the paired verdict too


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
    from digitduel.bench.provenance import origin_lines

    for line in origin_lines(result):  # where each user model came from (file, SHA-256)
        console.print(line, style="dim", highlight=False)


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
        make_console().print(compare_table(first, load_results(b), str(a), str(b)))
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
    make_console().print(within_table(first, contestant or None, a.name))


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
    make_console().print(presets_table(found))
