"""Regenerate docs/figures/ from docs/results/*.json: each report's figures, as PNG.

    python benchmarks/figures.py [--results docs/results] [--out docs/figures]

One PNG per report and kind (NAME-curves.png, NAME-box.png, NAME-time.png) and the two
searches' sweeps, drawn by the same code as `digitduel plot FILE --kind KIND --out F.png`;
docs/reproduction.md shows them beside the tables. Only reads results files: seconds, no
training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from digitduel.report.figures import load_sources
from digitduel.report.plot_files import save_figure

REPO = Path(__file__).resolve().parents[1]
REPORTS = ["jomeau", "jomeau-tuned", "sgd", "borba", "banjac", "cappelletti"]
# Jomeau et al.'s fig. 2 (accuracy against alpha, the digit-only and no-aux models as
# reference lines: their own searches' best points), and the SGD report's grid search.
SWEEPS = {
    "jomeau-alpha-sweep": ["tune-jomeau-alpha", "tune-jomeau-digit", "tune-jomeau-ws2"],
    "sgd-ws-aux-sweep": ["tune-sgd-ws-aux"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "docs" / "results")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures")
    args = parser.parse_args()
    jobs = [
        (f"{name}-{kind}", kind, [name], name)
        for name in REPORTS
        for kind in ("curves", "box", "time")
    ]
    jobs += [(name, "sweep", files, files[0]) for name, files in SWEEPS.items()]
    for stem, kind, files, title in jobs:
        sources = load_sources([args.results / f"{f}.json" for f in files])
        path = save_figure(kind, sources, args.out / f"{stem}.png", title=title)
        print(
            f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {path.stat().st_size // 1024} KiB"
        )


if __name__ == "__main__":
    main()
