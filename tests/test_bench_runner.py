"""The bench: paired rounds, results schema, journal, resume, interrupt, divergence."""

from __future__ import annotations

import json
import threading

import pytest
from test_engine_fakes import NAN_AFTER, TINY, TINY_DIGITS, synthetic_mnist
from torch import nn

from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.plan import plan_for_models, round_seeds
from digitduel.bench.results import BenchResult, load_results
from digitduel.bench.runner import run_bench
from digitduel.errors import ConfigError, DigitduelError
from digitduel.models.registry import ModelOutput, register
from digitduel.training.events import BenchEnded, BenchStarted, Note, RunEnded, RunStarted

MNIST = synthetic_mnist()


def _plan(models=(TINY, TINY_DIGITS), rounds=2, train=None, **bench):
    return plan_for_models(
        list(models),
        train_overrides={"epochs": 1, **(train or {})},
        bench_overrides={"rounds": rounds, "n_pairs": 50, "executor": "serial", **bench},
    )


def _bench(plan, out, **kw):
    events = []
    result = run_bench(plan, out, on_event=events.append, mnist=MNIST, **kw)
    return result, events


def test_rounds_are_paired_and_independent(tmp_path):
    result, _ = _bench(_plan(rounds=2), tmp_path / "r.json")
    by_round = {}
    for run in result.runs:
        by_round.setdefault(run.round, set()).add((run.data_seed, run.seed))
    assert all(len(s) == 1 for s in by_round.values())  # one draw per round, for everyone
    assert by_round[0] != by_round[1]
    assert round_seeds(0, 1) == next(iter(by_round[1]))
    assert round_seeds(0, 1) != round_seeds(1, 1)  # the base seed changes every round


def test_results_file_round_trips_and_summarises(tmp_path):
    out = tmp_path / "r.json"
    result, events = _bench(_plan(), out)
    assert result.status == "finished"
    loaded = load_results(out)
    assert loaded == BenchResult.model_validate_json(out.read_text())
    assert loaded.model_dump() == result.model_dump()
    assert [(r.model, r.round) for r in loaded.runs] == [
        (TINY, 0),
        (TINY, 1),
        (TINY_DIGITS, 0),
        (TINY_DIGITS, 1),
    ]
    run = loaded.runs[0]
    assert 0 <= run.test_accuracy <= 1 and run.params > 0 and len(run.epochs) == 1
    assert loaded.environment.executor == "serial" and loaded.environment.torch
    assert loaded.contestants[0].settings.epochs == 1  # the full settings are kept
    summary = {s.label: s for s in loaded.summary}
    assert summary[TINY].runs == 2 and summary[TINY].ok == 2
    assert summary[TINY].test_std is not None
    assert isinstance(events[0], BenchStarted) and isinstance(events[-1], BenchEnded)
    assert sum(isinstance(e, RunEnded) for e in events) == 4


def test_a_diverged_run_is_recorded_and_the_bench_goes_on(tmp_path):
    plan = _plan((NAN_AFTER, TINY), rounds=1, train={"batch_size": 10})
    result, _ = _bench(plan, tmp_path / "r.json")
    status = {r.model: r.status for r in result.runs}
    assert status == {NAN_AFTER: "diverged", TINY: "ok"}
    s = {x.label: x for x in result.summary}
    assert s[NAN_AFTER].diverged == 1 and s[NAN_AFTER].test_mean is None
    assert load_results(tmp_path / "r.json").runs[0].epochs[0].train_loss is None  # NaN -> null


RAISES = "test-raises-in-training"


@register(RAISES, report="jomeau", description="test: raises once training", recipe={})
class RaisesInTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 14 * 14, 2)

    def forward(self, x):
        if self.training:  # the bench's eval-mode dry run before training must pass
            raise RuntimeError("simulated bug\nsecond line of the message")
        return ModelOutput(self.fc(x.flatten(1)), None)


