"""The `digitduel` command: a thin Typer layer over the engine.

Each command group lives in its own module and registers itself on `app`; importing heavy
modules (torch, textual) happens inside the commands so `--help` and `--version` stay fast.
Errors the user can fix are `DigitduelError`s: one line on stderr, exit code 1 (usage: 2).
"""

from __future__ import annotations

import os
import traceback

import typer
from typer.core import TyperGroup

from digitduel import __version__
from digitduel.errors import DigitduelError


class _Group(TyperGroup):
    """Turns the errors a user can fix into one line and an exit code, for every command,
    however the app is invoked (console script, `python -m`, Typer's test runner)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except DigitduelError as err:
            if ctx.meta.get("digitduel.debug") or os.environ.get("DIGITDUEL_DEBUG") == "1":
                traceback.print_exc()  # the chained cause too: the user's own code's frames
            typer.echo(f"error: {err}", err=True)
            ctx.exit(err.code)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            ctx.exit(130)


app = typer.Typer(
    cls=_Group,
    name="digitduel",
    help="Train, time and compare neural networks on the MNIST digit-pair task.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


UserError = DigitduelError  # what commands raise for a problem the user can fix


def _version(value: bool) -> None:
    if value:
        typer.echo(f"digitduel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback behind an error (or DIGITDUEL_DEBUG=1)."
    ),
) -> None:
    """Train, time and compare neural networks on the MNIST digit-pair task."""
    ctx.meta["digitduel.debug"] = debug


def _register_commands() -> None:
    # Each module adds its commands to `app` on import.
    import importlib

    for mod in (
        "data_cmd",
        "models_cmd",
        "bench_cmd",
        "tune_cmd",
        "reproduce_cmd",
        "tui_cmd",
        "plot_cmd",
        "export_cmd",
    ):
        try:
            importlib.import_module(f"digitduel.cli.{mod}")
        except ModuleNotFoundError as err:
            if err.name != f"digitduel.cli.{mod}":
                raise


_register_commands()


def main() -> None:
    app()
