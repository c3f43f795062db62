"""The TUI at 80x24, with cross-validation results, and resuming a results file: what a user
sees on each screen (the screen's text as drawn, widget regions), driven by Textual's Pilot."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from pathlib import Path

import pytest
import test_engine_fakes as fakes
from test_tui import fill_tiny, ready_setup, until
from textual.widgets import Button, DataTable

from digitduel.bench import load_results, plan_for_models, run_bench
from digitduel.bench.journal import journal_path, read_journal
from digitduel.numbers import middle_ellipsis, round_label
from digitduel.training.events import RunEnded
from digitduel.tui.results_screen import ResultsScreen
from digitduel.tui.run_screen import RunScreen
from digitduel.tui.widgets import fit_text

SMALL = (80, 24)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "results"


def screen_lines(app) -> list[str]:
    """The screen's text as drawn, one string per terminal row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def overlaps(screen, selectors: list[str]) -> list[tuple[str, str]]:
    """Pairs of the named widgets whose regions on screen overlap."""
    regions = {s: screen.query_one(s).region for s in selectors}
    return [
        (a, b) for a, b in itertools.combinations(selectors, 2) if regions[a].overlaps(regions[b])
    ]


def inside(screen, selector: str) -> bool:
    return screen.region.contains_region(screen.query_one(selector).region)


# -- the shared helpers --------------------------------------------------------------------
def test_middle_ellipsis_keeps_both_ends_and_the_width():
    path = "/home/someone/projects/digitduel-results/20261126-110454-jomeau-simple.json"
    short = middle_ellipsis(path, 40)
    assert len(short) == 40 and "…" in short
    assert short.startswith("/home/someone") and short.endswith("jomeau-simple.json")
    assert middle_ellipsis(path, len(path)) == path  # fits: unchanged
    assert middle_ellipsis("abcdef", 1) == "…" and middle_ellipsis("abcdef", 0) == ""


def test_fit_text_shortens_only_the_path_inside_a_line():
    line = "data: dir /work/shared/data/mnist (5000 train, 10000 test)"
    fitted = fit_text(line, "/work/shared/data/mnist", 50)
    assert len(fitted) == 50 and fitted.startswith("data: dir /work")
    assert fitted.endswith("mnist (5000 train, 10000 test)")  # the rest kept whole
    assert fit_text(line, "/work/shared/data/mnist", 200) == line


def test_rounds_read_from_one():
    assert round_label(0) == "round 1" and round_label(3, 4) == "round 4/4"


# -- 80x24 ---------------------------------------------------------------------------------
def test_setup_at_80x24_nothing_overlaps_and_hidden_fields_are_named(make_app):
    async def scenario():
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await ready_setup(pilot)
            await pilot.pause(0.2)
            parts = ["#title", "#left", "#form", "#status-what", "#start", "#status-data"]
            assert overlaps(screen, [*parts, "Footer"]) == []
            start = screen.query_one("#start", Button)
            assert inside(screen, "#start") and start.region.height == 1
            assert "Start" in screen_lines(app)[start.region.y]
            # the data line keeps its counts whole and shortens its path in the middle
            data = screen.query_one("#status-data").region
            assert data.height == 1
            shown = screen_lines(app)[data.y]
            assert "…" in shown and "5000 train, 10000 test" in shown, shown
            # where the bench runs is in view; what is not is named in the form's border
            form = screen.query_one("#form")
            hidden = screen.hidden_fields()
            assert hidden and "executor" not in hidden and "device" not in hidden
            assert hidden[-1] in str(form.border_subtitle)
            assert inside(screen, "#f-executor") and inside(screen, "#f-device")
            form.scroll_end(animate=False)
            await pilot.pause(0.2)
            assert screen.hidden_fields() == [] and not form.border_subtitle

    asyncio.run(scenario())


