"""Faults on the processes executor, for real: benches as subprocesses, killed with SIGKILL at
seeded random points and resumed, workers that die while starting, no orphan left behind.

Each bench runs in a session of its own (start_new_session), so every process it started
(workers, forkserver, resource tracker) is found by its session id in /proc, even once
orphaned and adopted by init; a test that fails still kills the whole group.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli_bench_subprocess import CLI_WITH_FAKES, _env
from test_engine_fakes import TINY, TINY_DIGITS, TINY_MSE, synthetic_mnist

from digitduel.bench import executors
from digitduel.bench.jobs import run_job
from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.plan import plan_for_models
from digitduel.bench.results import load_results
from digitduel.bench.runner import run_bench
from digitduel.data.embedded import EMBEDDED_DIR
from digitduel.errors import DigitduelError

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or sys.platform != "linux", reason="needs Linux /proc"
)

ORPHANS_GONE_S = 5.0  # how long the processes of a killed bench may take to end
MODELS = (TINY, TINY_DIGITS, TINY_MSE)
ROUNDS = 3
MAX_KILLS, KILLING_S = 3, 40  # the fault-injection test's bound: no new kill after 40 s


def session_members(sid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live (not zombie) process of session `sid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state, ppid, pgrp, session
            found.append((int(entry.name), cmdline))
    return found


def wait_until_gone(sid: int, timeout: float = ORPHANS_GONE_S) -> tuple[float, list]:
    """Seconds until no process of session `sid` is left (or the timeout), and those left."""
    start = time.monotonic()
    while (left := session_members(sid)) and time.monotonic() - start < timeout:
        time.sleep(0.05)
    return time.monotonic() - start, left


def kill_session(proc: subprocess.Popen) -> None:
    """Clean-up after a failed test: the bench's whole process group (its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def bench_args(out: Path, *, epochs: int, models=MODELS, rounds: int = ROUNDS) -> list[str]:
    args = ["bench", "--rounds", str(rounds), "--epochs", str(epochs), "--n-pairs", "50"]
    for model in models:
        args += ["--model", model]
    args += ["--executor", "processes", "--jobs", "2", "--offline"]
    return [*args, "--data-dir", str(EMBEDDED_DIR), "--out", str(out)]


def start_bench(args: list[str], logs: Path, launcher: list[str] | None = None, **env):
    """The bench in a session of its own; stdout and stderr go to files in `logs` (pipes would
    be held open by any orphan, and reading them would wait for it)."""
    cmd = launcher or [sys.executable, "-c", CLI_WITH_FAKES]
    with open(logs / "stdout", "w") as stdout, open(logs / "stderr", "w") as stderr:
        return subprocess.Popen(
            [*cmd, *args],
            env={**_env(), **env},
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )


def ended(proc: subprocess.Popen, logs: Path, timeout: float = 120) -> tuple[str, str]:
    """Wait for the bench to end; its (stdout, stderr)."""
    proc.wait(timeout=timeout)
    return (logs / "stdout").read_text(), (logs / "stderr").read_text()


def journal_runs(out: Path) -> list:
    jpath = journal_path(out)
    return read_journal(jpath)[1] if jpath.exists() else []


