"""`digitduel plot`: every figure kind in the terminal and as PNG/SVG/PDF, from real results
files (tests/fixtures: a 3-round cut-down of the sgd preset, and a 2-fold `tune`)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from digitduel.bench.results import load_results, save_results
from digitduel.cli.main import app
from digitduel.report import figures as F

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "small.json"
TUNE = FIXTURES / "tune-small.json"
LABELS = ["sgd-convnet", "sgd-ws", "sgd-ws-aux"]
SIGNATURES = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}

runner = CliRunner()


def plot(*args: str):
    return runner.invoke(app, ["plot", *args])


def _one_line_error(r, code: int) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "kind, files, expect",
    [
        ("curves", [SMALL], ["log10 train loss", "test accuracy %", *LABELS]),
        ("box", [SMALL], ["Q1-Q3", "◆", *LABELS]),  # ◆: the report's mean, from its rows
        ("time", [SMALL], ["wall time per run", *LABELS]),
        ("sweep", [TUNE], ["val accuracy % against lr", "0.01", "0.1"]),
    ],
)
def test_each_kind_in_the_terminal_is_plain_text_of_the_asked_width(kind, files, expect):
    r = plot(*map(str, files), "--kind", kind, "--width", "90", "--height", "18")
    assert r.exit_code == 0, r.output
    assert "\x1b[" not in r.stdout  # piped: no escape codes
    for text in expect:
        assert text in r.stdout, text
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 90
    assert len(lines) >= 18


def test_all_kinds_that_apply_print_in_one_go():
    r = plot(str(SMALL), "--width", "80")
    assert r.exit_code == 0
    assert "log10 train loss" in r.stdout and "Q1-Q3" in r.stdout and "wall time" in r.stdout
    assert "against" not in r.stdout  # a bench of three models is no sweep


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
@pytest.mark.parametrize("kind", ["curves", "box", "time", "sweep"])
def test_each_kind_as_a_file(tmp_path, kind, suffix):
    source = TUNE if kind == "sweep" else SMALL
    out = tmp_path / f"fig{suffix}"
    r = plot(str(source), "--kind", kind, "--out", str(out))
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert data.startswith(SIGNATURES[suffix]) and len(data) > 2000
    if suffix == ".svg":
        text = data.decode()
        labels = ["sgd-ws-aux"] if kind == "sweep" else LABELS
        for label in labels:
            assert label in text, label
        if kind == "box":
            assert "report: mean ± std" in text


def test_kind_all_writes_one_file_per_kind(tmp_path):
    r = plot(str(SMALL), "--out", str(tmp_path / "small.png"))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "small-box.png", "small-curves.png", "small-time.png",
    ]  # fmt: skip


def test_several_files_share_one_figure_labelled_by_file(tmp_path):
    out = tmp_path / "time.svg"
    r = plot(str(SMALL), str(TUNE), "--kind", "time", "--out", str(out))
    assert r.exit_code == 0, r.output
    svg = out.read_text()
    assert "small (" in svg and "tune-small (" in svg  # legend: file (device)
    assert "sgd-convnet" in svg and "sgd-ws-aux lr=0.1" in svg
    r = plot(str(SMALL), str(TUNE), "--kind", "box", "--width", "120")
    assert "sgd-convnet [small]" in r.stdout and "sgd-ws-aux lr=1 [tune-small]" in r.stdout


def test_unknown_suffix_and_kind_are_usage_errors(tmp_path):
    line = _one_line_error(plot(str(SMALL), "--out", str(tmp_path / "f.gif")), 2)
    assert "'.gif'" in line and ".png" in line
    assert not (tmp_path / "f.gif").exists()
    _one_line_error(plot(str(SMALL), "--kind", "pie"), 2)


def test_curves_without_per_epoch_data_is_one_line_exit_1(tmp_path):
    result = load_results(SMALL)
    for run in result.runs:
        run.epochs = []
    bare = save_results(result, tmp_path / "bare.json")
    line = _one_line_error(plot(str(bare), "--kind", "curves"), 1)
    assert "no per-epoch data in bare" in line
    assert plot(str(bare), "--kind", "box").exit_code == 0  # the rest still draws
    r = plot(str(bare))  # all: only the kinds that apply
    assert r.exit_code == 0 and "log10" not in r.stdout


def test_sweep_of_a_bench_and_a_missing_file_are_one_line_exit_1(tmp_path):
    assert "not a search" in _one_line_error(plot(str(SMALL), "--kind", "sweep"), 1)
    _one_line_error(plot(str(tmp_path / "nope.json")), 1)


# ---- the series: what every renderer draws -------------------------------------------------


def test_curves_are_the_mean_over_rounds_per_epoch_with_a_std_band():
    result = load_results(SMALL)
    curves = {c.label: c for c in F.curves([F.source_of(result)])}
    assert list(curves) == LABELS
    runs = [r for r in result.runs if r.model == "sgd-ws" and r.status == "ok"]
    accs = [100 * r.epochs[-1].test_accuracy for r in runs]
    c = curves["sgd-ws"]
    assert c.rounds == len(runs) == 3
    assert c.accuracy.epochs == list(range(1, 7))
    assert math.isclose(c.accuracy.mean[-1], statistics.fmean(accs))
    assert math.isclose(
        c.accuracy.hi[-1], min(100, statistics.fmean(accs) + statistics.stdev(accs))
    )
    losses = [r.epochs[0].train_loss for r in runs]
    assert (c.loss.lo[0], c.loss.hi[0]) == (min(losses), max(losses))
    # The last epoch's accuracy is the run's: the curve ends where the summary's mean is.
    summary = {s.label: s for s in result.summary}
    assert math.isclose(c.accuracy.mean[-1], 100 * summary["sgd-ws"].test_mean)


def test_boxes_quartiles_match_numpy_and_carry_the_report():
    values = [81.0, 79.5, 88.0, 84.25, 80.0, 95.0, 83.0]
    box = F.box_of("x", values)
    assert np.allclose([box.q1, box.median, box.q3], np.percentile(values, [25, 50, 75]))
    assert box.whisker_hi == 88.0  # 95 lies beyond Q3 + 1.5 IQR: a point, not a whisker
    boxes = F.boxes([F.source_of(load_results(SMALL))])
    assert [b.report for b in boxes] == [(81.37, 1.37), (88.68, 1.57), (97.91, 0.36)]


def test_time_bars_are_the_summary_time_per_run():
    result = load_results(SMALL)
    bars = F.time_bars([F.source_of(result)])
    for bar, s in zip(bars, result.summary, strict=True):
        assert bar.label == s.label and math.isclose(bar.mean, s.time_mean_s)
        assert bar.n == s.runs and bar.lo <= bar.mean <= bar.hi


def test_sweep_axis_follows_the_grid():
    sw = F.sweep([F.source_of(load_results(TUNE))])
    assert sw.key == "lr" and sw.xs == [0.01, 0.1, 1.0] and sw.x_scale == "log"
    assert sw.held_out == "val"
    summary = {s.label: s for s in load_results(TUNE).summary}
    assert math.isclose(sw.lines[0].mean[1], 100 * summary["sgd-ws-aux lr=0.1"].test_mean)
    assert (
        F.Sweep(
            "aux_weight", [F.SweepLine("a", [0, 0.5, 2, 10, 40, 100], [0] * 6, [0] * 6, [1] * 6)]
        ).x_scale
        == "symlog"
    )
    assert (
        F.Sweep("k", [F.SweepLine("a", [1, 2, 3, 4], [0] * 4, [0] * 4, [1] * 4)]).x_scale
        == "linear"
    )


def test_a_bench_file_beside_a_sweep_is_a_reference_line():
    sw = F.sweep(F.load_sources([TUNE, SMALL]))
    assert [r[0] for r in sw.references] == ["sgd-ws-aux [small]"]  # its best contestant