def test_a_run_that_raises_is_one_failed_run_saying_where(tmp_path):
    result, _ = _bench(_plan((RAISES, TINY), rounds=1), tmp_path / "r.json")
    status = {r.model: r.status for r in result.runs}
    assert status == {RAISES: "failed", TINY: "ok"}
    error = next(r.error for r in result.runs if r.model == RAISES)
    # The first line of the message, then the traceback's last frame: the model's forward.
    assert error.startswith("RuntimeError: simulated bug (at test_bench_runner.py:")
    assert error.endswith(" in forward)") and "second line" not in error


def test_resume_runs_only_what_the_journal_lacks(tmp_path):
    out = tmp_path / "r.json"
    plan = _plan(rounds=3)
    _bench(plan, out)
    # Simulate a kill after 2 of 6 runs: keep the header and two run lines, plus a torn line.
    jpath = journal_path(out)
    lines = jpath.read_text().splitlines(keepends=True)
    jpath.write_text("".join(lines[:3]) + lines[3][:40])
    out.unlink()

    result, events = _bench(plan, out, resume=True)
    started = [(e.job.contestant, e.job.round) for e in events if isinstance(e, RunStarted)]
    assert len(started) == 4 and (TINY, 0) not in started and (TINY_DIGITS, 0) not in started
    keys = [(r.model, r.round) for r in result.runs]
    assert sorted(keys) == sorted({(m, r) for m in (TINY, TINY_DIGITS) for r in range(3)})
    assert any(isinstance(e, Note) and "resuming" in e.message for e in events)
    _, journal_runs, _ = read_journal(jpath)
    assert len(journal_runs) == 6  # the torn line was dropped, not glued to the next one


def test_resume_refuses_a_journal_from_other_settings(tmp_path):
    out = tmp_path / "r.json"
    _bench(_plan(rounds=1), out)
    with pytest.raises(ConfigError, match="different settings.*seed"):
        _bench(_plan(rounds=1, seed=5), out, resume=True)


def test_resume_with_more_rounds_adds_only_the_new_rounds(tmp_path):
    out = tmp_path / "r.json"
    _bench(_plan(rounds=1), out)
    result, events = _bench(_plan(rounds=2), out, resume=True)
    assert {e.job.round for e in events if isinstance(e, RunStarted)} == {1}
    assert len(result.runs) == 4


def test_cancel_mid_bench_keeps_finished_runs_and_writes_valid_json(tmp_path):
    out = tmp_path / "r.json"
    cancel = threading.Event()

    def listen(event):
        if isinstance(event, RunEnded):
            cancel.set()  # after the first finished run

    result = run_bench(_plan(rounds=3), out, on_event=listen, cancel=cancel, mnist=MNIST)
    assert result.status == "cancelled"
    assert len(result.runs) == 1
    assert load_results(out).status == "cancelled"


def test_ctrl_c_mid_run_keeps_finished_runs(tmp_path):
    out = tmp_path / "r.json"
    seen = []

    def listen(event):
        seen.append(event)
        if isinstance(event, RunStarted) and event.job.round == 1:
            raise KeyboardInterrupt

    result = run_bench(_plan(rounds=3), out, on_event=listen, mnist=MNIST)
    assert result.status == "cancelled"
    assert [(r.model, r.round) for r in result.runs] == [(TINY, 0), (TINY_DIGITS, 0)]
    doc = json.loads(out.read_text())
    assert doc["status"] == "cancelled" and len(doc["runs"]) == 2
    assert any(isinstance(e, BenchEnded) and e.status == "cancelled" for e in seen)


def test_corrupt_or_missing_results_are_one_line_errors(tmp_path):
    with pytest.raises(DigitduelError, match="not found"):
        load_results(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "name": ')
    with pytest.raises(DigitduelError, match="not valid JSON"):
        load_results(bad)
    bad.write_text('{"hello": 1}')
    with pytest.raises(DigitduelError, match="not a digitduel results file"):
        load_results(bad)