def test_run_and_results_at_80x24_nothing_overlaps_and_the_log_tells(make_app, tmp_path):
    async def scenario():
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            screen = await ready_setup(pilot)
            await fill_tiny(pilot, screen, rounds="2", epochs="300")
            app.notify("a toast on the set-up screen", timeout=60)
            await pilot.press("ctrl+r")
            await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
            run = app.screen
            assert len(app._notifications) == 0  # the set-up's toast left with its screen
            await until(pilot, lambda: run.state.done_runs >= 1, what="a finished run")
            await pilot.pause(0.3)
            parts = ["#title", "#bench-line", "#run-line", "#plots", "#bottom", "Footer"]
            assert overlaps(run, parts) == []
            lines = screen_lines(app)
            assert "…" in lines[0] and lines[0].rstrip().endswith("r.json")  # shortened path
            assert "round 1/2" in lines[2], lines[2]
            # the log pane says what happened: the finished run with its accuracy
            logged = [strip.text for strip in run.query_one("#log").lines]
            assert any(f"{fakes.TINY} round 1: test" in line for line in logged), logged
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
            results = app.screen
            await pilot.pause(0.2)
            parts = ["#title", "#where", "#results-table", "#rounds-plot", "Footer"]
            assert overlaps(results, parts) == []
            saved = screen_lines(app)[results.query_one("#saved").region.y]
            assert saved.strip().startswith("saved: ") and saved.rstrip().endswith("r.json")

    asyncio.run(scenario())


# -- cross-validation results ------------------------------------------------------------------
def test_a_tune_file_is_labelled_validation_not_test(make_app):
    async def scenario():
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await ready_setup(pilot)
            app.load_results_worker(str(DOCS / "tune-jomeau-alpha.json"))
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
            await pilot.pause(0.3)
            table = app.screen.query_one("#results-table", DataTable)
            headers = [str(c.label) for c in table.columns.values()]
            assert headers[0] == "contestant" and "val %" in headers  # not "convalant"
            assert "test %" not in headers
            text = "\n".join(screen_lines(app))
            assert "val accuracy %" in text and "test accuracy" not in text
            # a finished file has nothing to resume: no key offered, no hint
            assert not app.screen.check_action("resume", ()) and "resumes" not in text

    asyncio.run(scenario())


# -- resume from the file alone ----------------------------------------------------------------
def cancelled_bench(path: Path, data_dir: str) -> None:
    """Two tiny contestants x 2 rounds, stopped after the first finished run."""
    plan = plan_for_models(
        [fakes.TINY, fakes.TINY_DIGITS],
        train_overrides={"epochs": 2},
        bench_overrides={"rounds": 2, "n_pairs": 100, "executor": "serial"},
        data_dir=data_dir,
    )
    cancel = threading.Event()

    def stop(event):
        if isinstance(event, RunEnded):
            cancel.set()

    run_bench(plan, path, on_event=stop, cancel=cancel)


@pytest.mark.parametrize("killed", [False, True], ids=["cancelled", "killed-while-running"])
def test_resume_a_results_file_from_the_tui(make_app, tmp_path, mnist_dir, killed):
    old = tmp_path / "old.json"
    cancelled_bench(old, str(mnist_dir))
    if killed:  # as `kill -9` leaves it: the first snapshot (no runs yet), the journal's run
        doc = json.loads(old.read_text())
        doc.update(status="running", runs=[], summary=[], finished=None)
        old.write_text(json.dumps(doc))
    journaled = read_journal(journal_path(old))[1]
    assert len(journaled) == 1

    async def scenario():
        app = make_app()
        async with app.run_test(size=SMALL) as pilot:
            await ready_setup(pilot)
            app.load_results_worker(str(old))
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
            await pilot.pause(0.2)
            assert app.screen.check_action("resume", ())
            state = screen_lines(app)[app.screen.query_one("#state").region.y]
            assert "r resumes it" in state, state
            opened = app.screen
            await pilot.press("r")
            # three tiny runs can finish between two polls: hold the run screen the app kept
            await until(pilot, lambda: app.run_screen is not None, what="run screen")
            run = app.run_screen
            assert run.resume and run.out_path == old
            await until(
                pilot,
                lambda: isinstance(app.screen, ResultsScreen) and app.screen is not opened,
                timeout=60,
                what="results of the resumed bench",
            )
            assert run.state.status == "finished", list(run.state.log)
            assert run.state.done_runs == 4
            assert run.loss_plot.drawn.get("live", 0) >= 1  # it was live, with plots
            await pilot.pause(0.2)

    asyncio.run(scenario())
    saved = load_results(old)
    assert saved.status == "finished" and len(saved.runs) == 4
    assert journaled[0] in saved.runs  # the run finished before was kept, not trained again