def wait_for_journal(out: Path, proc: subprocess.Popen, runs: int, timeout: float = 90) -> None:
    """Until the journal holds its header and `runs` finished runs (or the bench ended)."""
    jpath = journal_path(out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if jpath.exists() and len(jpath.read_bytes().splitlines()) >= 1 + runs:
            return
        time.sleep(0.02)


def test_kill_9_leaves_no_worker_forkserver_or_tracker_alive(tmp_path):
    out = tmp_path / "r.json"
    proc = start_bench(bench_args(out, epochs=200), tmp_path)
    try:
        wait_for_journal(out, proc, runs=1)
        assert proc.poll() is None, "the bench ended before it could be killed"
        members = session_members(proc.pid)
        commands = " | ".join(cmd for _, cmd in members)
        # the bench, the resource tracker, the forkserver and its two workers
        assert len(members) >= 5 and "resource_tracker" in commands, commands
        assert commands.count("forkserver") >= 3, commands
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        took, left = wait_until_gone(proc.pid)
    finally:
        kill_session(proc)
    assert not left, f"alive {ORPHANS_GONE_S} s after the bench's kill -9: {left}"
    print(f"the {len(members) - 1} processes of the killed bench were gone after {took:.2f} s")


def test_kill_9_at_random_points_then_resume_keeps_every_run_once_and_unchanged(tmp_path):
    """Seeded: the same kill points each time. Each kill lands once the journal holds 0-2
    runs more than before the start, plus up to a second: anywhere from the start-up (imports,
    data, workers starting) to mid-training; at most MAX_KILLS, none after KILLING_S."""
    rng = random.Random(20261126)
    out = tmp_path / "r.json"
    args = [*bench_args(out, epochs=150), "--resume"]
    seen: dict[tuple[str, int], tuple] = {}
    kills, started, gone_after = 0, time.monotonic(), []
    while True:
        proc = start_bench(args, tmp_path)
        try:
            if kills < MAX_KILLS and time.monotonic() - started < KILLING_S:
                wait_for_journal(out, proc, runs=len(seen) + rng.randint(0, 2))
                time.sleep(rng.uniform(0.0, 1.0))
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    kills += 1
            _, stderr = ended(proc, tmp_path)
            took, left = wait_until_gone(proc.pid)
        finally:
            kill_session(proc)
        assert not left, f"kill {kills}: processes alive {took:.1f} s later: {left}"
        gone_after.append(took)
        for run in journal_runs(out):
            values = (run.test_accuracy, run.train_accuracy, run.digit_accuracy)
            assert seen.setdefault((run.model, run.round), values) == values
        if proc.returncode != -signal.SIGKILL:
            break
    assert proc.returncode == 0, stderr
    assert kills >= 2, "the bench finished before it could be killed twice"
    result = load_results(out)
    assert result.status == "finished"
    keys = [(r.model, r.round) for r in result.runs]
    assert sorted(keys) == sorted((m, r) for m in MODELS for r in range(ROUNDS))
    assert all(r.status == "ok" for r in result.runs)
    for r in result.runs:  # every run finished before a kill kept its figures
        assert seen[(r.model, r.round)] == (r.test_accuracy, r.train_accuracy, r.digit_accuracy)
    journal_keys = [(r.model, r.round) for r in journal_runs(out)]
    assert sorted(journal_keys) == sorted(keys)  # nothing ran twice
    print(
        f"{kills} kills, {len(seen)} runs kept; processes gone after "
        f"{max(gone_after):.2f} s at most; {time.monotonic() - started:.0f} s in all"
    )


# The bench's command, saved as a script: multiprocessing re-runs a script main module in each
# worker process as `__mp_main__` while the worker starts, before it has read its start-up
# data, so dying there is a worker dying while starting, for real (the bench then gets a
# BrokenPipeError writing that data, as after an OOM kill of a fresh worker).
DIES_WHILE_STARTING = """
import os

if __name__ == "__mp_main__":
    if os.environ.get("DIGITDUEL_TEST_DIE_ALWAYS") == "1":
        os._exit(1)
    try:  # the first worker to get here dies, and only that one
        os.close(os.open(os.environ["DIGITDUEL_TEST_DIE_ONCE"], os.O_CREAT | os.O_EXCL))
        os._exit(1)
    except (KeyError, FileExistsError):
        pass

import test_engine_fakes  # the test models, as CLI_WITH_FAKES
from digitduel.cli.main import main

if __name__ == "__main__":
    main()
"""


def _launcher(tmp_path: Path) -> list[str]:
    script = tmp_path / "bench_script.py"
    script.write_text(DIES_WHILE_STARTING)
    return [sys.executable, str(script)]


def test_a_worker_that_dies_while_starting_is_started_again(tmp_path):
    out = tmp_path / "r.json"
    args = bench_args(out, epochs=2, models=(TINY, TINY_DIGITS), rounds=2)
    marker = tmp_path / "died"
    proc = start_bench(args, tmp_path, _launcher(tmp_path), DIGITDUEL_TEST_DIE_ONCE=str(marker))
    try:
        stdout, stderr = ended(proc, tmp_path)
    finally:
        kill_session(proc)
    assert marker.exists(), "no worker died: the fault was not injected"
    assert proc.returncode == 0, stderr
    assert "note: a worker process died while starting (BrokenPipeError" in stdout
    assert "Traceback" not in stderr
    result = load_results(out)
    assert result.status == "finished" and len(result.runs) == 4
    assert all(r.status == "ok" for r in result.runs)


def test_workers_that_never_start_are_one_line_and_the_results_file_is_written(tmp_path):
    out = tmp_path / "r.json"
    args = bench_args(out, epochs=2, models=(TINY, TINY_DIGITS), rounds=2)
    proc = start_bench(args, tmp_path, _launcher(tmp_path), DIGITDUEL_TEST_DIE_ALWAYS="1")
    try:
        _, stderr = ended(proc, tmp_path)
    finally:
        kill_session(proc)
    assert proc.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not start a worker process")
    assert "BrokenPipeError" in lines[0] and "--resume" in lines[0]
    result = load_results(out)  # written, and --resume can go on from it
    assert result.status == "cancelled" and result.runs == []
    assert journal_path(out).exists()


class BreaksAfterOneRun:
    """An executor plug-in whose machinery fails mid-bench (a lost cluster connection, say):
    it records one run, then raises an error that is not the user's to fix."""

    name, jobs, threads = "test-breaks", 1, 1

    def run(self, jobs, ctx, sink):
        sink.on_record(jobs[0], run_job(jobs[0], ctx, sink.on_event, sink.cancel))
        raise ConnectionResetError("connection to the cluster lost")


def test_an_executor_error_is_one_line_and_the_finished_runs_are_written(tmp_path, monkeypatch):
    # the settings name only the built-in executors: this one stands in for "serial"
    monkeypatch.setitem(executors._FACTORIES, "serial", lambda *a: BreaksAfterOneRun())
    plan = plan_for_models(
        [TINY, TINY_DIGITS],
        train_overrides={"epochs": 1},
        bench_overrides={"rounds": 2, "n_pairs": 50, "executor": "serial"},
    )
    out = tmp_path / "r.json"
    with pytest.raises(DigitduelError) as caught:
        run_bench(plan, out, mnist=synthetic_mnist())
    message = str(caught.value)
    assert "\n" not in message and caught.value.code == 1
    assert "ConnectionResetError: connection to the cluster lost" in message
    result = load_results(out)
    assert result.status == "cancelled" and [(r.model, r.round) for r in result.runs] == [(TINY, 0)]
