"""The ray executor on real Ray: one two-node cluster (ray.cluster_utils.Cluster, one CPU per
node) for the whole file, since starting Ray costs seconds (tens on a busy machine)."""

from __future__ import annotations

import json
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
    assert [o.status for o in outcomes] == ["ok", "ok"], outcomes
    assert all(o.node and o.test_accuracy is not None for o in outcomes), outcomes
    events = ray.get(channel.drain.remote())
    rounds = sorted(e.job.round for e in events if isinstance(e, EpochEnd))
    assert rounds == [0, 0, 1, 1], events
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
    runs = [(r.model, r.status, r.error) for r in result.runs]  # what to read if it fails
    assert len(killed) == 2 and all(killed), runs  # retried once, on a fresh worker
    status = {r.model: r for r in result.runs}
    assert status["short"].status == "ok"
    assert status["victim"].status == "failed"
    assert "retry" in status["victim"].error and "worker died" in status["victim"].error


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


SHIPPED_NET = """
import os, pathlib
import torch
from torch import nn
from digitduel import register

# Each process that loads this file says from where: the test reads these traces.
pathlib.Path({trace!r}, str(os.getpid())).write_text(__file__)


@register("shipped-net")
class ShippedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 14 * 14, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))
"""


def test_a_user_model_file_reaches_the_workers_by_content(cluster, tmp_path):
    from digitduel.models.user import forget_user_models, load_source

    trace = tmp_path / "trace"
    trace.mkdir()
    model_file = tmp_path / "lab" / "shipped_net.py"
    model_file.parent.mkdir()
    model_file.write_text(SHIPPED_NET.format(trace=str(trace)))
    load_source(str(model_file))
    try:
        result = run_bench(
            _plan(["shipped-net"], rounds=2, epochs=1), tmp_path / "r.json", mnist=MNIST
        )
    finally:
        forget_user_models()
    errors = [r.error for r in result.runs]  # what to read if it fails
    assert [(r.model, r.status) for r in result.runs] == [("shipped-net", "ok")] * 2, errors
    loaded_from = {int(p.name): p.read_text() for p in trace.iterdir()}
    assert loaded_from.pop(os.getpid()) == str(model_file)  # the driver: the user's file
    # Every worker that ran a round loaded the shipped bytes from its own private folder,
    # never the driver's path.
    assert loaded_from and all(
        Path(path).name == "shipped_net.py"
        and Path(path).parent.parent.name.startswith("digitduel-models-")
        for path in loaded_from.values()
    ), loaded_from


def test_a_killed_driver_leaves_no_ray_behind_and_resume_completes_it(cluster, tmp_path, mnist_dir):
    """kill -9 of `digitduel bench --executor ray` running its own local Ray, mid-bench: its
    Ray processes go within seconds, and its terminal was quiet; `--resume`, on a cluster
    address this time, runs what is missing, so every round is in the results exactly once.
    (The one CLI test that starts a local Ray: that costs tens of seconds on a busy machine.)"""
    from digitduel.bench.ray_reaper import marked

    out = tmp_path / "r.json"
    bench = [str(VENV_BIN / "digitduel"), "bench", "--model", "jomeau-ws2", "--rounds", "4",
             "--epochs", "10", "--n-pairs", "100", "--data-dir", str(mnist_dir),
             "--out", str(out), "--executor", "ray"]  # fmt: skip
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("RAY_ADDRESS", None)
    with open(tmp_path / "stdout", "w+") as stdout, open(tmp_path / "stderr", "w+") as stderr:
        driver = subprocess.Popen(bench, env=env, stdout=stdout, stderr=stderr)
        journal = journal_path(out)
        deadline = time.monotonic() + 150
        while not (journal.exists() and '"kind":"run"' in journal.read_text()):
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)  # kill before the other rounds end
        ray_processes = marked(driver.pid)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    assert len(ray_processes) >= 3  # at least the GCS server, the raylet and a worker
    # Quiet: Ray's start-up as one line, no banner, no worker output.
    assert (tmp_path / "stdout").read_text().count("connected to Ray cluster: 1 node") == 1
    assert (tmp_path / "stderr").read_text() == ""
    _, before, _ = read_journal(journal)
    assert 1 <= len(before) < 4
    deadline = time.monotonic() + 20
    while marked(driver.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not marked(driver.pid)  # nothing of the killed driver's Ray is left

    resumed = subprocess.run(bench + ["--resume", "--ray-address", cluster.address], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr == ""
    assert resumed.stdout.count("connected to Ray cluster: 2 nodes, 2 CPUs, 0 GPUs") == 1
    assert f"resuming: {len(before)} of 4 runs already finished" in resumed.stdout
    runs = json.loads(out.read_text())["runs"]
    assert sorted((r["model"], r["round"]) for r in runs) == [("jomeau-ws2", i) for i in range(4)]


def test_the_tui_runs_a_bench_on_ray_from_its_worker_thread(cluster, tmp_path, mnist_dir):
    """The TUI's form offers ray; its bench runs in a Textual thread worker, and the plots
    move with the events streamed from the Ray tasks."""
    import asyncio

    from test_tui import SIZE, fill_tiny, ready_setup, until
    from textual.widgets import Select

    from digitduel.bench import load_results
    from digitduel.tui.app import DigitduelApp
    from digitduel.tui.results_screen import ResultsScreen

    async def scenario():
        app = DigitduelApp(data_dir=str(mnist_dir), out_dir=tmp_path, out_path=tmp_path / "r.json")
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready_setup(pilot)
            await fill_tiny(pilot, screen, executor="ray")  # a Select refuses a value it lacks
            assert screen.query_one("#f-executor", Select).value == "ray"
            await pilot.press("ctrl+r")
            await until(pilot, lambda: app.run_screen is not None, what="run screen")
            run = app.run_screen
            await until(pilot, lambda: isinstance(app.screen, ResultsScreen)
                        or run.state.status == "failed", timeout=90, what="results")  # fmt: skip
            assert run.state.status == "finished", list(run.state.log)
            assert run.loss_plot.drawn.get("live", 0) >= 1  # epochs arrived while it ran

    asyncio.run(scenario())
    saved = load_results(tmp_path / "r.json")
    assert saved.environment.executor == "ray"
    assert [r.status for r in saved.runs] == ["ok", "ok"] and all(r.node for r in saved.runs)
