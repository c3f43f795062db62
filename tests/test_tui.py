"""The TUI driven by Textual's Pilot, as a user would: fill the form, start, watch, cancel,
quit, open results. Tiny models (test_engine_fakes) on real MNIST digits, 40 pairs, so every
bench here takes a second or two."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
import test_engine_fakes as fakes
from textual.widgets import Button, DataTable, Input, Select, SelectionList, Static
from typer.testing import CliRunner

from digitduel.bench import load_results
from digitduel.cli.main import app as cli_app
from digitduel.tui.app import DigitduelApp
from digitduel.tui.results_screen import ResultsScreen
from digitduel.tui.run_screen import RunScreen
from digitduel.tui.setup_screen import SetupScreen

SIZE = (100, 32)


async def until(pilot, condition, timeout=120.0, what="condition"):
    # A bound for a hang, not a speed claim: on a loaded 2-core machine a tiny bench can
    # take more than 30 s to finish a run.
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def ready_setup(pilot) -> SetupScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, SetupScreen), what="set-up screen")
    screen = app.screen
    await until(pilot, lambda: screen.registry_ready and screen.mnist is not None, what="registry")
    return screen


async def type_into(pilot, screen, key: str, text: str) -> None:
    field = screen.query_one(f"#f-{key}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


async def pick(pilot, screen, *models: str) -> None:
    """Select contestants with the keyboard: highlight each one, press space."""
    sl = screen.query_one("#models", SelectionList)
    sl.focus()
    for name in models:
        sl.highlighted = sl.get_option_index(name)
        await pilot.press("space")


async def fill_tiny(pilot, screen, *, rounds="1", epochs="1", executor="serial") -> None:
    await pick(pilot, screen, fakes.TINY, fakes.TINY_DIGITS)
    await type_into(pilot, screen, "rounds", rounds)
    await type_into(pilot, screen, "epochs", epochs)
    await type_into(pilot, screen, "n_pairs", "40")
    screen.query_one("#f-executor", Select).value = executor
    await pilot.pause()


async def start_tiny_bench(pilot, app, rounds: str, epochs: str) -> RunScreen:
    """From a fresh app: the tiny bench's form filled in, started, its run screen up."""
    screen = await ready_setup(pilot)
    await fill_tiny(pilot, screen, rounds=rounds, epochs=epochs)
    await pilot.press("ctrl+r")
    await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
    return app.screen


def test_fill_start_watch_and_find_results_saved(make_app, tmp_path):
    async def scenario():
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready_setup(pilot)
            assert "5000 train, 10000 test" in screen.data_line
            await fill_tiny(pilot, screen, executor="serial")
            assert not screen.query_one("#start", Button).disabled
            await pilot.press("ctrl+r")
            # a 40-pair bench can finish between two polls: hold the run screen the app kept
            await until(pilot, lambda: app.run_screen is not None, what="run screen")
            run = app.run_screen
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
            # the live screen received the epochs: plots drew them, the table has the rows
            assert run.loss_plot.drawn.get("live", 0) >= 1
            assert run.acc_plot.drawn.get("test", 0) >= 1
            assert {r.label: r.ok for r in run.state.rows.values()} == {
                fakes.TINY: 1,
                fakes.TINY_DIGITS: 1,
            }
            assert run.state.status == "finished"
            results = app.screen
            await pilot.pause(0.2)
            table = results.query_one("#results-table", DataTable)
            assert table.row_count == 2
            assert results.query_one("#rounds-plot").drawn["rounds"] == 2
            assert str(tmp_path / "r.json") in str(results.query_one("#saved", Static).render())

    asyncio.run(scenario())
    saved = load_results(tmp_path / "r.json")
    assert saved.status == "finished" and len(saved.runs) == 2
    assert saved.bench.n_pairs == 40
    assert {c.settings.epochs for c in saved.contestants} == {1}


@pytest.mark.slow
def test_worker_processes_run_inside_the_tui(make_app, tmp_path):
    """The processes executor (auto's choice on a multi-core CPU) under Textual, whose
    sys.stderr has no file descriptor: multiprocessing's resource tracker must still start."""

    async def scenario():
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready_setup(pilot)
            await fill_tiny(pilot, screen, executor="processes")
            await pilot.press("ctrl+r")
            # With the forkserver already warm (an earlier bench in this process), the workers
            # start in ~0.1 s and the bench can finish between two polls: hold the run screen
            # the app kept rather than wait to see it on top.
            await until(pilot, lambda: app.run_screen is not None, what="run screen")
            run = app.run_screen
            await until(
                pilot,
                lambda: isinstance(app.screen, ResultsScreen) or run.state.status == "failed",
                timeout=60,
            )
            assert run.state.status == "finished", list(run.state.log)
            await pilot.pause(0.2)

    asyncio.run(scenario())
    saved = load_results(tmp_path / "r.json")
    assert saved.environment.executor == "processes"
    assert [r.status for r in saved.runs] == ["ok", "ok"]


