"""`digitduel tune`: a grid of training settings scored by k-fold cross-validation on the train
pairs, the reports' own way of choosing a learning rate or an auxiliary weight. A thin layer
over digitduel.bench.search; the run itself is a bench (progress, journal, `--resume`)."""

from __future__ import annotations

import shlex
from typing import Any

import typer

from digitduel.cli.main import app
from digitduel.cli.run_options import RunOptions, run_and_report, setting_help, with_run_options
from digitduel.errors import ConfigError


@app.command()
@with_run_options
def tune(
    model: str = typer.Argument(
        ..., metavar="MODEL", help="The registered model to tune (see `digitduel models`)."
    ),
    grid: list[str] = typer.Option(
        ...,
        "--grid",
        "-g",
        metavar="KEY=V1,V2",
        help="A training setting and its values, KEY=V1,V2,... or KEY='[V1, V2]' (TOML "
        "literals); repeatable: every combination is tried.",
        show_default=False,
    ),
    folds: int = typer.Option(
        None,
        "--folds",
        "-k",
        metavar="INT",
        help=setting_help("folds", "4, as Jomeau et al.; -r 1 with -k 5 is a 20% hold-out"),
    ),
    *,
    run: RunOptions,
) -> None:
    """Choose settings the reports' way: every grid point trained on k-1 folds of one draw of
    train pairs and scored on the held-out fold, the mean over folds ranking the points. The
    test pairs are never used.

    Example, Jomeau et al.'s Table I: digitduel tune jomeau-aux40 --grid
    lr=1e-4,5e-4,1e-3,5e-3,1e-2 --folds 4"""
    from digitduel.bench.search import grid_points, parse_grid_item, plan_for_grid, point_label
    from digitduel.settings import split_keys

    run.check_resume("search")
    parsed: dict[str, list] = {}
    for item in grid:
        key, values = parse_grid_item(item)
        if key in parsed:
            raise ConfigError(f"--grid {key}: given twice; list its values in one --grid")
        parsed[key] = values
    train, bench, _ = split_keys(run.settings(folds=folds))
    plan = plan_for_grid(
        model, parsed, train_overrides=train, bench_overrides=bench, **run.data_source()
    )
    points = {point_label(model, p): p for p in grid_points(parsed)}
    run_and_report(plan, run, extra=_best(model, points, run))


# Options of a tune that are no bench option: a bench trains on fresh rounds, not on folds.
NOT_FOR_BENCH = ("folds", "rounds")


def follow_up_command(model: str, point: dict[str, Any], run: RunOptions) -> str:
    """`digitduel bench` of the best point on 10 fresh rounds, with every data and run
    option the tune was given (so it trains on the same data, device and settings)."""
    from digitduel.bench.search import set_flags

    given = {k: v for k, v in run.settings().items() if k not in NOT_FOR_BENCH}
    flags = {k: v for k, v in given.items() if k in SHARED_FLAGS}
    sets = {k: v for k, v in given.items() if k not in SHARED_FLAGS and k not in point}
    words = ["digitduel", "bench", *_model_flags(model), "-m", shlex.quote(model)]
    words += [f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in flags.items()]
    words += [set_flags({**sets, **point})] if sets or point else []
    if run.data_dir is not None:
        words.append(f"--data-dir {shlex.quote(str(run.data_dir.resolve()))}")
    if run.offline:
        words.append("--offline")
    return " ".join([*words, "--rounds", "10"])


def _model_flags(model: str) -> list[str]:
    """`--model-file ...` for a user model (so the printed command runs as it is)."""
    from digitduel.models.user import model_file_flags

    flags = model_file_flags(model)
    return [flags] if flags else []


SHARED_FLAGS = ("epochs", "seed", "n_pairs", "device", "executor", "jobs")


def _best(model: str, points: dict, run: RunOptions):
    def show(result, console) -> dict:
        from digitduel.bench.search import best_point
        from digitduel.numbers import pct
        from digitduel.report.tables import within_table

        best = best_point(result)
        if best is None:
            return {"best": None}
        command = follow_up_command(model, points[best.label], run)
        if console is not None:
            if sum(s.test_mean is not None for s in result.summary) > 1:
                console.print(within_table(result, name=result.name))
            console.print(
                f"best: {best.label} (validation {pct(best.test_mean, best.test_std)}% over "
                f"{best.ok} fold(s)); train it on fresh rounds with\n  {command}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        best_doc = {"label": best.label, "settings": points[best.label], "command": command}
        return {"best": best_doc}

    return show
