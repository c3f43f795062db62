"""The ray executor on real Ray: one two-node cluster (ray.cluster_utils.Cluster, one CPU per
node) for the whole file, since starting Ray costs seconds (tens on a busy machine)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from test_engine_fakes import TINY, TINY_DIGITS, synthetic_mnist  # noqa: E402

from digitduel.bench.executors import DataContext  # noqa: E402
from digitduel.bench.journal import journal_path, read_journal  # noqa: E402
from digitduel.bench.plan import BenchPlan, contestant_for, plan_for_models  # noqa: E402
from digitduel.bench.ray_executor import CANCEL_GRACE_S  # noqa: E402
from digitduel.bench.runner import plan_jobs, run_bench  # noqa: E402
from digitduel.settings import BenchSettings  # noqa: E402
from digitduel.training.events import EpochEnd, Note, RunEnded, RunStarted  # noqa: E402

MNIST = synthetic_mnist()
TESTS = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def cluster():
    """Two Ray nodes of one CPU each on this machine, this process connected as the driver.
    The workers import the test models (test_engine_fakes) from this folder."""
    from ray.cluster_utils import Cluster

    nodes = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    nodes.add_node(num_cpus=1)
    ray.init(
        address=nodes.address,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}},
    )
    nodes.wait_for_nodes()
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def _plan(models, rounds=2, epochs=2, executor="ray", jobs=None):
    return plan_for_models(
        list(models),
        train_overrides={"epochs": epochs},
        bench_overrides={"rounds": rounds, "n_pairs": 50, "executor": executor, "jobs": jobs},
    )


def _mixed_plan(long_label: str, long_epochs: int, rounds: int) -> BenchPlan:
    """A one-epoch contestant beside a long one (TINY both; labels tell them apart)."""
    return BenchPlan(
        name="mixed",
        contestants=[
            contestant_for(TINY, label="short", layers=[{"epochs": 1}]),
            contestant_for(TINY, label=long_label, layers=[{"epochs": long_epochs}]),
        ],
        bench=BenchSettings(rounds=rounds, n_pairs=50, executor="ray"),
    )


def test_ray_gives_the_processes_figures_and_streams_events_from_both_nodes(cluster, tmp_path):
    events = []
    plan = _plan([TINY, TINY_DIGITS])
    on_ray = run_bench(plan, tmp_path / "ray.json", on_event=events.append, mnist=MNIST)
    local = run_bench(
        _plan([TINY, TINY_DIGITS], executor="processes", jobs=2),
        tmp_path / "local.json",
        mnist=MNIST,
    )
    figures = [(r.model, r.round, r.train_accuracy, r.test_accuracy) for r in on_ray.runs]
    assert figures == [(r.model, r.round, r.train_accuracy, r.test_accuracy) for r in local.runs]
    assert len(figures) == 4 and all(r.status == "ok" for r in on_ray.runs)
    assert on_ray.environment.executor == "ray" and on_ray.environment.jobs == 2

    # Both nodes ran jobs, and the records say which (one machine: the node ids differ).
    assert {r.node for r in on_ray.runs} == {n.node_id for n in cluster.list_all_nodes()}
    assert {r.host for r in on_ray.runs} == {socket.gethostname()}

    # Streamed, not delivered at the end: every run's epochs come before its end, and the
    # first epoch is heard before the last run ends.
    notes = [e.message for e in events if isinstance(e, Note)]
    assert any(m.startswith("connected to Ray cluster: 2 nodes, 2 CPUs, 0 GPUs") for m in notes)
    kinds = [(type(e).__name__, getattr(e, "job", None)) for e in events]
    for job in {j for _, j in kinds if j is not None}:
        seen = [name for name, j in kinds if j == job]
        assert seen == ["RunStarted", "EpochEnd", "EpochEnd", "RunEnded"], job
    first_epoch = next(i for i, (name, _) in enumerate(kinds) if name == "EpochEnd")
    last_end = max(i for i, (name, _) in enumerate(kinds) if name == "RunEnded")
    assert first_epoch < last_end


def test_cancel_stops_running_and_pending_tasks_and_keeps_finished_runs(cluster, tmp_path):
    cancel = threading.Event()
    cancelled_at = []

    def listen(event):
        if isinstance(event, RunEnded) and event.status == "ok" and not cancel.is_set():
            cancel.set()
            cancelled_at.append(time.monotonic())

    plan = _mixed_plan("long", long_epochs=10_000, rounds=3)  # the long runs: a minute
    result = run_bench(plan, tmp_path / "r.json", on_event=listen, cancel=cancel, mnist=MNIST)
    # Stopped through the flag the running task polls, well before the hard-stop grace time.
    assert time.monotonic() - cancelled_at[0] < CANCEL_GRACE_S / 3
    assert result.status == "cancelled"
    assert result.runs and {r.model for r in result.runs} == {"short"}
    _, journal_runs, _ = read_journal(journal_path(tmp_path / "r.json"))
    assert [(r.model, r.round) for r in journal_runs] == [(r.model, r.round) for r in result.runs]


def test_a_contestants_rounds_as_one_task_the_gpu_form(cluster):
    """The task the executor sends to a GPU share, here on a CPU (no GPU in CI): all rounds of
    a contestant through the batched trainer, one outcome per round, events on the channel."""
    from digitduel.bench.ray_tasks import Channel, run_group

    jobs = plan_jobs(_plan([TINY], rounds=2))
    ctx = DataContext.from_mnist(MNIST, 50, "cpu", ["test_engine_fakes"])
    channel = Channel.remote()
    outcomes = ray.get(run_group.remote([0, 1], jobs, [ray.put(ctx)], channel))
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert all(o.node and o.test_accuracy is not None for o in outcomes)
    events = ray.get(channel.drain.remote())
    assert sorted(e.job.round for e in events if isinstance(e, EpochEnd)) == [0, 0, 1, 1]
    ray.kill(channel)


def _kill_task(label: str) -> int | None:
    """kill -9 the Ray worker process running `label`'s round 0 (Ray names the process after
    the task); its pid, or None if none runs it."""
    title = f"ray::digitduel {label} r0".encode()
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if pid.isdigit() and cmdline.startswith(title):
            os.kill(int(pid), signal.SIGKILL)
            return int(pid)
    return None


def test_a_killed_worker_is_retried_once_then_a_failed_run_and_the_bench_goes_on(cluster, tmp_path):
    killed: list[int | None] = []

    def listen(event):
        # Every start of the victim (the first attempt, then Ray's retry) loses its worker.
        if isinstance(event, RunStarted) and event.job.contestant == "victim":
            time.sleep(0.2)  # the task is in its epochs (10,000 of them) by now
            killed.append(_kill_task("victim"))

    plan = _mixed_plan("victim", long_epochs=10_000, rounds=1)
    result = run_bench(plan, tmp_path / "r.json", on_event=listen, mnist=MNIST)
    assert result.status == "finished"
    assert len(killed) == 2 and all(killed)  # retried once, on a fresh worker
    status = {r.model: r for r in result.runs}
    assert status["short"].status == "ok"
    assert status["victim"].status == "failed"
    assert "retry" in status["victim"].error and "worker died" in status["victim"].error


def test_cli_on_a_cluster_address_prints_one_line_about_ray(cluster, tmp_path, mnist_dir):
    out = tmp_path / "r.json"
    run = subprocess.run(
        [str(VENV_BIN / "digitduel"), "bench", "--model", "jomeau-ws2", "--rounds", "2",
         "--epochs", "1", "--n-pairs", "100", "--data-dir", str(mnist_dir), "--out", str(out),
         "--executor", "ray", "--ray-address", cluster.address],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "connected to Ray cluster: 2 nodes, 2 CPUs, 0 GPUs" in run.stdout
    assert run.stderr.strip() == ""  # no Ray banner, no worker logs


def test_without_ray_the_ray_executor_is_one_line_and_exit_2(tmp_path):
    hide_ray = (
        "import sys; sys.modules['ray'] = None; "
        "from digitduel.cli.main import main; sys.argv[0] = 'digitduel'; main()"
    )
    run = subprocess.run(
        [sys.executable, "-c", hide_ray, "bench", "--model", "jomeau-ws2", "--executor", "ray",
         "--out", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip() == "error: the ray executor needs Ray: pip install 'digitduel[ray]'"