def test_invalid_values_are_flagged_as_typed_and_block_start(make_app):
    async def scenario():
        app = make_app(device="cpu")
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready_setup(pilot)
            device = screen.query_one("#f-device", Select)
            await until(pilot, lambda: device.value == "cpu", what="--device cpu chosen")
            # only devices this machine has (plus auto)
            assert {v for _p, v in device._options} <= {"auto", "cpu", "cuda", "mps"} | {
                f"cuda:{i}" for i in range(16)
            }
            start = screen.query_one("#start", Button)
            assert start.disabled  # nobody picked yet
            await pick(pilot, screen, fakes.TINY)
            assert not start.disabled
            await type_into(pilot, screen, "lr", "-1")
            lr = screen.query_one("#f-lr", Input)
            message = screen.query_one("#m-lr", Static)
            assert lr.has_class("-invalid")
            assert message.has_class("shown") and "greater than 0" in str(message.render())
            assert start.disabled
            await pilot.press("ctrl+r")  # refused: still on the set-up screen
            assert app.screen is screen
            await type_into(pilot, screen, "epochs", "2.5")
            assert "whole number" in str(screen.query_one("#m-epochs", Static).render())
            await type_into(pilot, screen, "lr", "0.01")
            await type_into(pilot, screen, "epochs", "3")
            assert not lr.has_class("-invalid") and not message.has_class("shown")
            assert not start.disabled

    asyncio.run(scenario())


def test_cancel_mid_run_keeps_finished_runs(make_app, tmp_path):
    async def scenario():
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            run = await start_tiny_bench(pilot, app, rounds="2", epochs="600")
            await until(pilot, lambda: run.state.done_runs >= 1, what="a finished run")
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
            assert run.state.status == "cancelled"
            assert any("cancel" in line for _lvl, line in run.state.log)
            await pilot.pause(0.2)

    asyncio.run(scenario())
    saved = load_results(tmp_path / "r.json")
    assert saved.status == "cancelled"
    assert 1 <= len(saved.runs) < 4
    assert all(r.status == "ok" for r in saved.runs)


def test_quit_mid_training_is_prompt_and_leaves_a_valid_file(make_app, tmp_path):
    async def scenario():
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            run = await start_tiny_bench(pilot, app, rounds="3", epochs="5000")
            await until(pilot, lambda: run.state.epochs_done >= 2, what="training")
            t0 = time.monotonic()
            await pilot.press("ctrl+q")
            await until(pilot, lambda: not run.running, timeout=5, what="runner to stop")
            return time.monotonic() - t0, app.return_code

    took, code = asyncio.run(scenario())
    assert took < 2.0
    assert code == 130  # as the CLI after Ctrl-C
    saved = load_results(tmp_path / "r.json")
    assert saved.status == "cancelled"


def test_q_on_the_run_screen_asks_before_cancelling(make_app, tmp_path):
    from digitduel.tui.dialogs import ConfirmDialog

    async def scenario():
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            run = await start_tiny_bench(pilot, app, rounds="3", epochs="5000")
            await until(pilot, lambda: run.state.epochs_done >= 1, what="training")
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="question")
            await pilot.press("n")  # no: the bench goes on
            await until(pilot, lambda: app.screen is run, what="back to the run")
            assert run.running and not run.cancel_flag.is_set()
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="question")
            await pilot.press("y")
            await until(pilot, lambda: not run.running, timeout=5, what="runner to stop")
            return app.return_code

    assert asyncio.run(scenario()) == 130
    assert load_results(tmp_path / "r.json").status == "cancelled"


def test_open_an_earlier_results_file_and_sort_it(make_app, tmp_path):
    from digitduel.bench import plan_for_models, run_bench

    plan = plan_for_models(
        [fakes.TINY, fakes.TINY_DIGITS],
        train_overrides={"epochs": 1},
        bench_overrides={"rounds": 2, "n_pairs": 40, "executor": "serial"},
    )
    old = tmp_path / "old.json"
    run_bench(plan, old, mnist=fakes.synthetic_mnist(200, 200))

    async def scenario():
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await ready_setup(pilot)
            await pilot.press("ctrl+o")
            await pilot.pause(0.1)
            await pilot.press("enter")  # the newest file in the results folder: old.json
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
            results = app.screen
            await pilot.pause(0.1)
            table = results.query_one("#results-table", DataTable)
            assert table.row_count == 2
            assert results.query_one("#rounds-plot").drawn["rounds"] == 4
            await pilot.press("s", "s")  # test %, s/run, then contestant
            names = [table.get_row_at(i)[0] for i in range(2)]
            assert names == sorted(names)
            await pilot.press("S")
            assert [table.get_row_at(i)[0] for i in range(2)] == sorted(names, reverse=True)

    asyncio.run(scenario())


