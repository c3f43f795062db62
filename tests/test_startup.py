"""Start-up and exit of the command line (issue 17): the processes executor's forkserver is
started from the parsed options, before the command imports torch, and a command with torch
loaded exits without the interpreter's teardown, keeping its exit code, its output and the
atexit handlers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from digitduel.bench import forkserver


@pytest.mark.parametrize(
    "executor, device, jobs, cores, nvidia, expected",
    [
        (None, None, None, 2, False, True),  # the defaults on a 2-core CPU: processes
        ("auto", "cpu", None, 2, True, True),  # cpu asked for: a GPU does not matter
        ("processes", None, None, 1, False, True),  # asked for by name, even on one core
        (None, None, None, 1, False, False),  # auto on one core: serial
        (None, None, 1, 2, False, False),  # -j 1: serial
        ("serial", None, None, 8, False, False),
        ("batched", "cpu", None, 8, False, False),  # batched in one process
        ("batched", "cuda", 4, 8, True, True),  # batched --jobs 4: stacks in worker processes
        ("batched", None, 1, 8, False, False),
        ("ray", None, None, 8, False, False),
        (None, "cuda", None, 8, False, False),
        (None, None, None, 8, True, False),  # auto device where NVIDIA's driver is: CUDA
    ],
)
def test_the_forkserver_is_started_early_only_where_auto_or_the_user_picks_processes(
    monkeypatch, tmp_path, executor, device, jobs, cores, nvidia, expected
):
    monkeypatch.setattr(forkserver, "usable_cores", lambda: cores)
    marker = tmp_path / "nvidiactl"
    if nvidia:
        marker.touch()
    monkeypatch.setattr(forkserver, "NVIDIA_DEVICE", marker)
    assert forkserver.likely_processes(executor, device, jobs) is expected


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_a_multi_run_bench_starts_its_forkserver_before_torch_is_imported():
    done = _python(
        """
        import os, sys
        from digitduel.bench import forkserver
        forkserver.usable_cores = lambda: 2
        from digitduel.cli.run_options import RunOptions, _start_workers_early
        from dataclasses import asdict
        from multiprocessing import forkserver as mp_forkserver
        values = asdict(RunOptions(rounds=10, device="cpu"))
        _start_workers_early(values, {"model": ["sgd-convnet"], "preset": None})
        pid = mp_forkserver._forkserver._forkserver_pid
        print("torch" in sys.modules, pid is not None and os.path.exists(f"/proc/{pid}"))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]  # no torch here, a live forkserver


def test_an_explicit_single_run_starts_no_forkserver():
    done = _python(
        """
        from dataclasses import asdict
        from multiprocessing import forkserver as mp_forkserver
        from digitduel.cli.run_options import RunOptions, _start_workers_early
        values = asdict(RunOptions(rounds=1, device="cpu", executor="processes"))
        _start_workers_early(values, {"model": ["sgd-convnet"], "preset": None})
        print(mp_forkserver._forkserver._forkserver_pid)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


@pytest.mark.parametrize(
    "code, status, stderr",
    [(0, 0, ""), (None, 0, ""), (3, 3, ""), ("boom", 1, "boom")],
)
def test_the_fast_exit_keeps_the_exit_code_the_output_and_the_atexit_handlers(code, status, stderr):
    done = _python(
        f"""
        import atexit, sys, torch
        from digitduel.cli.main import _exit_now
        atexit.register(lambda: print("atexit ran"))
        sys.stdout.write("x" * 100_000)  # buffered: must reach the pipe
        _exit_now({code!r})
        print("not reached")
        """
    )
    assert done.returncode == status
    assert done.stdout == "x" * 100_000 + "atexit ran\n"
    assert done.stderr.strip() == stderr


def test_a_failing_command_still_says_one_line_and_exits_2_through_the_console_script():
    done = subprocess.run(
        [sys.executable, "-m", "digitduel", "bench", "-m", "no-such-model", "--offline"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'no-such-model'" in lines[0]


def test_resume_starts_the_forkserver_of_a_stored_processes_bench_before_torch(tmp_path):
    from test_engine_fakes import TINY, synthetic_mnist

    from digitduel.bench.plan import plan_for_models
    from digitduel.bench.runner import run_bench

    out = tmp_path / "r.json"
    plan = plan_for_models(
        [TINY],
        train_overrides={"epochs": 1},
        bench_overrides={"rounds": 2, "n_pairs": 40, "executor": "processes", "device": "cpu"},
    )
    run_bench(plan, out, mnist=synthetic_mnist(200, 200))
    done = _python(
        f"""
        import os, sys
        from pathlib import Path
        from multiprocessing import forkserver as mp_forkserver
        from digitduel.cli.resume_cmd import _start_workers_early
        _start_workers_early(Path({str(out)!r}), None, None)
        pid = mp_forkserver._forkserver._forkserver_pid
        print("torch" in sys.modules, pid is not None and os.path.exists(f"/proc/{{pid}}"))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
