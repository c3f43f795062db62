"""`digitduel data ...`: where the digits come from (info), getting full MNIST (download), and
what the models actually see (show)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from digitduel.cli.console import download_progress, make_console
from digitduel.cli.main import app

data_app = typer.Typer(
    help="MNIST: where it comes from, download it, look at the pairs.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Directory with the four MNIST IDX files (gzipped or not). Default: $DIGITDUEL_DATA, "
        "then the cache, a download, the copy embedded in digitduel.",
        show_default=False,
    ),
]
Offline = Annotated[
    bool, typer.Option("--offline", help="Never download (also: DIGITDUEL_OFFLINE=1).")
]
Mirrors = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        help="Mirror base URL, repeatable, tried in order (also: DIGITDUEL_MIRRORS=a,b).",
        show_default=False,
    ),
]


def _note(message: str) -> None:
    typer.echo(f"note: {message}", err=True)


def _load(
    data_dir: Path | None, offline: bool, mirrors: list[str] | None = None, *, counts_only=False
):
    """The digits (MnistData), or with `counts_only` just their counts (DataSummary: the same
    source and checks without torch, which `info` needs to answer in well under a second)."""
    from digitduel.data.sources import load_mnist, summarize_mnist

    with download_progress() as on_progress:
        return (summarize_mnist if counts_only else load_mnist)(
            data_dir,
            offline=True if offline else None,
            mirrors=mirrors or None,
            on_note=_note,
            on_progress=on_progress,
        )


@data_app.command()
def info(
    data_dir: DataDir = None,
    offline: Offline = False,
    mirror: Mirrors = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")] = False,
) -> None:
    """Which MNIST source is used, where, how many digits, whether checksums were verified."""
    data = _load(data_dir, offline, mirror, counts_only=True)
    facts = data.info() | {
        "train_classes": data.train.class_counts(),
        "test_classes": data.test.class_counts(),
    }
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    verified = "yes (official MNIST MD5s)" if data.verified else "no"
    for key, value in (
        ("source", data.source),
        ("path", data.path or "-"),
        ("train digits", f"{len(data.train)}  per class {facts['train_classes']}"),
        ("test digits", f"{len(data.test)}  per class {facts['test_classes']}"),
        ("verified", verified),
        ("about", data.describe()),
    ):
        typer.echo(f"{key:<13} {value}")


@data_app.command()
def download(
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest", help="Directory to fill. Default: the user cache.", show_default=False
        ),
    ] = None,
    mirror: Mirrors = None,
) -> None:
    """Download the four MNIST files, each checked against its published MD5."""
    from digitduel.data import FILES, cache_dir, download_mnist
    from digitduel.data.download import checksums, file_md5

    target = dest if dest is not None else cache_dir()
    table = checksums()
    present = [
        n for n in FILES.values() if (target / n).is_file() and file_md5(target / n) == table[n]
    ]
    with download_progress() as on_progress:
        download_mnist(target, mirrors=mirror or None, on_note=_note, on_progress=on_progress)
    fetched = len(FILES) - len(present)
    if fetched == 0:
        typer.echo(f"MNIST already in {target} (checksums verified)")
    else:
        typer.echo(f"downloaded {fetched} file(s) to {target} (checksums verified)")
    if dest is not None:
        typer.echo(f"use it with: --data-dir {target}  (or DIGITDUEL_DATA={target})")


# -- show -----------------------------------------------------------------------------------

_INK = 96  # pooled 0..255 value from which a pixel counts as ink in plain (colourless) output


def _digit_rows(img, color: bool) -> list:
    """A 14x14 digit (0..255) as 7 rows of half blocks: each character is two pixels."""
    from rich.text import Text

    rows = []
    for y in range(0, img.shape[0], 2):
        line = Text()
        for x in range(img.shape[1]):
            top, bottom = int(img[y, x]), int(img[y + 1, x])
            if color:
                line.append("▀", style=f"rgb({top},{top},{top}) on rgb({bottom},{bottom},{bottom})")
            else:
                line.append(" ▄▀█"[2 * (top >= _INK) + (bottom >= _INK)])
        rows.append(line)
    return rows


def _pair_panel(index: int, pixels, classes, target: int, color: bool):
    from rich.text import Text

    left, right = _digit_rows(pixels[0], color), _digit_rows(pixels[1], color)
    out = Text()
    for a, b in zip(left, right, strict=True):
        out.append_text(a)
        out.append("  ")
        out.append_text(b)
        out.append("\n")
    a, b = int(classes[0]), int(classes[1])
    relation = "<=" if a <= b else "> "
    out.append(f"#{index:<3} {a} {relation} {b}   target {target}", style="bold")
    return out


@data_app.command()
def show(
    split: Annotated[str, typer.Option("--split", help="train or test pairs.")] = "train",
    n: Annotated[int, typer.Option("--n", min=1, max=200, help="Number of pairs to draw.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw (as a bench round).")] = 0,
    data_dir: DataDir = None,
    offline: Offline = False,
) -> None:
    """Draw a few pairs in the terminal with their classes and target: what the models see."""
    if split not in ("train", "test"):
        raise typer.BadParameter("must be 'train' or 'test'", param_hint="--split")
    from rich.columns import Columns

    from digitduel.data import draw_pairs

    data = _load(data_dir, offline)
    pairs = draw_pairs(data, n=n, seed=seed)
    chosen = pairs.train if split == "train" else pairs.test
    raw = (chosen.input * pairs.std + pairs.mean).clamp(0, 255)  # back to pixel values
    console = make_console(highlight=False)
    # Grey levels need 256 colours or more; with 16 they collapse, and ink/no-ink reads better.
    color = console.is_terminal and console.color_system in ("256", "truecolor")
    console.print(f"{split} pairs, seed {seed}, from {data.describe()}")
    console.print(f"standardised with train mean {pairs.mean:.2f}, std {pairs.std:.2f}")
    panels = [
        _pair_panel(i, raw[i], chosen.classes[i], int(chosen.target[i]), color)
        for i in range(len(chosen))
    ]
    console.print(Columns(panels, padding=(1, 3)))
