"""Executors: the processes pool (events across processes, cancel, a dying worker), the choice
of executor, and the batched executor's fallback."""

from __future__ import annotations

import threading

import pytest
from test_engine_fakes import CRASH, TINY, TINY_DIGITS, synthetic_mnist

from digitduel.bench import batched_bridge
from digitduel.bench.executors import SerialExecutor, make_executor
from digitduel.bench.jobs import JobSink
from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.plan import plan_for_models
from digitduel.bench.runner import plan_jobs, run_bench
from digitduel.errors import ConfigError
from digitduel.training.device import usable_cores
from digitduel.training.events import EpochEnd, RunEnded, RunStarted

MNIST = synthetic_mnist()


def _plan(models, rounds=2, epochs=1, executor="processes", jobs=2):
    return plan_for_models(
        list(models),
        train_overrides={"epochs": epochs},
        bench_overrides={"rounds": rounds, "n_pairs": 50, "executor": executor, "jobs": jobs},
    )


def test_processes_events_cross_and_a_dead_worker_is_one_failed_run(tmp_path):
    out = tmp_path / "r.json"
    events = []
    plan = _plan([TINY, CRASH, TINY_DIGITS], rounds=1)
    result = run_bench(plan, out, on_event=events.append, mnist=MNIST)
    assert result.environment.executor == "processes" and result.environment.jobs == 2
    status = {r.model: r.status for r in result.runs}
    assert status == {TINY: "ok", CRASH: "failed", TINY_DIGITS: "ok"}
    crash = next(r for r in result.runs if r.model == CRASH)
    assert "worker process died" in crash.error
    # Per-epoch events came back from the workers, for every run that trained.
    assert {e.job.contestant for e in events if isinstance(e, EpochEnd)} == {TINY, TINY_DIGITS}
    assert sum(isinstance(e, RunEnded) for e in events) == 3

    # Failed runs are rerun by --resume; finished ones are not.
    again = []
    run_bench(plan, out, resume=True, on_event=again.append, mnist=MNIST)
    assert not any(isinstance(e, RunStarted) for e in again)  # only the crashing job reran
    assert sum(isinstance(e, RunEnded) for e in again) == 1
    _, journal_runs, _ = read_journal(journal_path(out))
    assert len(journal_runs) == 4


def test_processes_cancel_reaches_the_workers(tmp_path):
    cancel = threading.Event()

    def listen(event):
        if isinstance(event, EpochEnd):
            cancel.set()

    plan = _plan([TINY, TINY_DIGITS], rounds=3, epochs=2000)  # minutes, were it not cancelled
    result = run_bench(plan, tmp_path / "r.json", on_event=listen, cancel=cancel, mnist=MNIST)
    assert result.status == "cancelled"
    assert result.runs == []  # nothing finished: nothing journaled, everything left for --resume
    _, journal_runs, _ = read_journal(journal_path(tmp_path / "r.json"))
    assert journal_runs == []


def test_processes_and_serial_agree_run_for_run(tmp_path):
    """Same jobs, same figures: the executor changes speed, not results."""
    plan = _plan([TINY], rounds=2, epochs=2)
    jobs = plan_jobs(plan)
    from digitduel.bench.executors import DataContext

    ctx = DataContext.from_mnist(MNIST, 50, "cpu", ["test_engine_fakes"])
    got = {}
    for executor in (SerialExecutor(), make_executor("processes", n_jobs=2, n_tasks=2)):
        records = {}
        executor.run(
            jobs,
            ctx,
            JobSink(
                on_record=lambda j, o, rec=records: rec.__setitem__(j.key, o),
                on_event=lambda e: None,
                cancel=None,
            ),
        )
        got[executor.name] = {k: [e.test_accuracy for e in o.epochs] for k, o in records.items()}
    assert got["serial"] == got["processes"]


def test_executor_choice():
    import torch

    cpu = torch.device("cpu")
    assert make_executor("serial", device=cpu, n_tasks=10).name == "serial"
    assert make_executor("auto", device=cpu, n_tasks=1).name == "serial"
    assert make_executor("auto", n_jobs=1, device=cpu, n_tasks=10).name == "serial"
    expected = "processes" if usable_cores() > 1 else "serial"
    assert make_executor("auto", device=cpu, n_tasks=10).name == expected
    assert make_executor("processes", n_jobs=3, device=cpu, n_tasks=10).workers == 3
    assert make_executor("batched", device=cpu, n_tasks=4).name == "batched"
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("cluster", device=cpu)


def test_batched_runs_batchable_contestants_and_reports_every_round(tmp_path):
    events = []
    plan = _plan([TINY, TINY_DIGITS], rounds=2, epochs=2, executor="batched", jobs=1)
    result = run_bench(plan, tmp_path / "r.json", on_event=events.append, mnist=MNIST)
    assert len(result.runs) == 4 and {r.status for r in result.runs} == {"ok"}
    assert all(len(r.epochs) == 2 for r in result.runs)
    assert sum(isinstance(e, EpochEnd) for e in events) == 8
    assert batched_bridge  # the bridge module is importable on its own


def test_a_running_bench_can_be_read_from_its_results_file(tmp_path, monkeypatch):
    """`digitduel show` from another shell sees the finished runs of a bench in progress."""
    from digitduel.bench import runner
    from digitduel.bench.results import load_results

    monkeypatch.setattr(runner, "SNAPSHOT_EVERY_S", 0.0)
    out = tmp_path / "r.json"
    seen = []

    def listen(event):
        if isinstance(event, RunEnded) and out.exists():
            seen.append(load_results(out))

    run_bench(_plan([TINY], rounds=3, executor="serial"), out, on_event=listen, mnist=MNIST)
    # written at the start (issue 14), then after each run (each listener hears a run first)
    assert [r.status for r in seen] == ["running", "running", "running"]
    assert [len(r.runs) for r in seen] == [0, 1, 2]
    assert seen[-1].summary[0].ok == 2
    assert load_results(out).status == "finished"
    assert oct(out.stat().st_mode & 0o777) == "0o644"