def test_preset_option_starts_with_the_preset_loaded(make_app):
    async def scenario():
        app = make_app(preset="quick")
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready_setup(pilot)
            await until(pilot, lambda: screen.preset is not None, what="preset")
            assert set(screen.picked()) == {"sgd-convnet", "sgd-ws-aux", "jomeau-digit"}
            assert screen.query_one("#f-epochs", Input).value == "10"
            assert screen.query_one("#f-rounds", Input).value == "2"
            assert not screen.query_one("#start", Button).disabled
            # another preset through the dialog (a name or a path typed in its input)
            await pilot.press("ctrl+l")
            await pilot.pause(0.1)
            app.screen.query_one("#path", Input).focus()
            await pilot.press(*"jomeau", "enter")
            await until(pilot, lambda: screen.preset.name == "jomeau", what="jomeau preset")
            assert "jomeau-simple" in screen.picked() and "sgd-convnet" not in screen.picked()
            assert screen.query_one("#f-loss", Select).value == "mse"

    asyncio.run(scenario())


def test_a_bench_that_cannot_start_says_why_and_goes_back(tmp_path):
    empty = tmp_path / "no-mnist"
    empty.mkdir()

    async def scenario():
        app = DigitduelApp(data_dir=str(empty), out_path=tmp_path / "r.json")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, SetupScreen))
            screen = app.screen
            await until(pilot, lambda: screen.registry_ready and "no MNIST" in screen.data_line)
            await pick(pilot, screen, fakes.TINY)
            await pilot.press("ctrl+r")
            await until(pilot, lambda: isinstance(app.screen, RunScreen), what="run screen")
            run = app.screen
            await until(pilot, lambda: run.state.status == "failed", what="the failure")
            assert any("no MNIST files" in line for _lvl, line in run.state.log)
            await pilot.pause(0.1)
            shown = [strip.text for strip in run.query_one("#log").lines]
            assert any("MNIST" in line for line in shown), shown
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen, what="back to set-up")

    asyncio.run(scenario())
    assert not (tmp_path / "r.json").exists()


def test_plots_draw_earlier_rounds_behind_the_live_run():
    from textual.app import App

    from digitduel.training.events import JobKey
    from digitduel.tui.state import Curve, RunView
    from digitduel.tui.widgets import AccuracyPlot, LossPlot

    def run(rnd, epochs):
        curve = Curve([1 / (e + 1) for e in range(epochs)], [0.6] * epochs, [0.5] * epochs)
        return RunView(JobKey("m", rnd), epochs=epochs, epoch=epochs, curve=curve, status="ok")

    class Plots(App):
        def compose(self):
            yield LossPlot(id="loss")
            yield AccuracyPlot(id="acc")

    async def scenario():
        app = Plots()
        async with app.run_test(size=(80, 24)) as pilot:
            loss, acc = app.query_one("#loss", LossPlot), app.query_one("#acc", AccuracyPlot)
            loss.show_runs(run(2, 3), [run(0, 10), run(1, 10)])
            acc.show_runs(run(2, 3), [run(0, 10), run(1, 10)])
            await pilot.pause()
            assert loss.drawn == {"earlier": 20, "live": 3}
            assert acc.drawn == {"earlier": 20, "train": 3, "test": 3}
            # the faint curves are named once, so a dip there reads as a finished round
            assert loss.legend == ["earlier rounds", "this run"]
            assert acc.legend == ["test, earlier rounds", "train", "test"]
            await pilot.resize_terminal(40, 12)  # log10 on a linear axis survives a resize
            await pilot.pause()

    asyncio.run(scenario())


def test_cli_refuses_bad_options_in_one_line():
    runner = CliRunner()
    bad_device = runner.invoke(cli_app, ["tui", "--device", "tpu"])
    assert bad_device.exit_code == 2 and "error: --device 'tpu'" in bad_device.output
    bad_preset = runner.invoke(cli_app, ["tui", "--preset", "no-such-preset"])
    assert bad_preset.exit_code == 2 and "unknown preset" in bad_preset.output
    assert "Traceback" not in bad_device.output + bad_preset.output
    helped = subprocess.run(
        [sys.executable, "-m", "digitduel", "tui", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0 and "--preset" in helped.stdout


def test_cross_validation_from_the_form_shows_validation_accuracy(make_app, tmp_path):
    async def scenario():
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready_setup(pilot)
            await fill_tiny(pilot, screen, rounds="2")
            await type_into(pilot, screen, "folds", "2")
            await pilot.pause()
            await pilot.press("ctrl+r")
            await until(pilot, lambda: app.run_screen is not None, what="run screen")
            run = app.run_screen
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen), what="results")
            # the live table and plot label the held-out fold (the screen may be gone by now)
            assert run.held_out == "val" and run.acc_plot.held_out == "val"
            await pilot.pause(0.2)
            table = app.screen.query_one("#results-table", DataTable)
            labels = [str(c.label) for c in table.columns.values()]
            assert "val %" in labels and "test %" not in labels

    asyncio.run(scenario())
    saved = load_results(tmp_path / "r.json")
    assert saved.bench.folds == 2 and len(saved.runs) == 4
    assert len({r.data_seed for r in saved.runs}) == 1  # both folds split one draw
