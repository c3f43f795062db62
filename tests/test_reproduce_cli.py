"""`digitduel reproduce --from FILE`: the table from a results file, without training."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from digitduel.cli.main import app

results = pytest.importorskip("digitduel.bench.results")
plan = pytest.importorskip("digitduel.bench.plan")

from test_reproduce_results import make_result  # noqa: E402

runner = CliRunner()


@pytest.fixture()
def results_file(tmp_path):
    report = {
        "aux": plan.ReportRow(mean=97.6, std=0.3, rounds=10),
        "simple": plan.ReportRow(mean=80.2, std=1.9, rounds=10),
    }
    res = make_result({"aux": [0.975, 0.978, 0.974], "simple": [0.70, 0.71, 0.72]}, report)
    path = tmp_path / "jomeau.json"
    results.save_results(res, path)
    return path


def test_table_from_a_results_file(results_file):
    r = runner.invoke(app, ["reproduce", "jomeau", "--from", str(results_file)])
    assert r.exit_code == 0, r.output
    assert "jomeau: test accuracy, report vs ours (Table II)" in r.stdout
    assert "97.60 ± 0.30 (10)" in r.stdout and "97.57 ± 0.21 (3)" in r.stdout
    assert "consistent" in r.stdout and "worse" in r.stdout
    assert "Kendall tau-b = +1.00" in r.stdout


def test_json_output_parses(results_file):
    r = runner.invoke(app, ["reproduce", "jomeau", "--from", str(results_file), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [row["verdict"] for row in doc["rows"]] == ["consistent", "worse"]
    assert doc["rows"][1]["test"]["p"] < 0.05


def test_update_doc_rewrites_only_the_marked_block(results_file, tmp_path):
    doc = tmp_path / "reproduction.md"
    doc.write_text("# title\n<!-- reproduce:jomeau -->\nstale\n<!-- /reproduce:jomeau -->\nprose\n")
    r = runner.invoke(
        app, ["reproduce", "jomeau", "--from", str(results_file), "--update-doc", str(doc)]
    )
    assert r.exit_code == 0, r.output
    text = doc.read_text()
    assert "stale" not in text and "| aux | 97.60 ± 0.30 (10) |" in text
    assert text.startswith("# title\n") and text.endswith("prose\n")


def test_update_doc_without_markers_is_one_error_line(results_file, tmp_path):
    doc = tmp_path / "other.md"
    doc.write_text("nothing to replace\n")
    r = runner.invoke(
        app, ["reproduce", "jomeau", "--from", str(results_file), "--update-doc", str(doc)]
    )
    assert r.exit_code == 1
    assert r.stderr.startswith("error: cannot update") and "Traceback" not in r.output
    assert doc.read_text() == "nothing to replace\n"


def test_missing_results_file_is_one_error_line(tmp_path):
    r = runner.invoke(app, ["reproduce", "jomeau", "--from", str(tmp_path / "nope.json")])
    assert r.exit_code == 1
    assert r.stderr.strip() == f"error: results file {tmp_path / 'nope.json'} not found"


def test_from_refuses_training_options(results_file):
    r = runner.invoke(app, ["reproduce", "jomeau", "--from", str(results_file), "--rounds", "3"])
    assert r.exit_code == 2
    assert "takes no training options" in r.stderr
