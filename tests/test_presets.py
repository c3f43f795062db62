"""Presets: the built-in ones are valid against the model registry; bad ones are one-line
errors naming the file and the key (exit 2)."""

from __future__ import annotations

import json

import pytest
from test_engine_fakes import TINY
from typer.testing import CliRunner

from digitduel.bench.presets import builtin_names, load_preset, plan_from_preset
from digitduel.cli.main import app
from digitduel.errors import ConfigError
from digitduel.models.registry import get_spec

runner = CliRunner()
REPORT_PRESETS = {"jomeau", "sgd", "borba", "cappelletti", "banjac"}


def test_one_preset_per_report_plus_quick():
    assert set(builtin_names()) >= REPORT_PRESETS | {"quick"}


@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_builtin_preset_resolves_against_the_registry(name):
    plan = plan_from_preset(name)
    assert plan.name == name and plan.contestants
    for c in plan.contestants:
        spec = get_spec(c.model)  # every model exists
        assert spec.name == c.model
    for label in plan.report or {}:
        assert label in {c.label for c in plan.contestants}
    if name in REPORT_PRESETS:
        assert plan.report and plan.report_source
        assert plan.bench.rounds >= 10  # the reports average 10 or 15 rounds


def test_quick_is_small_and_report_protocols_are_kept():
    quick = plan_from_preset("quick")
    assert len(quick.contestants) == 3 and quick.bench.rounds == 2
    assert all(c.settings.epochs <= 10 for c in quick.contestants)
    sgd = {c.label: c.settings for c in plan_from_preset("sgd").contestants}
    assert sgd["sgd-convnet"].lr == 9e-2 and sgd["sgd-convnet"].lr2 == 1e-3
    assert sgd["sgd-convnet"].epochs == 50 and sgd["sgd-convnet"].lr_at(30) == 1e-3
    jomeau = {c.label: c.settings for c in plan_from_preset("jomeau").contestants}
    assert jomeau["jomeau-ws2"].lr == 5e-4 and jomeau["jomeau-aux10"].lr == 5e-3
    assert {s.loss for s in jomeau.values()} == {"mse"}


def test_cli_flags_override_the_preset():
    plan = plan_from_preset(
        "quick", train_overrides={"epochs": 1}, bench_overrides={"rounds": 1, "n_pairs": 10}
    )
    assert all(c.settings.epochs == 1 for c in plan.contestants)
    assert plan.bench.rounds == 1 and plan.bench.n_pairs == 10


GOOD = f"""
name = "mine"
description = "test"
[settings]
epochs = 1
rounds = 2
[[contestants]]
model = "{TINY}"
[[contestants]]
label = "fast"
model = "{TINY}"
lr = 0.01
"""


@pytest.mark.parametrize(
    "edit, message",
    [
        (("lr = 0.01", "lrr = 0.01"), "[[contestants]] #2 'lrr': unknown key"),
        (("epochs = 1", "epoch = 1"), "[settings] 'epoch': unknown key"),
        (("epochs = 1", 'epochs = "many"'), "[settings]: epochs:"),
        (("lr = 0.01", "lr = -1.0"), "[[contestants]] #2: lr: Input should be greater than 0"),
        (("lr = 0.01", "rounds = 3"), "'rounds': a bench setting; put it in [settings]"),
        (('model = "test-tiny-cnn"\n[[', 'model = "nope"\n[['), "#1: unknown model 'nope'"),
        (('description = "test"', 'descripton = "test"'), "'descripton': unknown key"),
        (('label = "fast"', f'label = "{TINY}"'), "is used twice"),
        (("rounds = 2", "rounds = 2\n[report.ghost]\nmean = 1.0"), "[report.ghost]: no contestant"),
        (("rounds = 2", "rounds = [2"), "not valid TOML"),
    ],
)
def test_bad_preset_is_a_one_line_error_naming_file_and_key(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(*edit, 1))
    with pytest.raises(ConfigError) as err:
        plan_from_preset(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    res = runner.invoke(app, ["bench", "--preset", str(path)])
    assert res.exit_code == 2 and res.stderr.strip() == f"error: {text}"


def test_good_user_preset_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    plan = plan_from_preset(str(path))
    assert [c.label for c in plan.contestants] == [TINY, "fast"]
    assert plan.contestants[1].settings.lr == 0.01 and plan.bench.rounds == 2
    assert load_preset(str(path)).where == str(path)


def test_presets_command_lists_them():
    res = runner.invoke(app, ["presets", "--json"])
    assert res.exit_code == 0
    names = [p["name"] for p in json.loads(res.stdout)]
    assert set(names) >= REPORT_PRESETS | {"quick"}
    res = runner.invoke(app, ["presets"])
    assert res.exit_code == 0 and "cappelletti" in res.stdout


def test_a_model_that_cannot_take_the_loss_is_refused_before_training(tmp_path):
    path = tmp_path / "ce.toml"
    path.write_text(
        GOOD.replace('model = "test-tiny-cnn"\n[[', 'model = "test-tiny-mse"\nloss = "ce"\n[[', 1)
    )
    with pytest.raises(
        ConfigError, match=r"#1: model 'test-tiny-mse' with loss 'ce': .*2 comparison logits"
    ):
        plan_from_preset(str(path))


def test_the_tuned_preset_takes_the_learning_rates_its_searches_chose():
    """jomeau-tuned's rates come from `digitduel tune` (4-fold CV on train pairs, committed
    in docs/results/tune-MODEL.json), never from test accuracy: each must be the search's best."""
    from pathlib import Path

    from digitduel.bench.results import load_results
    from digitduel.bench.search import best_point

    results = Path(__file__).resolve().parents[1] / "docs" / "results"
    plan = plan_from_preset("jomeau-tuned")
    for c in plan.contestants:
        search = load_results(results / f"tune-{c.model}.json")
        assert search.bench.folds == 4 and search.status == "finished"
        best = best_point(search)
        chosen = next(x for x in search.contestants if x.label == best.label)
        assert c.settings.lr == chosen.settings.lr, c.model
        assert c.settings.model_dump(exclude={"lr"}) == chosen.settings.model_dump(exclude={"lr"})
