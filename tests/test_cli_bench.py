"""`digitduel bench/show/compare/presets` through Typer's runner (in process)."""

from __future__ import annotations

import json
import re

import pytest
from test_engine_fakes import TINY, TINY_DIGITS
from typer.testing import CliRunner

from digitduel.cli.main import app

runner = CliRunner()


def _bench(tmp_path, mnist_dir, *extra, out="r.json"):
    args = ["bench", "--model", TINY, "--model", TINY_DIGITS, "--epochs", "1", "--rounds", "2"]
    args += ["--n-pairs", "50", "--executor", "serial", "--data-dir", str(mnist_dir)]
    return runner.invoke(app, [*args, "--out", str(tmp_path / out), *extra])


def test_bench_off_a_terminal_prints_one_line_per_run_then_the_table(tmp_path, mnist_dir):
    res = _bench(tmp_path, mnist_dir)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if re.match(r"\[\d/4\] ", ln)]
    assert len(lines) == 4
    assert re.match(rf"\[1/4\] {TINY} round 1: ok test \d+\.\d\d% train \d+\.\d\d% in ", lines[0])
    assert "test %" in res.stdout and f"results: {tmp_path / 'r.json'}" in res.stdout
    assert (tmp_path / "r.json").exists() and (tmp_path / "r.journal.jsonl").exists()


def test_bench_json_prints_only_the_summary_on_stdout(tmp_path, mnist_dir):
    res = _bench(tmp_path, mnist_dir, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "finished" and doc["results"] == str(tmp_path / "r.json")
    assert [s["label"] for s in doc["summary"]] == [TINY, TINY_DIGITS]
    assert all(s["runs"] == 2 for s in doc["summary"])


def test_show_and_compare_read_saved_results(tmp_path, mnist_dir):
    assert _bench(tmp_path, mnist_dir, out="a.json").exit_code == 0
    assert _bench(tmp_path, mnist_dir, "--seed", "1", out="b.json").exit_code == 0
    res = runner.invoke(app, ["show", str(tmp_path / "a.json")])
    assert res.exit_code == 0 and TINY in res.stdout and "±" in res.stdout
    res = runner.invoke(app, ["show", str(tmp_path / "a.json"), "--json"])
    assert json.loads(res.stdout)["schema_version"] == 1
    res = runner.invoke(app, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    assert "B - A" in res.stdout and TINY_DIGITS in res.stdout
    assert re.search(r"[+-]\d+\.\d\d", res.stdout)


def test_compare_within_one_file_is_paired_and_names_bad_contestants(tmp_path, mnist_dir):
    assert _bench(tmp_path, mnist_dir, "--rounds", "3").exit_code == 0
    path = str(tmp_path / "r.json")
    res = runner.invoke(app, ["compare", path])  # every contestant against the best
    assert res.exit_code == 0, res.output
    assert "each contestant against" in res.stdout and "reference" in res.stdout
    assert "paired" in res.stdout  # one bench: both saw the same draw in each round
    res = runner.invoke(app, ["compare", path, "-c", TINY_DIGITS, "-c", TINY])
    assert res.exit_code == 0, res.output
    assert f"against {TINY_DIGITS}" in " ".join(res.stdout.split())
    res = runner.invoke(app, ["compare", path, "-c", TINY, "-c", "nope"])
    assert res.exit_code == 2
    assert "has no contestant 'nope'" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["compare", path, path, "-c", TINY])
    assert res.exit_code == 2


def test_missing_or_corrupt_results_are_one_line_errors(tmp_path):
    res = runner.invoke(app, ["show", str(tmp_path / "nope.json")])
    assert res.exit_code == 1 and res.stderr.strip().startswith("error: ")
    assert len(res.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = runner.invoke(app, ["compare", str(bad), str(bad)])
    assert res.exit_code == 1 and "not valid JSON" in res.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "choose exactly one"),
        (["--model", TINY, "--preset", "quick"], "choose exactly one"),
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--model", TINY, "--optimizer", "adagrad"], "optimizer"),
        (["--model", TINY, "--resume"], "--resume needs --out"),
        (["--model", TINY, "--device", "gpu"], "device"),
        (["--preset", "no-such-preset"], "unknown preset 'no-such-preset'"),
    ],
)
def test_bad_bench_requests_exit_2_with_one_line(args, message):
    res = runner.invoke(app, ["bench", *args])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ") and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_resume_with_other_settings_is_refused(tmp_path, mnist_dir):
    assert _bench(tmp_path, mnist_dir).exit_code == 0
    res = _bench(tmp_path, mnist_dir, "--resume", "--lr", "0.5")
    assert res.exit_code == 2 and "different settings" in res.stderr


def test_eval_every_thins_the_saved_test_curve(tmp_path, mnist_dir):
    res = _bench(tmp_path, mnist_dir, "--epochs", "3", "--eval-every", "2", "--rounds", "1")
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "r.json").read_text())
    for run in saved["runs"]:
        assert [e["test_accuracy"] is None for e in run["epochs"]] == [True, False, False]
        assert run["test_accuracy"] == run["epochs"][-1]["test_accuracy"]
    res = _bench(tmp_path, mnist_dir, "--eval-every", "0", out="bad.json")
    assert res.exit_code == 2 and "eval_every" in res.output


def test_set_reaches_any_setting_through_the_schema(tmp_path, mnist_dir):
    res = _bench(
        tmp_path, mnist_dir, "--rounds", "1", "--set", "aux_weight=0.5",
        "--set", 'augment=["swap"]', "--set", "optimizer=sgd", "--set", "n_pairs=40",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "r.json").read_text())
    for c in saved["contestants"]:
        assert c["settings"]["aux_weight"] == 0.5 and c["settings"]["augment"] == ["swap"]
        assert c["settings"]["optimizer"] == "sgd"
    assert saved["bench"]["n_pairs"] == 50  # the explicit --n-pairs flag wins over --set
    res = _bench(tmp_path, mnist_dir, "--set", "aux_wieght=1", out="bad.json")
    assert res.exit_code == 2 and "unknown setting 'aux_wieght'" in res.output
    res = _bench(tmp_path, mnist_dir, "--set", "momentum=2", out="bad.json")
    assert res.exit_code == 2 and "momentum" in res.output and "Traceback" not in res.output
