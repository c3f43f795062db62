"""The batched executor's runs name the executor that really trained them: a contestant it
cannot batch is trained by the fallback, and its runs say so; resuming such a file with
`--executor batched` works, and a real mix of executor families is still refused."""

from __future__ import annotations

import pytest
from batched_fakes import UNBATCHABLE
from test_engine_fakes import TINY, synthetic_mnist

from digitduel.bench.plan import plan_for_models
from digitduel.bench.prechecks import check_executors
from digitduel.bench.results import load_results
from digitduel.bench.runner import run_bench
from digitduel.errors import ConfigError
from digitduel.training.events import Note

MNIST = synthetic_mnist(300, 300)


def _plan(executor: str, rounds: int, jobs: int = 1):
    return plan_for_models(
        [TINY, UNBATCHABLE],
        train_overrides={"epochs": 1},
        bench_overrides={"rounds": rounds, "n_pairs": 50, "executor": executor, "jobs": jobs},
    )


def _executors(result) -> dict[tuple[str, int], str | None]:
    return {(r.model, r.round): r.executor for r in result.runs}


def test_fallback_runs_are_recorded_with_the_fallbacks_name_and_resume_cleanly(tmp_path):
    out = tmp_path / "r.json"
    notes: list = []
    first = run_bench(_plan("batched", rounds=1), out, mnist=MNIST, on_event=notes.append)
    assert first.environment.executor == "batched"
    # jobs=1: the fallback is the serial executor
    assert _executors(first) == {(TINY, 0): "batched", (UNBATCHABLE, 0): "serial"}
    assert any(isinstance(n, Note) and f"{UNBATCHABLE}: not batched" in n.message for n in notes)
    assert _executors(load_results(out)) == _executors(first)  # and so says the file

    # Resuming with --executor batched needs no --allow-mixed-executors: the serial runs are
    # what this bench would make of that contestant again.
    again = run_bench(_plan("batched", rounds=2), out, mnist=MNIST, resume=True)
    assert {r.status for r in again.runs} == {"ok"}
    assert _executors(again) == {
        (TINY, 0): "batched",
        (TINY, 1): "batched",
        (UNBATCHABLE, 0): "serial",
        (UNBATCHABLE, 1): "serial",
    }


def test_a_file_of_processes_runs_is_still_refused_under_batched(tmp_path):
    out = tmp_path / "r.json"
    first = run_bench(_plan("processes", rounds=1, jobs=2), out, mnist=MNIST)
    assert set(_executors(first).values()) == {"processes"}
    with pytest.raises(ConfigError) as err:
        run_bench(_plan("batched", rounds=2), out, mnist=MNIST, resume=True)
    # The batchable contestant's runs are the mix; the other's would be per-run either way.
    message = str(err.value)
    assert err.value.code == 2 and TINY in message and UNBATCHABLE not in message
    assert "processes" in message and "--allow-mixed-executors" in message


def test_older_files_calling_fallback_runs_batched_still_resume(tmp_path):
    """Before runs named their real executor, the fallback's runs said "batched"."""
    plan = _plan("batched", rounds=1)
    result = run_bench(plan, tmp_path / "r.json", mnist=MNIST)
    legacy = [r.model_copy(update={"executor": "batched"}) for r in result.runs]
    check_executors(legacy, "batched", tmp_path / "r.json", plan.contestants, "cpu")
    with pytest.raises(ConfigError, match=TINY):  # and a per-run bench still refuses them
        check_executors(legacy, "serial", tmp_path / "r.json", plan.contestants, "cpu")
