"""A user's model file everywhere a built-in goes: each executor, tune, presets, reproduce,
results provenance, the `--resume` refusal, `show`, and the TUI. Tiny sizes throughout."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from test_engine_fakes import TINY, synthetic_mnist
from typer.testing import CliRunner

from digitduel.bench import load_results
from digitduel.bench.plan import plan_for_models
from digitduel.bench.presets import plan_from_preset
from digitduel.bench.runner import run_bench
from digitduel.bench.search import plan_for_grid
from digitduel.cli.main import app
from digitduel.errors import ConfigError
from digitduel.models.registry import get_spec
from digitduel.models.user import forget_user_models, load_source
from digitduel.training.events import Note

runner = CliRunner()

USER_NET = textwrap.dedent("""
    import torch
    from torch import nn
    from digitduel import register

    @register("wire-net", recipe={"epochs": 1, "batch_size": 20})
    class WireNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2 * 14 * 14, 2)

        def forward(self, x):
            return self.fc(x.flatten(1))  # plain [B, 2] logits: adapted on load
""")
# A forward torch.func.vmap cannot trace (data-dependent Python control flow).
UNBATCHABLE = USER_NET.replace('"wire-net"', '"wire-branchy"').replace(
    "return self.fc(x.flatten(1))",
    "return self.fc(x.flatten(1)) if x.sum().item() > -1e9 else None",
)


pytestmark = pytest.mark.usefixtures("clean_user_models")


@pytest.fixture
def user_file(tmp_path) -> Path:
    path = tmp_path / "wire_nets.py"
    path.write_text(USER_NET)
    return path


def _bench(plan, out, **kwargs):
    return run_bench(plan, out, mnist=synthetic_mnist(300, 300), **kwargs)


def _plan(models, executor, rounds=2, jobs=1):
    return plan_for_models(
        models,
        train_overrides={"epochs": 1, "batch_size": 20},
        bench_overrides={"rounds": rounds, "n_pairs": 60, "executor": executor, "jobs": jobs},
    )


@pytest.mark.parametrize("executor", ["serial", "processes", "batched"])
def test_a_user_file_trains_on_every_executor_and_the_results_trace_it(
    user_file, tmp_path, executor
):
    plan = _plan([str(user_file), TINY], executor, jobs=2 if executor == "processes" else 1)
    notes = []
    result = _bench(plan, tmp_path / "r.json", on_event=lambda e: notes.append(e))
    assert [r.status for r in result.runs] == ["ok"] * 4, [r.error for r in result.runs]
    assert result.environment.executor == executor
    assert not [n for n in notes if isinstance(n, Note) and "not batched" in n.message]
    saved = load_results(tmp_path / "r.json")
    origin = saved.models["wire-net"]
    assert origin.kind == "file" and origin.files[0].path == str(user_file.resolve())
    assert origin.files[0].sha256 == get_spec("wire-net").origin.files[0][1]
    assert TINY not in saved.models  # built-ins are the recorded digitduel version's


def test_batched_falls_back_with_a_note_for_a_user_model_vmap_cannot_trace(tmp_path):
    path = tmp_path / "branchy.py"
    path.write_text(UNBATCHABLE)
    notes = []
    result = _bench(_plan([str(path)], "batched"), tmp_path / "r.json", on_event=notes.append)
    assert [r.status for r in result.runs] == ["ok", "ok"]
    said = [n.message for n in notes if isinstance(n, Note)]
    assert any("wire-branchy: not batched" in m and "fallback" in m for m in said), said


def test_tune_cross_validates_a_user_model(user_file, tmp_path):
    load_source(str(user_file))
    plan = plan_for_grid(
        "wire-net",
        {"lr": [1e-3, 1e-2]},
        train_overrides={"epochs": 1},
        bench_overrides={"folds": 2, "n_pairs": 60, "executor": "serial"},
    )
    result = _bench(plan, tmp_path / "t.json")
    assert {s.label: s.ok for s in result.summary} == {
        "wire-net lr=0.001": 2,
        "wire-net lr=0.01": 2,
    }
    assert "wire-net" in result.models


def test_a_preset_lists_model_files_relative_to_itself(user_file, tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    folder.mkdir()
    preset = folder / "mine.toml"
    preset.write_text(
        'name = "mine"\nmodel_files = ["../wire_nets.py"]\n[settings]\nepochs = 1\n'
        '[[contestants]]\nmodel = "wire-net"\n'
    )
    monkeypatch.chdir(folder.parent.parent)  # elsewhere: the path is the preset's, not ours
    plan = plan_from_preset(str(preset))
    assert [c.model for c in plan.contestants] == ["wire-net"]
    assert get_spec("wire-net").origin.files[0][0] == str(user_file.resolve())


def test_a_preset_model_files_of_the_wrong_type_is_one_line(tmp_path):
    preset = tmp_path / "bad.toml"
    preset.write_text('name = "bad"\nmodel_files = "nets.py"\n[[contestants]]\nmodel = "x"\n')
    result = runner.invoke(app, ["bench", "--preset", str(preset)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {preset}: 'model_files': must be a list of file paths (strings)"
    )


def _cli_bench(user_file, out, mnist_dir, *extra):
    return runner.invoke(
        app,
        [
            "bench",
            "--model-file",
            str(user_file),
            "-m",
            "wire-net",
            "--rounds",
            "1",
            "--n-pairs",
            "40",
            "--executor",
            "serial",
            "--data-dir",
            str(mnist_dir),
            "--offline",
            "-o",
            str(out),
            *extra,
        ],
    )


def test_resume_refuses_by_name_when_the_file_changed_and_show_names_it(
    user_file, tmp_path, mnist_dir
):
    out = tmp_path / "r.json"
    first = _cli_bench(user_file, out, mnist_dir)
    assert first.exit_code == 0, first.output
    shown = runner.invoke(app, ["show", str(out)])
    digest = load_results(out).models["wire-net"].files[0].sha256
    assert f"wire-net: user model from {user_file} (sha256 {digest[:12]})" in shown.stdout

    user_file.write_text(USER_NET.replace("2 * 14 * 14, 2", "2 * 14 * 14, 1"))  # an edit
    forget_user_models()
    again = _cli_bench(user_file, out, mnist_dir, "--resume", "--rounds", "2")
    assert again.exit_code == 2
    [line] = again.stderr.strip().splitlines()
    assert line.startswith(f"error: --resume: model 'wire-net': {user_file} changed since")


def test_reproduce_puts_the_users_row_beside_the_reports_with_a_paired_verdict(
    user_file, tmp_path, mnist_dir
):
    preset = tmp_path / "rep.toml"
    preset.write_text(
        f'name = "rep"\n[settings]\nepochs = 1\n[[contestants]]\nmodel = "{TINY}"\n'
        f'[report]\nsource = "a table"\n[report.{TINY}]\nmean = 90.0\nstd = 1.0\nrounds = 10\n'
    )
    result = runner.invoke(
        app,
        [
            "reproduce",
            str(preset),
            "--model-file",
            str(user_file),
            "-m",
            "wire-net",
            "--rounds",
            "2",
            "--n-pairs",
            "40",
            "--executor",
            "serial",
            "--data-dir",
            str(mnist_dir),
            "--offline",
            "--out",
            str(tmp_path / "r.json"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["label"] for r in doc["rows"]] == [TINY, "wire-net"]
    [mine] = doc["against_best"]
    assert mine["label"] == "wire-net" and mine["best"] == TINY and mine["test"] == "paired"


def test_the_tui_lists_user_models_and_loads_a_file_with_ctrl_n(user_file, tmp_path, mnist_dir):
    from test_tui import ready_setup, until

    from digitduel.tui.app import DigitduelApp
    from digitduel.tui.model_file_dialog import ModelFileDialog

    broken = tmp_path / "broken.py"
    broken.write_text(USER_NET.replace("nn.Linear(2 * 14 * 14, 2)", "nn.Linear(14, 2)"))

    async def scenario():
        app = DigitduelApp(data_dir=str(mnist_dir), out_dir=tmp_path)
        async with app.run_test(size=(100, 32)) as pilot:
            screen = await ready_setup(pilot)
            models = screen.query_one("#models")
            assert not models.has_model("wire-net")
            for reference in (str(broken), str(user_file)):
                await pilot.press("ctrl+n")
                await until(pilot, lambda: isinstance(app.screen, ModelFileDialog), what="dialog")
                await pilot.press(*reference, "enter")
                await pilot.pause(0.2)
            await until(pilot, lambda: models.has_model("wire-net"), what="the user model")
            headings = [str(o.prompt) for o in models.options if o.disabled]
            assert headings[-1] == "── user models"
            assert screen.picked() == ["wire-net"]
            errors = [n.message for n in app._notifications if n.severity == "error"]
            assert len(errors) == 1 and errors[0].startswith(f"{broken}: model 'wire-net':")
            assert "\n" not in errors[0]

    asyncio.run(scenario())


def test_a_shape_error_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "shapes.py"
    path.write_text(USER_NET.replace("nn.Linear(2 * 14 * 14, 2)", "nn.Linear(2 * 14 * 14, 3)"))
    result = runner.invoke(app, ["bench", "--model-file", str(path), "-m", "wire-net"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: model 'wire-net': comparison output has shape [2, 3]")


def test_name_gives_a_plain_class_its_registry_name(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text(
        USER_NET.replace('@register("wire-net", recipe={"epochs": 1, "batch_size": 20})\n', "")
    )
    with pytest.raises(ConfigError, match="--name names one plain class"):
        from digitduel.cli.run_options import load_model_files

        load_model_files([str(path)], "mine")
    result = runner.invoke(app, ["bench", "--model-file", f"{path}:WireNet", "--name", "mine"])
    assert result.exit_code == 2  # no --model: the usual usage line, after the file loaded
    assert get_spec("mine").origin.source.attr == "WireNet"


def test_bench_takes_a_module_attr_reference_as_a_model(tmp_path, monkeypatch):
    (tmp_path / "wire_module.py").write_text(USER_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    plan = _plan(["wire_module:WireNet", TINY], "serial", rounds=1)
    assert [c.model for c in plan.contestants] == ["wire-net", TINY]
    assert get_spec("wire-net").origin.kind == "module"
    result = _bench(plan, tmp_path / "r.json")
    assert [r.status for r in result.runs] == ["ok", "ok"]
    assert result.models["wire-net"].source == "wire_module"


def test_tune_prints_a_bench_command_that_loads_the_users_file_again(user_file, tmp_path):
    from digitduel.models.user import model_file_flags, parse_source

    load_source(str(user_file))
    assert model_file_flags("wire-net") == f"--model-file {user_file}"
    plain = tmp_path / "plain.py"
    plain.write_text(
        USER_NET.replace('@register("wire-net", recipe={"epochs": 1, "batch_size": 20})\n', "")
    )
    load_source(parse_source(f"{plain}:WireNet", "mine"))
    assert model_file_flags("mine") == f"--model-file {plain}:WireNet --name mine"
    assert model_file_flags(TINY) == ""
