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
from digitduel.cli.run_options import RunOptions, run_and_report, setting_help, with_run_options
from digitduel.errors import ConfigError


@app.command()
@with_run_options
def bench(
    all_models: bool = typer.Option(
        False, "--all", metavar="", help="Every registered model with its report's recipe."
    ),
    model: list[str] = typer.Option(
        None, "--model", "-m", metavar="NAME", help="A model to bench (repeatable)."
    ),
    preset: str = typer.Option(
        None, "--preset", "-p", metavar="NAME", help="A preset name or a .toml file."
    ),
    lr: float = typer.Option(
        None, "--lr", metavar="FLOAT", help=setting_help("lr", "the recipe's")
    ),
    optimizer: str = typer.Option(
        None, "--optimizer", metavar="NAME", help=setting_help("optimizer", "the recipe's")
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", metavar="INT", help=setting_help("batch_size", "the recipe's")
    ),
    eval_every: int = typer.Option(
        None, "--eval-every", metavar="INT", help=setting_help("eval_every")
    ),
    *,
    run: RunOptions,
) -> None:
    """Train contestants x rounds and report mean ± std accuracy and time per run.

    `digitduel bench --resume --out FILE` alone continues a cancelled or killed bench."""
    from digitduel.bench.plan import plan_for_all, plan_for_models
    from digitduel.bench.presets import plan_from_preset
    from digitduel.cli.resume_cmd import stored_plan
    from digitduel.settings import split_keys

    own = dict(lr=lr, optimizer=optimizer, batch_size=batch_size, eval_every=eval_every)
    chosen = sum([bool(all_models), bool(model), preset is not None])
    run.check_resume("bench")
    hint = "digitduel bench --resume --out {out}"  # works: the file holds the plan
    from digitduel.cli.user_verdict import user_verdict  # user models: the paired verdict too

    if run.resume and chosen == 0:
        run_and_report(stored_plan(run, **own), run, extra=user_verdict, hint=hint)
        return
    if chosen != 1:
        raise ConfigError("choose exactly one of --all, --model NAME ... or --preset NAME|FILE")
    train, bench_values, _ = split_keys(run.settings(**own))
    common = {"train_overrides": train, "bench_overrides": bench_values, **run.data_source()}
    if preset is not None:
        plan = plan_from_preset(preset, **common)
    elif all_models:
        plan = plan_for_all(**common)
    else:
        plan = plan_for_models(list(model), **common)
    run_and_report(plan, run, extra=user_verdict, hint=hint)


@app.command()
def show(
    file: Path = typer.Argument(
        ..., metavar="FILE", help="A results JSON written by bench, tune or reproduce."
    ),
    as_json: bool = typer.Option(
        False, "--json", metavar="", help="Print the whole results file as JSON."
    ),
) -> None:
    """Print the table of a saved bench result (a running bench's too)."""
    from digitduel.bench.results import load_results
    from digitduel.report.tables import environment_line, results_table

    result = load_results(file)
    if as_json:
        typer.echo(result.model_dump_json(indent=1))
        return
    console = make_console()
    console.print(results_table(result))
    console.print(environment_line(result), style="dim", markup=False, highlight=False)
    from digitduel.bench.provenance import origin_lines

    for line in origin_lines(result):  # where each user model came from (file, SHA-256)
        console.print(line, style="dim", highlight=False)


@app.command()
def compare(
    a: Path = typer.Argument(..., metavar="A", help="A results file."),
    b: Path | None = typer.Argument(
        None, metavar="B", help="A second results file: the same contestants, file against file."
    ),
    contestant: list[str] | None = typer.Option(
        None,
        "--contestant",
        "-c",
        metavar="NAME",
        help="With one file: compare these (repeatable; the first is the reference). "
        "Default: every contestant against the best.",
        show_default=False,
    ),
    as_json: bool = typer.Option(
        False, "--json", metavar="", help="Print the comparison as JSON on stdout."
    ),
) -> None:
    """Is B really better than A? Two files side by side, or the contestants of one file
    against each other, with a t-test per pair, named on each row: paired over rounds that
    drew the same pairs (within one bench, or two benches with the same seed and data),
    Welch's otherwise."""
    from digitduel.bench.results import load_results
    from digitduel.report.tables import (
        compare_rows,
        compare_table,
        setup_differences,
        within_rows,
        within_table,
    )

    first = load_results(a)
    if b is not None:
        if contestant:
            raise ConfigError("--contestant is for one file; with two, labels are matched")
        second = load_results(b)
        for difference in setup_differences(first, second):
            typer.echo(f"warning: {difference}: the verdicts compare more than models", err=True)
        if as_json:
            _echo_json({"a": str(a), "b": str(b), "rows": compare_rows(first, second),
                        "differences": setup_differences(first, second)})  # fmt: skip
            return
        make_console().print(compare_table(first, second, str(a), str(b)))
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
    if as_json:
        _echo_json({"a": str(a), "rows": within_rows(first, contestant or None)})
        return
    make_console().print(within_table(first, contestant or None, a.name))


def _echo_json(doc: dict) -> None:
    """JSON has no NaN: a difference that does not exist is null."""
    import math

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    typer.echo(json.dumps(clean(doc), indent=1))


@app.command()
def presets(
    as_json: bool = typer.Option(False, "--json", metavar="", help="Print the presets as JSON."),
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
