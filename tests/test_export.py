"""`digitduel export`: Markdown, CSV, JSON and self-contained HTML from real results files."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

from typer.testing import CliRunner

from digitduel.bench.results import load_results
from digitduel.cli.main import app

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "small.json"
TUNE = FIXTURES / "tune-small.json"

runner = CliRunner()


def export(*args: str):
    r = runner.invoke(app, ["export", *args])
    assert r.exit_code == 0, r.output
    return r.stdout


def _close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12)


def test_csv_numbers_are_the_results_files_in_percent():
    rows = list(csv.DictReader(io.StringIO(export(str(SMALL), "--format", "csv"))))
    summary = load_results(SMALL).summary
    assert [r["contestant"] for r in rows] == [s.label for s in summary]
    for row, s in zip(rows, summary, strict=True):
        assert _close(float(row["test_mean_pct"]), 100 * s.test_mean)
        assert _close(float(row["test_std_pct"]), 100 * s.test_std)
        assert _close(float(row["train_mean_pct"]), 100 * s.train_mean)
        assert _close(float(row["time_per_run_s"]), s.time_mean_s)
        assert int(row["params"]) == s.params and int(row["ok"]) == s.ok
        assert row["held_out"] == "test" and "mnist" in row["data_source"]


def test_csv_and_json_exports_carry_the_same_numbers_and_json_merges_files():
    csv_rows = list(csv.DictReader(io.StringIO(export(str(SMALL), str(TUNE), "-f", "csv"))))
    doc = json.loads(export(str(SMALL), str(TUNE), "-f", "json"))
    assert [f["file"] for f in doc["files"]] == ["small", "tune-small"]
    assert len(doc["summary"]) == len(csv_rows) == 6
    for row, item in zip(csv_rows, doc["summary"], strict=True):
        assert row["file"] == item["file"] and row["contestant"] == item["contestant"]
        assert _close(float(row["test_mean_pct"]), item["test_mean_pct"])
    assert {r["held_out"] for r in doc["summary"]} == {"test", "val"}


def test_runs_give_one_row_per_run():
    result = load_results(SMALL)
    rows = list(csv.DictReader(io.StringIO(export(str(SMALL), "-f", "csv", "--runs"))))
    assert len(rows) == len(result.runs)
    first = next(
        r
        for r in result.runs
        if r.model == rows[0]["contestant"] and r.round == int(rows[0]["round"])
    )
    assert _close(float(rows[0]["test_pct"]), 100 * first.test_accuracy)
    md = export(str(SMALL), "-f", "md", "--runs").splitlines()
    assert len(md) == 2 + len(result.runs)


def test_markdown_is_a_table_with_one_row_per_contestant():
    lines = export(str(SMALL), "--format", "md").strip().splitlines()
    assert lines[0].startswith("| contestant | params | train % | test % |")
    assert lines[1].startswith("|---|")
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| sgd-convnet",
        "| sgd-ws",
        "| sgd-ws-aux",
    ]
    s = load_results(SMALL).summary[0]
    assert f"{100 * s.test_mean:.2f} ± {100 * s.test_std:.2f}" in lines[2]


def test_html_is_one_self_contained_page(tmp_path):
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["export", str(SMALL), "-f", "html", "--out", str(out)])
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<h2>Summary</h2>" in page and "<td>sgd-ws-aux</td>" in page
    assert "report (%)" in page and "81.37 ± 1.37 (15)" in page  # the reproduction table
    assert "Intel" in page or "AMD" in page or "cpu" in page  # the environment
    assert page.count("<svg") == 3  # curves, box, time: all that apply to a bench
    assert not re.search(r"https?://", page)  # no external URL, not even an SVG namespace
    assert "<script" not in page and " src=" not in page and "<link" not in page


def test_unknown_format_is_a_usage_error():
    r = runner.invoke(app, ["export", str(SMALL), "--format", "xlsx"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.strip() == "error: --format 'xlsx': choose one of md, csv, json, html"
