"""`digitduel models`: the registry as a table (or JSON): what `--all` means."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from digitduel.cli.main import UserError, app


def _rows(report: str | None) -> list[dict]:
    from digitduel.models import REPORTS, list_specs

    if report is not None and report not in REPORTS:
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
        }
        for s in list_specs(report)
    ]


@app.command()
def models(
    report: Annotated[
        str | None,
        typer.Option("--report", help="Only this report's models (jomeau, borba, ...)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
) -> None:
    """List every registered architecture: report, parameters, sharing, how it predicts."""
    rows = _rows(report)
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
    for key, title in REPORTS.items():
        mine = [r for r in rows if r["report"] == key]
        if not mine:
            continue
        table = Table(title=f"[bold]{key}[/]: {title}", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("model", style="bold", no_wrap=True)
        table.add_column("params", justify="right", no_wrap=True)
        table.add_column("shared", justify="center", no_wrap=True)
        table.add_column("digit labels", justify="center", no_wrap=True)
        table.add_column("predicts by", no_wrap=True)
        table.add_column("loss", no_wrap=True)
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
            table.add_row(*cells, *([r["description"]] if with_description else []))
        console.print(table)
    hint = "" if with_description else "; descriptions: a wider terminal or --json"
    console.print(f"{len(rows)} models{hint}", style="dim")
