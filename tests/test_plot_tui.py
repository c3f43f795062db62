"""The TUI's results screen draws a finished bench's curves from the same series as `plot`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import App

from digitduel.bench.results import load_results
from digitduel.report import figures
from digitduel.tui.results_screen import ResultsScreen

SMALL = Path(__file__).parent / "fixtures" / "small.json"


def _drawn(result) -> dict[str, int]:
    async def scenario():
        app = App()
        async with app.run_test(size=(120, 40)) as pilot:
            await app.push_screen(ResultsScreen(result, SMALL))
            await pilot.pause(0.1)
            return dict(app.screen.query_one("#curves-plot").drawn)

    return asyncio.run(scenario())


def test_results_screen_shows_the_mean_curve_of_every_contestant():
    result = load_results(SMALL)
    series = figures.curves([figures.source_of(result)])
    assert _drawn(result) == {c.label: len(c.accuracy.epochs) for c in series}
    assert _drawn(result) == {"sgd-convnet": 6, "sgd-ws": 6, "sgd-ws-aux": 6}


def test_results_without_epochs_draw_no_curve():
    result = load_results(SMALL)
    for run in result.runs:
        run.epochs = []
    assert _drawn(result) == {}
