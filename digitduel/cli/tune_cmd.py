"""`digitduel tune`: a grid of training settings scored by k-fold cross-validation on the train
pairs, the reports' own way of choosing a learning rate or an auxiliary weight. A thin layer
over digitduel.bench.search; the run itself is a bench (progress, journal, `--resume`)."""

from __future__ import annotations

import typer

from digitduel.cli.main import app
from digitduel.cli.run_options import RunOptions, parse_set, run_and_report, with_run_options
from digitduel.errors import ConfigError


@app.command()
@with_run_options
def tune(
    model: str = typer.Argument(..., help="The registered model to tune (see `digitduel models`)."),
    grid: list[str] = typer.Option(
        ...,
        "--grid",
        "-g",
        help="A training setting and its values, KEY=V1,V2,... or KEY='[V1, V2]' (TOML "
        "literals); repeatable: every combination is tried.",
        show_default=False,
    ),
    folds: int = typer.Option(
        None,
        "--folds",
        "-k",
        help="Cross-validation folds of the train pairs, at least 2 (default 4, as Jomeau et al.).",
    ),
    rounds: int = typer.Option(
        None,
        "--rounds",
        "-r",
        help="Folds to run (default: all; 1 with --folds 5 is a 20% hold-out split).",
    ),
    epochs: int = typer.Option(None, "--epochs", help="Override the recipe's epochs."),
    set_values: list[str] | None = typer.Option(
        None,
        "--set",
        help="Any other setting as KEY=VALUE, repeatable (as in `bench`).",
        show_default=False,
    ),
    seed: int = typer.Option(None, "--seed", help="Base seed: which train pairs are drawn."),
    n_pairs: int = typer.Option(None, "--n-pairs", help="Train pairs to split into folds."),
    *,
    run: RunOptions,
) -> None:
    """Choose settings the reports' way: every grid point trained on k-1 folds of one draw of
    train pairs and scored on the held-out fold, the mean over folds ranking the points. The
    test pairs are never used. Example, Jomeau et al.'s Table I:
    `digitduel tune jomeau-aux40 --grid lr=1e-4,5e-4,1e-3,5e-3,1e-2 --folds 4`."""
    from digitduel.bench.search import grid_points, parse_grid_item, plan_for_grid, point_label
    from digitduel.settings import split_keys

    run.check_resume("search")
    parsed: dict[str, list] = {}
    for item in grid:
        key, values = parse_grid_item(item)
        if key in parsed:
            raise ConfigError(f"--grid {key}: given twice; list its values in one --grid")
        parsed[key] = values
    flags = dict(
        epochs=epochs, folds=folds, rounds=rounds, seed=seed, n_pairs=n_pairs, **run.bench_flags()
    )
    train, bench, _ = split_keys(parse_set(set_values or []), flags)
    plan = plan_for_grid(
        model, parsed, train_overrides=train, bench_overrides=bench, **run.data_source()
    )
    points = {point_label(model, p): p for p in grid_points(parsed)}
    run_and_report(plan, run, extra=_best(model, points))


def _model_flags(model: str) -> str:
    """`--model-file ... ` for a user model (so the printed command runs as it is)."""
    from digitduel.models.user import model_file_flags

    flags = model_file_flags(model)
    return f"{flags} " if flags else ""


def _best(model: str, points: dict):
    def show(result, console) -> dict:
        from digitduel.bench.search import best_point, set_flags
        from digitduel.numbers import pct
        from digitduel.report.tables import within_table

        best = best_point(result)
        if best is None:
            return {"best": None}
        if console is not None:
            if sum(s.test_mean is not None for s in result.summary) > 1:
                console.print(within_table(result, name=result.name))
            console.print(
                f"best: {best.label} (validation {pct(best.test_mean, best.test_std)}% over "
                f"{best.ok} fold(s)); train it on fresh rounds with\n"
                f"  digitduel bench {_model_flags(model)}-m {model} "
                f"{set_flags(points[best.label])} --rounds 10"
            )
        return {"best": {"label": best.label, "settings": points[best.label]}}

    return show
