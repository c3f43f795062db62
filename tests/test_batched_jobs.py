"""`--executor batched --jobs N`: several contestants' stacks at once in N worker processes
(the processes executor's pool). Same runs as the one-process batched executor, each recorded
once; a cancel keeps the finished runs; a worker that dies fails only its contestant's runs."""

from __future__ import annotations

import threading

import torch
from batched_fakes import UNBATCHABLE
from test_engine_fakes import CRASH, TINY, TINY_DIGITS, synthetic_mnist

from digitduel.bench.executors import BatchedExecutor, BatchedPoolExecutor, make_executor
from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.plan import plan_for_models
from digitduel.bench.runner import run_bench
from digitduel.training.events import EpochEnd, RunEnded

MNIST = synthetic_mnist(300, 300)


def _plan(models, jobs, rounds=2, epochs=2):
    return plan_for_models(
        list(models),
        train_overrides={"epochs": epochs},
        bench_overrides={"rounds": rounds, "n_pairs": 50, "executor": "batched", "jobs": jobs},
    )


def _figures(result):
    return {
        (r.model, r.round): (r.status, r.train_accuracy, r.test_accuracy, r.executor)
        for r in result.runs
    }


def test_jobs_2_gives_the_one_process_runs_run_for_run(tmp_path):
    models = [TINY, TINY_DIGITS, UNBATCHABLE]
    # Bit-equal, not merely close: the stacks are seeded by their rounds' seeds wherever they
    # run, and the workers train on one torch thread, so the one-process bench does too here:
    # another thread count may split float reductions otherwise and change the last bits
    # (these tiny models happened to agree on 2 threads too, but bigger ones need not).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = run_bench(_plan(models, jobs=1), tmp_path / "one.json", mnist=MNIST)
    finally:
        torch.set_num_threads(previous)
    events: list = []
    pooled = run_bench(_plan(models, jobs=2), tmp_path / "two.json", mnist=MNIST,
                       on_event=events.append)  # fmt: skip
    assert pooled.environment.executor == "batched" and pooled.environment.jobs == 2
    assert alone.environment.jobs == 1
    one, two = _figures(alone), _figures(pooled)
    assert len(two) == len(pooled.runs) == 6 and {v[0] for v in two.values()} == {"ok"}
    # The leftovers ran per run: serially in one process, in a worker (processes) with jobs 2.
    assert {k: v[:3] for k, v in one.items()} == {k: v[:3] for k, v in two.items()}
    assert {k[0]: v[3] for k, v in two.items()} == {
        TINY: "batched",
        TINY_DIGITS: "batched",
        UNBATCHABLE: "processes",
    }
    assert one[(UNBATCHABLE, 0)][3] == "serial"
    # Every run recorded once, in the results, the journal and the events.
    assert sum(isinstance(e, RunEnded) for e in events) == 6
    _, journal_runs, _ = read_journal(journal_path(tmp_path / "two.json"))
    assert sorted((r.model, r.round) for r in journal_runs) == sorted(two)


def test_a_cancel_stops_the_workers_and_keeps_the_finished_runs(tmp_path):
    plan = _plan([TINY, TINY_DIGITS], jobs=2)
    slow = plan.contestants[1].model_copy(
        update={"settings": plan.contestants[1].settings.model_copy(update={"epochs": 3000})}
    )
    plan = plan.model_copy(update={"contestants": [plan.contestants[0], slow]})
    cancel = threading.Event()
    seen = {"slow epochs": 0, "finished": 0}

    def listen(event):
        if isinstance(event, EpochEnd) and event.job.contestant == TINY_DIGITS:
            seen["slow epochs"] += 1  # both stacks train at once: the slow one is under way
        if isinstance(event, RunEnded) and event.status == "ok":
            seen["finished"] += 1
        if seen["slow epochs"] and seen["finished"] == 2:
            cancel.set()  # the quick contestant's two runs are in, the slow stack is training

    result = run_bench(plan, tmp_path / "r.json", on_event=listen, cancel=cancel, mnist=MNIST)
    assert result.status == "cancelled"
    assert sorted((r.model, r.round, r.status) for r in result.runs) == [
        (TINY, 0, "ok"), (TINY, 1, "ok")
    ]  # fmt: skip
    _, journal_runs, _ = read_journal(journal_path(tmp_path / "r.json"))
    assert len(journal_runs) == 2


def test_a_dead_worker_fails_its_contestants_runs_and_the_others_go_on(tmp_path):
    # CRASH kills its process as soon as it trains (here: the can_batch probe).
    result = run_bench(_plan([CRASH, TINY], jobs=2), tmp_path / "r.json", mnist=MNIST)
    status = {(r.model, r.round): r.status for r in result.runs}
    assert status == {(CRASH, 0): "failed", (CRASH, 1): "failed", (TINY, 0): "ok", (TINY, 1): "ok"}
    assert all("worker process died" in r.error for r in result.runs if r.model == CRASH)


def test_jobs_chooses_the_pool_only_when_asked():
    cpu = torch.device("cpu")
    assert isinstance(
        make_executor("batched", n_jobs=3, device=cpu, n_tasks=6), BatchedPoolExecutor
    )
    assert make_executor("batched", n_jobs=3, device=cpu, n_tasks=6).jobs == 3
    for n_jobs in (None, 1):
        assert isinstance(make_executor("batched", n_jobs=n_jobs, device=cpu, n_tasks=6),
                          BatchedExecutor)  # fmt: skip
    # auto on CUDA stays the one-process batched executor, whatever --jobs says
    cuda = torch.device("cuda")
    assert isinstance(make_executor("auto", n_jobs=4, device=cuda, n_tasks=6), BatchedExecutor)
