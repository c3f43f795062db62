"""Cross-validation (`folds`) and the grid search `digitduel tune` builds on it."""

from __future__ import annotations

import json
import re

import pytest
import torch
from test_data_pairs import _data, _ids
from test_engine_fakes import TINY, TINY_DIGITS, synthetic_mnist
from typer.testing import CliRunner

from digitduel.bench.executors import DataContext
from digitduel.bench.plan import plan_for_models, round_seeds
from digitduel.bench.results import load_results
from digitduel.bench.runner import plan_jobs, run_bench
from digitduel.bench.search import grid_points, parse_grid_item, plan_for_grid, set_flags
from digitduel.cli.main import app
from digitduel.data import draw_pairs, fold_split
from digitduel.errors import ConfigError, DataError
from digitduel.report.significance import share_draws
from digitduel.settings import BenchSettings

runner = CliRunner()


def test_folds_partition_the_train_pairs_and_never_touch_the_test_split():
    data = _data(n_train=300, n_test=200)
    pairs = draw_pairs(data, 100, seed=3)
    train_ids = _ids(pairs.train, pairs.mean, pairs.std)
    held = []
    for k in range(4):
        f = fold_split(pairs, k, 4)
        assert len(f.test) == 25 and len(f.train) == 75  # equal folds: they batch together
        val, rest = _ids(f.test, f.mean, f.std), _ids(f.train, f.mean, f.std)
        assert (val < 10_000).all() and (rest < 10_000).all()  # train digits only
        assert not set(val.flatten().tolist()) & set(rest.flatten().tolist())
        assert sorted(val.flatten().tolist() + rest.flatten().tolist()) == sorted(
            train_ids.flatten().tolist()
        )
        # standardised with the training folds alone: nothing of the held-out fold leaks in
        assert f.train.input.mean().abs() < 1e-4 and (f.train.input.std() - 1).abs() < 1e-4
        assert torch.equal(f.test.target, (f.test.classes[:, 0] <= f.test.classes[:, 1]).long())
        held.append(val)
    assert sorted(torch.cat(held).flatten().tolist()) == sorted(train_ids.flatten().tolist())
    with pytest.raises(DataError):
        fold_split(pairs, 4, 4)


def test_left_over_pairs_always_train():
    pairs = draw_pairs(_data(), 10, seed=0)
    sizes = {
        (len(fold_split(pairs, k, 3).train), len(fold_split(pairs, k, 3).test)) for k in (0, 1, 2)
    }
    assert sizes == {(7, 3)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"folds": 1}, "folds must be 0 (off) or at least 2"),
        ({"folds": 4, "rounds": 5}, "rounds (5) exceeds folds (4)"),
        ({"folds": 5, "n_pairs": 4}, "cannot be split into 5 folds"),
    ],
)
def test_bad_fold_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BenchSettings(**kwargs)


def test_folds_alone_run_every_fold_once():
    assert BenchSettings(folds=4).rounds == 4
    assert BenchSettings(folds=5, rounds=1).rounds == 1  # the SGD report's 20% hold-out


def test_cross_validation_rounds_share_one_draw_with_fresh_initialisation():
    plan = plan_for_models([TINY, TINY_DIGITS], bench_overrides={"folds": 3})
    jobs = plan_jobs(plan)
    assert {j.data_seed for j in jobs} == {round_seeds(0, 0)[0]}
    assert sorted({(j.round, j.fold) for j in jobs}) == [(0, 0), (1, 1), (2, 2)]
    assert len({j.seed for j in jobs}) == 3
    # the fingerprint that guards --resume knows the folds; without folds it is unchanged
    assert "folds" in plan.identity()
    assert "folds" not in plan_for_models([TINY]).identity()


def test_a_cross_validated_bench_scores_held_out_folds(tmp_path):
    mnist = synthetic_mnist()
    ctx = DataContext.from_mnist(mnist, 60, "cpu", folds=3)
    fold = ctx.pairs(7, 1)
    assert len(fold.train) == 40 and len(fold.test) == 20
    plan = plan_for_models(
        [TINY],
        train_overrides={"epochs": 1},
        bench_overrides={"folds": 3, "n_pairs": 60, "executor": "serial"},
    )
    result = run_bench(plan, tmp_path / "cv.json", mnist=mnist)
    assert result.status == "finished" and [r.round for r in result.runs] == [0, 1, 2]
    for run in result.runs:  # accuracy over 20 held-out pairs, in steps of 1/20
        assert abs(run.test_accuracy * 20 - round(run.test_accuracy * 20)) < 1e-6
    # a cross-validation is never paired with a bench that tested on the test pairs
    plain = run_bench(
        plan_for_models([TINY], train_overrides={"epochs": 1},
                        bench_overrides={"rounds": 1, "n_pairs": 60, "executor": "serial"}),
        tmp_path / "plain.json",
        mnist=mnist,
    )  # fmt: skip
    assert result.runs[0].data_seed == plain.runs[0].data_seed
    assert not share_draws(result, TINY, plain, TINY)


