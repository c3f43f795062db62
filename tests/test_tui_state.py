"""The TUI's event reducer and form parsing, without a terminal: synthetic engine events in,
what the run screen would show out."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from digitduel.numbers import mean_std, pct
from digitduel.training.events import (
    BenchEnded,
    BenchStarted,
    EpochEnd,
    JobKey,
    Note,
    RunEnded,
    RunStarted,
)
from digitduel.tui.form import FormError, format_value, parse_value, split_overrides
from digitduel.tui.state import BenchState, fmt_duration


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def record(label, rnd, status="ok", test=0.9, train=0.95, wall=2.0, error=None):
    return SimpleNamespace(
        model=label,
        round=rnd,
        status=status,
        test_accuracy=test if status == "ok" else None,
        train_accuracy=train if status == "ok" else None,
        wall_time_s=wall,
        params=1234,
        error=error,
    )


def epoch(key, e, n, loss=0.5, test=0.8):
    return EpochEnd(key, e, n, loss, 0.85, test, None, float(e))


def started(contestants=("a", "b"), rounds=2):
    return BenchStarted(len(contestants) * rounds, 0, tuple(contestants), rounds)


def test_a_bench_in_progress_shows_epochs_rows_and_eta():
    clock = Clock()
    st = BenchState({"a": 4, "b": 4}, clock=clock)
    st.apply(started())
    a0 = JobKey("a", 0)
    st.apply(RunStarted(a0, "model-a", 1234, 4))
    clock.t += 10
    st.apply(epoch(a0, 1, 4))
    st.apply(epoch(a0, 2, 4))
    run = st.focus_run()
    assert run.key == a0 and run.epoch == 2 and run.curve.test_accuracy == [0.8, 0.8]
    # 2 of 16 planned epochs in 10 s: 14 left at 5 s each
    assert st.eta_s() == pytest.approx(70.0)
    st.apply(epoch(a0, 3, 4))
    st.apply(epoch(a0, 4, 4, test=0.9))
    st.apply(RunEnded(a0, "ok", record("a", 0, test=0.9)))
    st.apply(RunStarted(JobKey("a", 1), "model-a", 1234, 4))
    st.apply(RunEnded(JobKey("a", 1), "ok", record("a", 1, test=0.8)))
    row = st.rows["a"]
    assert row.ok == 2 and row.params == 1234
    assert pct(*mean_std(row.test)) == "85.00 ± 7.07"
    assert st.done_runs == 2 and st.total_runs == 4
    # the earlier round of "a" is what the plots draw faintly behind a new round
    assert [r.key for r in st.finished_rounds("a", exclude=JobKey("a", 2))] == [a0, JobKey("a", 1)]


def test_diverged_failed_and_cancelled_runs_are_logged_not_averaged():
    st = BenchState({"a": 2, "b": 2})
    st.apply(started())
    a0, b0, a1 = JobKey("a", 0), JobKey("b", 0), JobKey("a", 1)
    st.apply(RunStarted(a0, "m", 10, 2))
    st.apply(epoch(a0, 1, 2, loss=math.nan))
    st.apply(RunEnded(a0, "diverged", record("a", 0, status="diverged")))
    st.apply(RunEnded(b0, "failed", record("b", 0, status="failed", error="RuntimeError: boom")))
    st.apply(RunStarted(a1, "m", 10, 2))
    st.apply(RunEnded(a1, "cancelled", None))
    st.apply(Note("data: embedded fallback", "warning"))
    assert st.rows["a"].diverged == 1 and st.rows["a"].test == []
    assert st.rows["b"].failed == 1
    assert st.done_runs == 2  # the cancelled run was not recorded
    assert st.runs[a0].curve.train_loss == [None]  # a NaN loss is not plotted
    lines = [line for _level, line in st.log]
    assert any("a round 1: diverged" in line for line in lines)
    assert any("boom" in line for line in lines)
    assert any("cancelled" in line for line in lines)
    assert any("embedded" in line for line in lines)
    assert st.log_since(st.log_total - 1) == [("warning", "data: embedded fallback")]
    assert len(st.log_since(0)) == st.log_total
    st.apply(BenchEnded("cancelled", "/tmp/r.json"))
    assert st.status == "cancelled" and st.results_path == "/tmp/r.json"
    assert st.eta_s() is None


def test_focus_follows_the_newest_run_and_cycles_between_contestants():
    st = BenchState({"a": 1, "b": 1})
    st.apply(started(rounds=1))
    st.apply(RunStarted(JobKey("a", 0), "m", 1, 1))
    st.apply(RunStarted(JobKey("b", 0), "m", 1, 1))
    assert st.focus == JobKey("b", 0)
    st.cycle_focus()
    assert st.focus == JobKey("a", 0)
    st.apply(RunEnded(JobKey("a", 0), "ok", record("a", 0)))
    assert st.focus == JobKey("b", 0)  # the finished run hands the plots to one in flight


def test_resumed_runs_count_as_done_and_leave_the_eta():
    clock = Clock()
    st = BenchState({"a": 10}, clock=clock)
    st.apply(BenchStarted(4, 2, ("a",), 4))
    assert st.done_runs == 2
    st.apply(RunStarted(JobKey("a", 2), "m", 1, 10))
    clock.t += 5
    st.apply(epoch(JobKey("a", 2), 1, 10))
    assert st.eta_s() == pytest.approx(5 * 19)  # 20 epochs left to train, 1 done


def test_form_values_are_checked_by_the_settings_schema():
    assert parse_value("lr", "1e-3") == 0.001
    assert parse_value("epochs", "") is None  # empty: the model's recipe
    assert parse_value("augment", "swap, crop_flip") == ["swap", "crop_flip"]
    assert parse_value("augment", "none") == []
    with pytest.raises(FormError, match="greater than 0"):
        parse_value("lr", "-1")
    with pytest.raises(FormError, match="whole number"):
        parse_value("epochs", "2.5")
    with pytest.raises(FormError):
        parse_value("augment", "flip")
    with pytest.raises(FormError):
        parse_value("rounds", "0")
    assert format_value("augment", []) == "none"
    train, bench = split_overrides({"lr": 0.1, "rounds": 3, "epochs": None, "n_pairs": 40})
    assert train == {"lr": 0.1} and bench == {"rounds": 3, "n_pairs": 40}


def test_durations_and_percentages_read_well():
    assert fmt_duration(75) == "1:15" and fmt_duration(3725) == "1:02:05"
    assert fmt_duration(None) == "-" and pct(None) == "-"
    assert pct(0.973) == "97.30"
    # one round: a mean and no spread (never "± 0.00"), the same in every table
    assert pct(*mean_std([0.973])) == "97.30"


def test_the_form_builds_the_plan_the_cli_would():
    from digitduel.bench import plan_for_models, plan_from_preset
    from digitduel.tui.form import build_plan, preset_choice

    quick = preset_choice("quick")
    assert quick.values == {"epochs": 10, "rounds": 2}
    # the preset's models as picked, one field changed: the preset with that override
    plan = build_plan(
        list(quick.models), {**quick.values, "epochs": 3, "n_pairs": 40}, preset=quick
    )
    cli = plan_from_preset(
        "quick", train_overrides={"epochs": 3}, bench_overrides={"n_pairs": 40, "device": "auto"}
    )
    assert plan.model_dump() == cli.model_dump()
    # another selection: those models with their recipes, plus every filled field
    plan = build_plan(["sgd-convnet"], {"lr": 0.01, "rounds": 3}, preset=quick)
    assert plan.preset is None and plan.bench.rounds == 3
    cli = plan_for_models(
        ["sgd-convnet"],
        train_overrides={"lr": 0.01},
        bench_overrides={"rounds": 3, "device": "auto"},
    )
    assert plan.model_dump() == cli.model_dump()


def test_sparse_test_curves_keep_epochs_and_plot_only_evaluated_points():
    """With eval_every > 1 the skipped epochs carry no test figure: the curve keeps their
    place (x = epoch) and the plot draws only the evaluated ones."""
    from digitduel.tui.widgets import _evaluated

    st = BenchState({"a": 4}, clock=Clock())
    st.apply(started(("a",), 1))
    key = JobKey("a", 0)
    st.apply(RunStarted(key, "model-a", 1234, 4))
    for e, test in ((1, None), (2, 0.8), (3, None), (4, 0.9)):
        st.apply(epoch(key, e, 4, test=test))
    curve = st.focus_run().curve
    assert curve.test_accuracy == [None, 0.8, None, 0.9]
    assert _evaluated(curve.test_accuracy) == ([2, 4], [80.0, 90.0])
