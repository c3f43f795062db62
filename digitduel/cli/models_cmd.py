"""`digitduel models`: the registry as a table (or JSON): what `--all` means."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from digitduel.cli.main import UserError, app


def _rows(report: str | None, model_files: list[str]) -> list[dict]:
    from digitduel.models import REPORTS, list_specs
    from digitduel.models.registry import report_key
    from digitduel.models.user import load_user_models

    load_user_models(model_files)
    if report is not None and report_key(report) not in REPORTS:
        raise UserError(f"unknown report {report!r} (one of: {', '.join(REPORTS)})", code=2)
    return [
        {
            "name": s.name,
            "report": s.report,
            "params": s.param_count(),
            "weight_sharing": s.weight_sharing,
            "aux": s.aux,
            "predicts": s.predicts,
            "description": s.description,
            "recipe": s.recipe,
            "options": s.kwargs,
            # Only user models carry an origin: the built-ins' records stay as they were.
            **({} if s.origin is None else {"origin": s.origin.to_dict()}),
        }
        for s in list_specs(report)
    ]


@app.command()
def models(
    report: Annotated[
        str | None,
        typer.Option(
            "--report", metavar="NAME", help="Only this report's models (jomeau, sgd, ...)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
    model_files: Annotated[
        list[str] | None,
        typer.Option(
            "--model-file",
            metavar="PATH.py[:Name]",
            help="Your own model file (repeatable; also DIGITDUEL_MODEL_FILES, and installed "
            "'digitduel.models' entry points); PATH.py:Name registers a plain nn.Module class.",
        ),
    ] = None,
) -> None:
    """List every registered architecture: report, parameters, sharing, how it predicts."""
    rows = _rows(report, model_files or [])
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return

    from rich import box
    from rich.table import Table

    from digitduel.cli.console import make_console
    from digitduel.models import REPORTS

    console = make_console()
    # Below 100 columns the descriptions would crush the rest: they are in --json anyway.
    with_description = console.width >= 100
    yes = "[green]yes[/]"
    groups = [
        (
            f"[bold]{key}[/]: {title}",
            [r for r in rows if r["report"] == key and r.get("origin") is None],
        )
        for key, title in REPORTS.items()
    ]
    groups.append(("[bold]user models[/]", [r for r in rows if r.get("origin") is not None]))
    for title, mine in groups:
        if not mine:
            continue
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("model", style="bold", no_wrap=True)
        table.add_column("params", justify="right", no_wrap=True)
        table.add_column("shared", justify="center", no_wrap=True)
        table.add_column("digit labels", justify="center", no_wrap=True)
        table.add_column("predicts by", no_wrap=True)
        table.add_column("loss", no_wrap=True)
        user = mine[0].get("origin") is not None
        if user:
            table.add_column("from", no_wrap=True)  # the file or distribution it came from
        if with_description:
            table.add_column("description", min_width=20)
        for r in mine:
            cells = [
                r["name"],
                f"{r['params']:,}",
                yes if r["weight_sharing"] else "-",
                yes if r["aux"] else "-",
                "digit classes" if r["predicts"] == "digits" else "comparison",
                str(r["recipe"].get("loss", "ce")),
            ]
            cells += [_origin_cell(r["origin"])] if user else []
            table.add_row(*cells, *([r["description"]] if with_description else []))
        console.print(table)
    hint = "" if with_description else "; descriptions: a wider terminal or --json"
    console.print(f"{len(rows)} models{hint}", style="dim")


def _origin_cell(origin: dict) -> str:
    import os

    files = origin["files"]
    where = origin["label"]
    if origin["kind"] == "file" and files:
        where = os.path.relpath(files[0]["path"])
        where = files[0]["path"] if where.startswith("..") else where
    return f"{where} (sha256 {files[0]['sha256'][:12]})" if files else where
