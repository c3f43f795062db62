"""benchmarks/gpu.py --smoke: the GPU script's every step, tiny, on the CPU (issue 17), so the
one-call GPU run cannot rot between the times a GPU is lent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu  # noqa: E402  (benchmarks/gpu.py)

from digitduel.models.registry import REPORTS  # noqa: E402


def test_smoke_run_writes_figures_for_every_report_and_the_bench(tmp_path, mnist_dir):
    code = gpu.main([str(tmp_path), "--smoke", "--data-dir", str(mnist_dir)])
    assert code == 0
    figures = json.loads((tmp_path / "gpu.json").read_text())
    assert figures["environment"]["device"] == "cpu" and figures["environment"]["cpu"]
    check = figures["correctness"]
    assert check["ok"] and check["max_param_diff"] < 1e-8 and check["max_accuracy_diff"] == 0
    rows = figures["step_times"]
    assert len(rows) == len(REPORTS)  # one model of each report
    for row in rows:
        ms = row["ms_per_round_step"]
        assert ms["serial"] > 0 and ms["batched"] > 0
        assert ms["batched+graphs"] is None  # CUDA graphs only on CUDA
    bench = figures["bench"]
    assert bench["exit_code"] == 0 and bench["executor"] == "serial" and bench["wall_s"] > 0
    table = (tmp_path / "gpu.md").read_text()
    assert "batched+graphs ms/step" in table and all(r["model"] in table for r in rows)


def test_bad_arguments_exit_2(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        gpu.main([str(tmp_path), "--rounds", "0"])
    assert exit_info.value.code == 2
