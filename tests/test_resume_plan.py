"""plan_from_results: the plan of a bench read back from its results file alone, accepted by
the journal on resume (same fingerprint), and a cancelled bench resumed from it finishes."""

from __future__ import annotations

import threading

import pytest
import test_engine_fakes as fakes

from digitduel.bench import load_results, plan_for_models, run_bench
from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.resume import is_resumable, plan_from_results
from digitduel.errors import DigitduelError
from digitduel.training.events import RunEnded


def tiny_plan(**bench):
    return plan_for_models(
        [fakes.TINY, fakes.TINY_DIGITS],
        train_overrides={"epochs": 1, "lr": 0.003},
        bench_overrides={"rounds": 2, "n_pairs": 40, "executor": "serial", "seed": 7, **bench},
        data_dir="../some/mnist",  # as typed: relative, not what the loader resolved it to
    )


def test_the_rebuilt_plan_equals_the_original_and_the_journal_accepts_it(tmp_path):
    plan = tiny_plan(folds=2)
    plan.description = "two tiny models"
    out = tmp_path / "r.json"
    run_bench(plan, out, mnist=fakes.synthetic_mnist(200, 200))
    header, _runs, _ = read_journal(journal_path(out))

    rebuilt = plan_from_results(out)
    assert rebuilt == plan
    assert rebuilt.fingerprint() == header["fingerprint"] == plan.fingerprint()
    # a result already loaded gives the same plan when told where it came from
    assert plan_from_results(load_results(out), path=out) == plan


def test_without_its_journal_the_data_folder_comes_from_the_results_file(tmp_path):
    out = tmp_path / "r.json"
    run_bench(tiny_plan(rounds=1), out, mnist=fakes.synthetic_mnist(200, 200))
    journal_path(out).unlink()
    rebuilt = plan_from_results(out)
    assert rebuilt.data_dir == "synthetic"  # the folder the digits were loaded from
    assert not rebuilt.offline


def test_a_cancelled_bench_resumes_from_the_file_alone(tmp_path):
    out = tmp_path / "r.json"
    mnist = fakes.synthetic_mnist(200, 200)
    cancel = threading.Event()

    def stop_after_first(event):
        if isinstance(event, RunEnded):
            cancel.set()

    first = run_bench(tiny_plan(), out, mnist=mnist, on_event=stop_after_first, cancel=cancel)
    assert first.status == "cancelled" and len(first.runs) == 1
    assert is_resumable(load_results(out))

    kept = first.runs[0]
    resumed = run_bench(plan_from_results(out), out, resume=True, mnist=mnist)
    assert resumed.status == "finished" and len(resumed.runs) == 4
    assert kept in resumed.runs  # the finished run was not trained again
    assert not is_resumable(load_results(out))


def test_a_missing_results_file_is_one_line(tmp_path):
    with pytest.raises(DigitduelError, match="not found"):
        plan_from_results(tmp_path / "nope.json")
