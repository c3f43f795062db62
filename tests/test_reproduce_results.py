"""A bench results file (fractions, per-round runs) becomes the side-by-side table."""

from __future__ import annotations

import pytest

from digitduel.report.reproduce import format_text, reproduction_from_results

results = pytest.importorskip("digitduel.bench.results")
plan = pytest.importorskip("digitduel.bench.plan")
from digitduel.settings import BenchSettings, TrainSettings  # noqa: E402


def make_result(test_acc: dict[str, list[float | None]], report=None, rounds=3):
    """A BenchResult as the engine writes it: accuracies as fractions, one run per round;
    None marks a diverged round."""
    contestants = [
        plan.Contestant(label=k, model="m", settings=TrainSettings(epochs=25)) for k in test_acc
    ]
    runs = []
    for label, accs in test_acc.items():
        for r, acc in enumerate(accs):
            runs.append(
                results.RunRecord(
                    model=label,
                    model_name="m",
                    round=r,
                    seed=r,
                    data_seed=r,
                    status="ok" if acc is not None else "diverged",
                    train_accuracy=1.0 if acc is not None else None,
                    test_accuracy=acc,
                    total_time_s=30.0,
                )
            )
    env = results.Environment(
        digitduel="0.1.0",
        torch="2.13.0",
        python="3.12",
        platform="Linux x86_64",
        device="cpu",
        device_name="Test CPU",
        cpu="Test CPU",
        threads=1,
        executor="serial",
        jobs=1,
    )
    return results.BenchResult(
        name="jomeau",
        preset="jomeau",
        created="2025-01-01T00:00:00+00:00",
        environment=env,
        data=results.DataInfo(source="dir", path="/d", n_pairs=1000, description="mnist"),
        bench=BenchSettings(rounds=rounds),
        contestants=contestants,
        report=report,
        report_source="Table II",
        runs=runs,
    )


def test_fractions_become_percent_and_verdicts_follow():
    report = {
        "good": plan.ReportRow(mean=97.6, std=0.3, rounds=10, train_mean=100.0, train_std=0.0),
        "bad": plan.ReportRow(mean=97.6, std=0.3, rounds=10),
    }
    res = make_result({"good": [0.975, 0.978, 0.974], "bad": [0.90, 0.91, 0.905]}, report)
    rep = reproduction_from_results(res)
    by = {r.label: r for r in rep.rows}
    assert by["good"].ours.mean == pytest.approx(97.5667, abs=1e-3)
    assert by["good"].verdict == "consistent"
    assert by["bad"].verdict == "worse"
    assert by["good"].train_test.verdict == "consistent"  # 100 +- 0 against 100 +- 0
    assert rep.source == "Table II"
    assert rep.meta["torch"] == "2.13.0" and rep.meta["rounds"] == "3 of 3"
    assert rep.meta["compute time"] == "3.0 min (sum of run times)"


def test_a_diverged_round_is_counted_not_averaged():
    report = {"a": plan.ReportRow(mean=97.0, std=0.5, rounds=10)}
    res = make_result({"a": [0.97, None, 0.972]}, report)
    (row,) = reproduction_from_results(res).rows
    assert row.ours.n == 2 and row.lost_rounds == 1
    assert "(1 lost)" in format_text(reproduction_from_results(res))


def test_a_results_file_without_report_numbers_still_lists_ours():
    rep = reproduction_from_results(make_result({"a": [0.8, 0.82]}))
    (row,) = rep.rows
    assert row.verdict == "no report number" and row.ours.n == 2 and rep.tau is None


def test_compare_pairs_one_file_and_same_draw_files_and_welches_the_rest():
    from digitduel.report.significance import compare_contestants, describe, share_draws

    noise = [0.0, 0.02, -0.015, 0.01, -0.02]
    a = make_result({"x": [0.9 + e for e in noise], "y": [0.903 + e for e in noise]})
    # one file: same draws, and pairing sees the steady +0.3 that Welch cannot
    t = compare_contestants(a, "x", a, "y")
    assert t.test == "paired" and t.verdict == "better" and t.diff == pytest.approx(0.3)
    assert "paired p=" in describe(t) and describe(t).startswith("+0.30")
    # another file with the same data and seeds: still paired
    b = make_result({"x": [0.903 + e for e in noise]})
    assert share_draws(a, "x", b, "x") and compare_contestants(a, "x", b).test == "paired"
    # different draws (another seed) or other data: independent samples
    for run in b.runs:
        run.data_seed += 1
    assert compare_contestants(a, "x", b).test == "welch"
    c = make_result({"x": [0.9, 0.91]})
    c.data.description = "other digits"
    assert not share_draws(a, "x", c, "x")
