"""`digitduel export FILE... --format md|csv|json|html`: results as tables to paste elsewhere.

md and csv: one row per contestant (or per run with `--runs`); json: the summaries of every
file merged, with their environments; html: one self-contained page (figures inline as SVG,
nothing fetched). Written to `--out` or stdout. Exit 2 for an unknown format, 1 for a file
that cannot be read or written.
"""

from __future__ import annotations

from pathlib import Path

import typer

from digitduel.cli.main import UserError, app


@app.command()
def export(
    files: list[Path] = typer.Argument(..., help="Results files (rows carry their file's name)."),
    fmt: str = typer.Option(..., "--format", "-f", help="md, csv, json or html."),
    runs: bool = typer.Option(False, "--runs", help="One row per run instead of per contestant."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
) -> None:
    """Export results: a Markdown or CSV table, merged JSON, or one self-contained HTML page.

    Examples: `digitduel export results.json --format md`;
    `digitduel export results.json --format html --out report.html`.
    """
    from digitduel.report.export import FORMATS
    from digitduel.report.export import export as render
    from digitduel.report.figures import load_sources

    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}", code=2)
    text = render(load_sources(files), fmt, runs)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot write {out}: {err}") from None
    typer.echo(f"wrote {out}", err=True)
