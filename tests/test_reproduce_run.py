"""`digitduel reproduce` through training: a tiny preset file, then the real jomeau preset as
a subprocess (the CI smoke test: one round, one epoch, few pairs, real command)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from digitduel.cli.main import app

pytest.importorskip("digitduel.bench.runner")
import test_engine_fakes  # noqa: E402,F401 - registers the tiny test-only models

runner = CliRunner()

PRESET = """
name = "tiny-repro"
description = "two tiny stand-ins with made-up report numbers"
[settings]
epochs = 1
batch_size = 50
rounds = 2
n_pairs = 100
executor = "serial"
[[contestants]]
label = "cnn"
model = "test-tiny-cnn"
[[contestants]]
label = "digits"
model = "test-tiny-digits"
[report]
source = "made up for the test"
[report.cnn]
mean = 99.9
std = 0.01
rounds = 10
[report.digits]
mean = 60.0
std = 5.0
rounds = 10
"""


@pytest.fixture()
def preset_file(tmp_path):
    path = tmp_path / "tiny-repro.toml"
    path.write_text(PRESET)
    return path


def test_reproduce_trains_then_prints_report_beside_ours(tmp_path, preset_file, mnist_dir):
    out = tmp_path / "r.json"
    args = ["reproduce", str(preset_file), "--data-dir", str(mnist_dir), "--out", str(out)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert out.exists()
    assert "tiny-repro: test accuracy, report vs ours (made up for the test)" in r.stdout
    assert "99.90 ± 0.01 (10)" in r.stdout  # the report's number
    assert "(2)" in r.stdout  # ours over the 2 rounds run
    assert "worse" in r.stdout  # one epoch on 100 pairs is nowhere near 99.9 +- 0.01
    assert "cnn round 1" in r.stderr  # progress goes to stderr, one line per run

    # resume with more rounds: only the new round runs, the table now has 3 rounds
    r = runner.invoke(app, args + ["--resume", "--rounds", "3", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["meta"]["rounds"] == "3 of 3"
    assert [row["ours"]["n"] for row in doc["rows"]] == [3, 3]
    assert r.stderr.count("round 1:") == 0 and r.stderr.count("round 3:") == 2  # from 1


def test_cut_down_runs_say_they_are_not_a_reproduction(
    tmp_path, preset_file, mnist_dir, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    args = ["reproduce", str(preset_file), "--data-dir", str(mnist_dir), "--rounds", "1"]
    r = runner.invoke(app, args + ["--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert "change the report's protocol" in r.stderr
    assert "n/a" in r.stdout  # one round: nothing to test
    # No --out: the results land where bench, tune and the TUI put theirs, not loose here.
    [written] = (tmp_path / "digitduel-results").glob("*-reproduce-tiny-repro.json")
    assert f"results: {written.relative_to(tmp_path)}" in r.stderr
    assert not list(tmp_path.glob("*.json"))


def test_unknown_preset_is_a_usage_error():
    r = runner.invoke(app, ["reproduce", "no-such-preset"])
    assert r.exit_code == 2
    assert r.stderr.startswith("error: unknown preset 'no-such-preset'")


def test_ci_smoke_reproduce_jomeau_through_the_real_command(tmp_path, mnist_dir):
    """The CI smoke test: the real preset and console entry point, cut down to one round of
    one epoch. Every Jomeau row must come back with our figure beside the report's."""
    import subprocess
    import sys

    out = tmp_path / "jomeau.json"
    proc = subprocess.run(
        [sys.executable, "-m", "digitduel", "reproduce", "jomeau", "--rounds", "1",
         "--epochs", "1", "--data-dir", str(mnist_dir), "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    rows = {row["label"]: row for row in doc["rows"]}
    assert set(rows) == {
        "jomeau-simple", "jomeau-ws1", "jomeau-ws2", "jomeau-aux0.5",
        "jomeau-aux2", "jomeau-aux10", "jomeau-aux40", "jomeau-digit",
    }  # fmt: skip
    assert rows["jomeau-digit"]["theirs"] == {"mean": 97.8, "std": 0.2, "n": 10}
    assert all(row["ours"]["n"] == 1 and 0 <= row["ours"]["mean"] <= 100 for row in rows.values())
    assert "change the report's protocol" in proc.stderr
    assert out.exists()
