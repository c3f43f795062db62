"""docs/reproduction.md shows every report's figures, and keeps them when its tables are
regenerated (`digitduel reproduce NAME --from ... --update-doc`)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from digitduel.cli.main import app

DOCS = Path(__file__).resolve().parents[1] / "docs"
REPORTS = ["jomeau", "jomeau-tuned", "sgd", "borba", "banjac", "cappelletti"]


def _links(text: str) -> set[str]:
    return set(re.findall(r"\((figures/[\w.-]+\.png)\)", text))


def test_every_report_shows_its_figures_and_every_figure_exists():
    links = _links((DOCS / "reproduction.md").read_text())
    for name in REPORTS:
        assert {f"figures/{name}-box.png", f"figures/{name}-curves.png"} <= links, name
    assert {"figures/jomeau-alpha-sweep.png", "figures/sgd-ws-aux-sweep.png"} <= links
    for link in links:
        png = DOCS / link
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000


def test_figure_links_survive_the_tables_regeneration(tmp_path):
    doc = tmp_path / "reproduction.md"
    shutil.copy(DOCS / "reproduction.md", doc)
    before = _links(doc.read_text())
    for name in REPORTS:
        results = DOCS / "results" / f"{name}.json"
        r = CliRunner().invoke(
            app, ["reproduce", name, "--from", str(results), "--update-doc", str(doc)]
        )
        assert r.exit_code == 0, r.output
    assert _links(doc.read_text()) == before