def test_grid_values_parse_as_toml_literals():
    assert parse_grid_item("lr=1e-4, 5e-4,1e-3") == ("lr", [1e-4, 5e-4, 1e-3])
    assert parse_grid_item("optimizer=adam,sgd") == ("optimizer", ["adam", "sgd"])
    assert parse_grid_item('augment=[[], ["swap"]]') == ("augment", [[], ["swap"]])
    assert grid_points({"lr": [1, 2], "aux_weight": [3]}) == [
        {"lr": 1, "aux_weight": 3},
        {"lr": 2, "aux_weight": 3},
    ]
    assert (
        set_flags({"lr": 0.005, "augment": ["swap"]}) == "--set lr=0.005 --set 'augment=[\"swap\"]'"
    )


def test_a_grid_is_one_contestant_per_point_validated_by_the_schema():
    plan = plan_for_grid(TINY, {"lr": [1e-3, 1e-2], "batch_size": [10, 20]})
    assert [c.label for c in plan.contestants] == [
        f"{TINY} lr=0.001 batch_size=10",
        f"{TINY} lr=0.001 batch_size=20",
        f"{TINY} lr=0.01 batch_size=10",
        f"{TINY} lr=0.01 batch_size=20",
    ]
    assert plan.contestants[3].settings.lr == 1e-2 and plan.contestants[3].settings.epochs == 2
    assert plan.bench.folds == 4 and plan.bench.rounds == 4
    with pytest.raises(ConfigError, match="lr: Input should be greater than 0"):
        plan_for_grid(TINY, {"lr": [0]})
    with pytest.raises(ConfigError, match="a bench setting"):
        plan_for_grid(TINY, {"n_pairs": [10]})
    with pytest.raises(ConfigError, match="would leak the test set"):
        plan_for_grid(TINY, {"lr": [1e-3]}, bench_overrides={"folds": 0})


def test_tune_prints_the_folds_the_ranking_and_the_command_for_the_best(tmp_path, mnist_dir):
    out = tmp_path / "t.json"
    args = ["tune", TINY, "--grid", "lr=1e-3,3e-2", "--folds", "2", "--epochs", "1"]
    args += ["--n-pairs", "40", "--executor", "serial", "--data-dir", str(mnist_dir)]
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "2-fold cross-validation of 40 train pairs" in res.stdout
    assert "val %" in res.stdout and "test %" not in res.stdout
    assert f"[1/4] {TINY} lr=0.001 round 1: ok val " in res.stdout
    assert "each contestant against" in res.stdout
    # The follow-up bench keeps every data and run option the tune was given (issue 14).
    assert re.search(
        rf"  digitduel bench -m {TINY} --epochs 1 --n-pairs 40 --executor serial "
        rf"--set lr=0\.0\d+ --data-dir {re.escape(str(mnist_dir.resolve()))} --rounds 10\n",
        res.stdout,
    ), res.stdout
    res = runner.invoke(app, [*args, "--out", str(out), "--json", "--resume"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["best"]["label"] in {f"{TINY} lr=0.001", f"{TINY} lr=0.03"}
    assert set(doc["best"]["settings"]) == {"lr"}
    res = runner.invoke(app, ["show", str(out)])
    assert res.exit_code == 0 and "val %" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "lr=1e-3", "--folds", "0"], "would leak the test set"),
        (["--grid", "lr=1e-3", "--folds", "1"], "folds must be 0 (off) or at least 2"),
        (["--grid", "rounds=1,2"], "a bench setting"),
        (["--grid", "lr"], "expected KEY=V1,V2"),
        (["--grid", "lr=1e-3", "--grid", "lr=2e-3"], "given twice"),
        (["--grid", "nope=1"], "unknown setting 'nope'"),
    ],
)
def test_bad_tune_requests_exit_2_with_one_line(args, message):
    res = runner.invoke(app, ["tune", TINY, *args])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and message in res.stderr


def test_tune_names_an_unknown_model():
    res = runner.invoke(app, ["tune", "no-such-model", "--grid", "lr=1e-3"])
    assert res.exit_code == 2 and "unknown model 'no-such-model'" in res.stderr


def test_folds_also_come_through_set(tmp_path, mnist_dir):
    out = tmp_path / "t.json"
    args = ["tune", TINY, "--grid", "lr=1e-3", "--set", "folds=3", "--epochs", "1"]
    args += ["--n-pairs", "30", "--executor", "serial", "--data-dir", str(mnist_dir)]
    res = runner.invoke(app, [*args, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rounds"] == 3
    assert load_results(out).bench.folds == 3
