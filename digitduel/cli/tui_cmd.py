"""`digitduel tui`: the terminal UI. Checks its options like the other commands (one-line
errors, exit 2), then starts the Textual app; textual and torch load only when it runs."""

from __future__ import annotations

from pathlib import Path

import typer

from digitduel.cli.main import app
from digitduel.cli.run_options import ModelFiles, ModelName, load_model_files
from digitduel.errors import ConfigError


@app.command()
def tui(
    preset: str = typer.Option(
        None, "--preset", "-p", help="Start with a preset (name or .toml file) loaded."
    ),
    data_dir: Path = typer.Option(None, "--data-dir", help="Folder with the four MNIST IDX files."),
    offline: bool = typer.Option(False, "--offline", help="Never download the data."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    out_dir: Path = typer.Option(
        None,
        "--out-dir",
        help="Where results files are written (default: ./digitduel-results, as the other "
        "commands).",
        show_default=False,
    ),
    model_files: ModelFiles = None,
    name: ModelName = None,
) -> None:
    """Pick contestants, train them live with plots, compare the results, in the terminal.
    Your own models (--model-file, or ctrl+n in the app) are listed under "user models"."""
    from digitduel.settings import check_field

    if device is not None:
        problem = check_field("device", device)
        if problem:
            raise ConfigError(f"--device {device!r}: {problem}")
        if device != "auto":
            from digitduel.training.device import resolve_device

            resolve_device(device)  # DeviceError: this machine has no such device
    if data_dir is not None and not data_dir.is_dir():
        raise ConfigError(f"--data-dir {data_dir}: not a directory")
    load_model_files(model_files, name)  # one-line errors now, not inside the app
    if preset is not None:
        from digitduel.bench.presets import load_preset

        load_preset(preset)  # ConfigError now, not a notification inside the app

    from digitduel.bench.forkserver import start_early

    # From the main thread, now: the first processes bench of the session then finds its
    # forkserver imported (~3 s) while the user fills the form, and it dies with the app.
    start_early(None, device, None)
    from digitduel.tui.app import DigitduelApp

    tui_app = DigitduelApp(
        data_dir=str(data_dir.resolve()) if data_dir else None,
        offline=offline,
        device=device,
        preset=preset,
        out_dir=out_dir,
    )
    tui_app.run()
    if tui_app.last_results is not None:
        typer.echo(f"results: {tui_app.last_results}")
    if tui_app.return_code:  # 130: quit mid-bench, as the CLI after Ctrl-C
        raise typer.Exit(tui_app.return_code)
