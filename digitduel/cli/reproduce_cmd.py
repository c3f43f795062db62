"""`digitduel reproduce PRESET`: run a report's protocol and set its numbers beside ours.

A thin layer: the preset and the bench engine do the training (resumable, same results file
as `bench`), `report.reproduce` builds the rows and `report.stats` the verdicts. With
`--from FILE` nothing is trained: the table is rebuilt from a results file, which is how
docs/reproduction.md is regenerated (`--markdown`, `--update-doc`).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from digitduel.cli.console import make_console
from digitduel.cli.main import UserError, app
from digitduel.cli.run_options import ModelFiles, ModelName, load_model_files


def _train(
    preset, rounds, epochs, n_pairs, seed, jobs, executor, device, data_dir, offline, out, resume,
    models=None,
):
    from digitduel.bench.presets import plan_from_preset
    from digitduel.bench.runner import run_bench
    from digitduel.settings import default_results_path, split_keys

    flags = dict(
        epochs=epochs, rounds=rounds, n_pairs=n_pairs, seed=seed, jobs=jobs, executor=executor,
        device=device,
    )  # fmt: skip
    train, bench, _ = split_keys(flags)
    plan = plan_from_preset(
        preset,
        train_overrides=train,
        bench_overrides=bench,
        data_dir=str(data_dir) if data_dir else None,
        offline=offline,
        extra_models=models,
    )
    if not plan.report:
        typer.echo(f"warning: preset {preset!r} has no [report] numbers to compare with", err=True)
    if epochs is not None or n_pairs is not None:
        typer.echo(
            "warning: --epochs/--n-pairs change the report's protocol; the verdicts below "
            "compare unlike runs (a smoke test, not a reproduction)",
            err=True,
        )
    out = out or default_results_path(f"reproduce-{plan.name}")
    from digitduel.report.progress import make_listener

    # Progress goes to stderr: stdout is the table or the JSON.
    with make_listener(make_console(stderr=True)) as listener:
        result = run_bench(
            plan, out, resume=resume, on_event=listener, on_download=listener.on_download
        )
    return result, out


@app.command()
def reproduce(
    preset: str = typer.Argument(
        ..., help="Preset name (e.g. jomeau) or a .toml path; with --from, only a label."
    ),
    rounds: int | None = typer.Option(None, "--rounds", help="Rounds (default: the report's)."),
    epochs: int | None = typer.Option(
        None, "--epochs", help="Override every contestant's epochs (cut-down runs only)."
    ),
    n_pairs: int | None = typer.Option(
        None, "--n-pairs", help="Train and test pairs per round (default 1000, the protocol)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Base seed."),
    jobs: int | None = typer.Option(None, "--jobs", help="Worker processes."),
    executor: str | None = typer.Option(
        None, "--executor", help="auto, serial, processes or batched."
    ),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Folder with the MNIST IDX files."
    ),
    offline: bool = typer.Option(False, "--offline", help="Never download."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Results JSON to write (default: ./digitduel-results/<time>-reproduce-PRESET.json).",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Keep finished runs of --out; run the rest."
    ),
    from_file: Path | None = typer.Option(
        None, "--from", help="Read this results file instead of training."
    ),
    models: list[str] | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Your own model beside the report's (repeatable; with --model-file): its row, "
        "and a paired verdict against the report's best model as run here.",
        show_default=False,
    ),
    model_files: ModelFiles = None,
    name: ModelName = None,
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the Markdown table."),
    update_doc: Path | None = typer.Option(
        None,
        "--update-doc",
        help="Rewrite the <!-- reproduce:NAME --> block of this Markdown file.",
    ),
) -> None:
    """Run a report's protocol and print its numbers beside ours, with a verdict per row.

    Verdict: Welch's t-test from mean, std and rounds (the reports publish nothing more);
    consistent when p >= 0.05, otherwise better or worse.
    """
    from digitduel.report.reproduce import (
        against_best,
        format_against_best,
        format_markdown,
        format_text,
        replace_doc_block,
        reproduction_from_results,
    )

    if from_file is not None and (models or model_files):
        raise UserError("--from reads a results file; --model/--model-file train", code=2)
    load_model_files(model_files, name)
    if from_file is not None:
        from digitduel.bench.results import load_results

        training = [rounds, epochs, n_pairs, seed, jobs, executor, device, data_dir, out]
        if any(v is not None for v in training) or resume or offline:
            raise UserError("--from reads a results file; it takes no training options", code=2)
        result = load_results(from_file)
        name = result.preset or result.name
        if preset not in (name, Path(preset).stem):
            typer.echo(f"warning: {from_file} holds preset {name!r}, not {preset!r}", err=True)
    else:
        result, out = _train(
            preset,
            rounds,
            epochs,
            n_pairs,
            seed,
            jobs,
            executor,
            device,
            data_dir,
            offline,
            out,
            resume,
            models,
        )
        typer.echo(f"results: {out}", err=True)

    rep = reproduction_from_results(result)
    yours = against_best(result)
    if update_doc is not None:
        try:
            text = update_doc.read_text(encoding="utf-8")
            update_doc.write_text(
                replace_doc_block(text, rep.name, format_markdown(rep)), encoding="utf-8"
            )
        except (OSError, ValueError) as err:
            raise UserError(f"cannot update {update_doc}: {err}") from None
        typer.echo(f"updated the {rep.name} table in {update_doc}", err=True)
    if as_json:
        doc = rep.to_dict() | {"against_best": [r.to_dict() for r in yours]}
        typer.echo(json.dumps(doc, indent=1, default=str))
    elif markdown:
        typer.echo(format_markdown(rep))
    elif update_doc is None:
        typer.echo(format_text(rep))
        if yours:
            typer.echo("\n" + format_against_best(yours))
    if result.status == "cancelled" and from_file is None:
        typer.echo(
            f"interrupted: finished runs kept (continue with --resume --out {out})", err=True
        )
        raise typer.Exit(130)
