"""`digitduel reproduce PRESET`: run a report's protocol and set its numbers beside ours.

A thin layer: the preset and the bench engine do the training (resumable, same results file
and the same run options as `bench`), `report.reproduce` builds the rows and `report.stats`
the verdicts. With `--from FILE` nothing is trained: the table is rebuilt from a results
file, which is how docs/reproduction.md is regenerated (`--markdown`, `--update-doc`).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer

from digitduel.cli.console import make_console
from digitduel.cli.main import UserError, app
from digitduel.cli.run_options import (
    RunOptions,
    exit_if_interrupted,
    run_with_progress,
    with_run_options,
)


def _plan(preset: str, run: RunOptions, models: list[str] | None):
    """The preset's plan with the options given; with `--resume`, the plan stored in the
    results file (the options given must agree with it, `-r` may grow it)."""
    from digitduel.bench.presets import plan_from_preset
    from digitduel.settings import split_keys

    if run.resume and run.out is not None and run.out.exists():
        from digitduel.cli.resume_cmd import stored_plan

        plan = stored_plan(run)
        if not _same_preset(plan.preset, preset):
            raise UserError(
                f"PRESET {preset} differs from the plan stored in {run.out} ({plan.preset})",
                code=2,
            )
        return plan
    train, bench, _ = split_keys(run.settings())
    return plan_from_preset(
        preset,
        train_overrides=train,
        bench_overrides=bench,
        extra_models=models,
        **run.data_source(),
    )


def _report_key(name: str | None) -> str | None:
    from digitduel.models.registry import report_key

    return None if name is None else report_key(name)


def _same_preset(stored: str | None, given: str) -> bool:
    """The preset a results file holds is the one named (by name, earlier name or path)."""
    return _report_key(stored) in (_report_key(given), _report_key(Path(given).stem))


def _train(preset: str, run: RunOptions, models: list[str] | None):
    run.check_resume("reproduction")
    plan = _plan(preset, run, models)
    if not plan.report:
        typer.echo(f"warning: preset {preset!r} has no [report] numbers to compare with", err=True)
    if run.epochs is not None or run.n_pairs is not None:
        typer.echo(
            "warning: --epochs/--n-pairs change the report's protocol; the verdicts below "
            "compare unlike runs (a smoke test, not a reproduction)",
            err=True,
        )
    out = run.results_path(f"reproduce-{plan.name}")
    # Progress goes to stderr: stdout is the table or the JSON.
    result = run_with_progress(plan, out, run, make_console(stderr=True))
    return result, out


@app.command()
@with_run_options
def reproduce(
    preset: str = typer.Argument(
        ...,
        metavar="PRESET",
        help="Preset name (e.g. jomeau) or a .toml path; with --from, only a label.",
    ),
    from_file: Path | None = typer.Option(
        None, "--from", metavar="PATH", help="Read this results file instead of training."
    ),
    models: list[str] | None = typer.Option(
        None,
        "--model",
        "-m",
        metavar="NAME",
        help="Your own model beside the report's (repeatable; with --model-file): its row, "
        "and a paired verdict against the report's best model as run here.",
        show_default=False,
    ),
    markdown: bool = typer.Option(
        False, "--markdown", metavar="", help="Print the Markdown table."
    ),
    update_doc: Path | None = typer.Option(
        None,
        "--update-doc",
        metavar="PATH",
        help="Rewrite the <!-- reproduce:NAME --> block of this Markdown file.",
    ),
    *,
    run: RunOptions,
) -> None:
    """Run a report's protocol and print its numbers beside ours, with a verdict per row.

    Verdict: Welch's t-test from mean, std and rounds (the reports publish nothing more);
    consistent when p >= 0.05, otherwise better or worse. With --json the comparison is
    printed as JSON."""
    from digitduel.report.reproduce import (
        against_best,
        format_against_best,
        format_markdown,
        replace_doc_block,
        reproduction_from_results,
        rich_tables,
    )

    if from_file is not None and (models or run.model_files):
        raise UserError("--from reads a results file; --model/--model-file train", code=2)
    if from_file is not None:
        from digitduel.bench.results import load_results

        training = [flag for flag in run.given() if flag != "--json"]
        if training:
            raise UserError(
                f"--from reads a results file; it takes no training options ({training[0]})",
                code=2,
            )
        result = load_results(from_file)
        name = result.preset or result.name
        if not _same_preset(name, preset):
            typer.echo(f"warning: {from_file} holds preset {name!r}, not {preset!r}", err=True)
        out = from_file
    else:
        result, out = _train(preset, run, models)
        typer.echo(f"results: {out}", err=True)

    rep = reproduction_from_results(result)
    rep.name = _report_key(rep.name)  # a file from before a report's key changed: its block
    if update_doc is not None:
        try:
            text = update_doc.read_text(encoding="utf-8")
            update_doc.write_text(
                replace_doc_block(text, rep.name, format_markdown(rep)), encoding="utf-8"
            )
        except (OSError, ValueError) as err:
            raise UserError(f"cannot update {update_doc}: {err}") from None
        typer.echo(f"updated the {rep.name} table in {update_doc}", err=True)
    yours = against_best(result)
    if run.as_json:
        doc = rep.to_dict() | {"against_best": [r.to_dict() for r in yours]}
        typer.echo(json.dumps(doc, indent=1, default=str))
    elif markdown:
        typer.echo(format_markdown(rep))
    elif update_doc is None:
        console = make_console()  # tables as the other commands draw them (plain in a pipe)
        for part in rich_tables(rep):
            console.print(part)
        if yours:
            console.print("\n" + format_against_best(yours), markup=False, highlight=False)
    if from_file is None:
        hint = f"digitduel reproduce {shlex.quote(preset)} --resume --out {shlex.quote(str(out))}"
        exit_if_interrupted(result, hint)
