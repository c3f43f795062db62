"""The one rich console set-up of the commands, and the download bar they draw.

Off a terminal (a pipe, a log, CI) output is plain: tables lose their box-drawing lines, and
every row stays one line (a cell too long for the width ends in an ellipsis rather than
wrapping onto lines of its own), within `COLUMNS` when set, else 160 columns so the widest
table keeps its cells whole. On a terminal a console takes the terminal's width. The engine never
draws: `data.download` reports bytes through `on_progress`, and `download_progress` turns
that into a bar here. rich loads on first use, so `--help` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

PIPE_WIDTH = 160  # columns off a terminal: wide enough that the widest table keeps its rows


def make_console(*, stderr: bool = False, highlight: bool = True) -> Console:
    """A rich console for a command's output (stdout, or stderr when stdout holds JSON)."""
    import os

    from rich.console import Console

    console = Console(stderr=stderr, highlight=highlight)
    if not console.is_terminal:
        width = None if os.environ.get("COLUMNS", "").isdigit() else PIPE_WIDTH
        console = Console(stderr=stderr, highlight=highlight, width=width)
        console.push_render_hook(_plain_tables(console))
    return console


def _plain_tables(console: Console):
    """A render hook that makes every table printed `plain_table` (rich loads lazily)."""
    from rich.console import RenderHook
    from rich.table import Table

    from digitduel.report.tables import plain_table

    class PlainTables(RenderHook):
        def process_renderables(self, renderables):
            for renderable in renderables:
                if isinstance(renderable, Table):
                    plain_table(renderable, console)
            return renderables

    return PlainTables()


@contextmanager
def download_progress(console: Console | None = None) -> Iterator:
    """An `on_progress(name, done_bytes, total_bytes)` for `download_mnist` / `load_mnist`
    that draws one bar per file on a terminal's stderr, and nothing elsewhere (a log must
    not receive a live bar)."""
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def on_progress(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done)

    with bar:
        yield on_progress
