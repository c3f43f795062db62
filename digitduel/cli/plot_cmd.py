"""`digitduel plot FILE...`: the reports' figures from saved results, in the terminal or as files.

Without `--out`: plotext charts as wide as the terminal (plain text, no escape codes, when
stdout is not a terminal). With `--out x.png|x.svg|x.pdf`: the same figure drawn by matplotlib
(Agg, headless). The numbers come from `report.figures` either way.

Exit codes: 2 for a usage error (unknown --kind, an --out suffix that is not .png/.svg/.pdf),
1 for data the figure cannot be drawn from (a missing or corrupt file, `curves` of a results
file without per-epoch data, `sweep` of a file that is not a search).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from digitduel.cli.main import UserError, app

KIND_HELP = (
    "curves (per-epoch loss and accuracy, mean and band), box (accuracy over rounds), time "
    "(wall time per run), sweep (a `tune` result against its grid) or all (each that applies)."
)


def _kinds(kind: str, sources) -> list[str]:
    from digitduel.report.figures import KINDS, applicable_kinds

    if kind == "all":
        return applicable_kinds(sources)
    if kind not in KINDS:
        raise UserError(f"--kind {kind!r}: choose one of {', '.join(KINDS)} or all", code=2)
    return [kind]


def out_path(out: Path, kind: str, several: bool) -> Path:
    """`--out figs/x.png` names the file of one kind; with several kinds, figs/x-KIND.png."""
    return out.with_name(f"{out.stem}-{kind}{out.suffix}") if several else out


@app.command()
def plot(
    files: list[Path] = typer.Argument(
        ..., help="Results files (several: one figure, labelled by file)."
    ),
    kind: str = typer.Option("all", "--kind", "-k", help=KIND_HELP),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Write the figure to this .png, .svg or .pdf file instead of the terminal "
        "(with --kind all: one file per kind, NAME-KIND.SUFFIX).",
    ),
    width: int | None = typer.Option(
        None,
        "--width",
        help="Terminal chart width in columns (default: the terminal's, 100 piped).",
    ),
    height: int | None = typer.Option(None, "--height", help="Terminal chart height in rows."),
) -> None:
    """Draw the reports' figures from results files: curves, box, time or sweep.

    Examples: `digitduel plot results.json` (every figure, in the terminal);
    `digitduel plot results.json --kind box --out box.png`;
    `digitduel plot cpu.json gpu.json --kind time`.

    Exit 2: an unknown --kind or --out suffix. Exit 1: a file that cannot give the figure
    (unreadable, `curves` without per-epoch data, `sweep` of a file that is not a search).
    """
    from digitduel.report import figures

    if out is not None:
        from digitduel.report.plot_files import format_for

        format_for(out)  # a bad suffix is a usage error before any file is read
    sources = figures.load_sources(files)
    kinds = _kinds(kind, sources)
    if out is not None:
        from digitduel.report.plot_files import save_figure

        for k in kinds:
            path = save_figure(k, sources, out_path(out, k, len(kinds) > 1))
            typer.echo(f"wrote {path}", err=True)
        return
    _print_terminal(kinds, sources, width, height)


def _print_terminal(kinds: list[str], sources, width: int | None, height: int | None) -> None:
    from digitduel.report.plot_terminal import render, terminal_size

    tty = sys.stdout.isatty()
    cols, rows = terminal_size() if tty else (100, 24)
    width = width or cols
    height = height or max(12, min(rows, 24))
    if width < 30 or height < 8:
        raise UserError("--width must be at least 30 and --height at least 8", code=2)
    for k in kinds:
        typer.echo(render(k, sources, width=width, height=height, colour=tty))
