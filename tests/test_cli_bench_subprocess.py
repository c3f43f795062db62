"""The bench as a real process: `python -m digitduel`, and `kill -9` then `--resume`."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine_fakes import TINY, TINY_DIGITS

from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.results import load_results

TESTS = Path(__file__).resolve().parent
# The CLI with the test models registered (they live in this folder, not in the package).
CLI_WITH_FAKES = "import test_engine_fakes; from digitduel.cli.main import main; main()"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return env


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc), e.g. the processes executor's workers."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            found |= {kid} | _descendants(kid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0]
    except OSError:
        return False
    return state != "Z"


def _bench_args(out: Path, mnist_dir: Path, epochs: int, executor: str = "serial") -> list[str]:
    return [
        "bench",
        "--model",
        TINY,
        "--model",
        TINY_DIGITS,
        "--rounds",
        "3",
        "--epochs",
        str(epochs),
        "--n-pairs",
        "50",
        "--executor",
        executor,
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(out),
    ]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_runs(jpath: Path, proc: subprocess.Popen) -> None:
    """Until the journal holds its header and at least one finished run."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if jpath.exists() and len(jpath.read_bytes().splitlines()) >= 2:
            return
        time.sleep(0.02)
    assert proc.poll() is None, "the bench finished before it could be stopped"


def test_kill_9_then_resume_ends_with_every_run_exactly_once(tmp_path, mnist_dir):
    out = tmp_path / "r.json"
    jpath = journal_path(out)
    cmd = [sys.executable, "-c", CLI_WITH_FAKES, *_bench_args(out, mnist_dir, epochs=80)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_runs(jpath, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # killed before the final JSON: the journal survives, and the results file written at the
    # bench's start (status "running") holds its plan
    assert load_results(out).status == "running"
    _, before, _ = read_journal(jpath)
    assert 1 <= len(before) < 6

    # the file alone: no model, rounds, epochs or data flag (issue 14)
    resumed = subprocess.run(
        [sys.executable, "-c", CLI_WITH_FAKES, "bench", "--resume", "--out", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(before)} of 6 runs already finished" in resumed.stdout
    keys = [(r.model, r.round) for r in load_results(out).runs]
    assert sorted(keys) == sorted((m, r) for m in (TINY, TINY_DIGITS) for r in range(3))
    _, journal_runs, _ = read_journal(jpath)
    assert len(journal_runs) == 6  # nothing ran twice


@pytest.mark.parametrize(
    "sig, executor",
    [(signal.SIGINT, "serial"), (signal.SIGTERM, "processes")],
    ids=["ctrl-c", "sigterm-processes"],
)
def test_ctrl_c_exits_130_keeping_finished_runs_then_show_reads_them(
    tmp_path, mnist_dir, sig, executor
):
    out = tmp_path / "r.json"
    args = _bench_args(out, mnist_dir, epochs=80, executor=executor)
    cmd = [sys.executable, "-c", CLI_WITH_FAKES, *args]
    proc = subprocess.Popen(
        cmd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As at a terminal: a suite started in the background (`cmd &` in a script) hands its
        # children SIGINT ignored, which the bench honours on purpose (test_faults_signals.py).
        preexec_fn=_default_sigint,
    )
    try:
        _wait_for_runs(journal_path(out), proc)
        workers = _descendants(proc.pid)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if executor == "processes" and Path("/proc").exists():
        assert workers, "the processes executor should have started workers"
        deadline = time.monotonic() + 10
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(map(_alive, workers)), "worker processes outlived the bench"
    assert proc.returncode == 130, stderr
    assert "interrupted: finished runs kept" in stderr and "Traceback" not in stderr
    result = load_results(out)
    assert result.status == "cancelled" and 1 <= len(result.runs) < 6
    # the plain per-run line (not a terminal); workers may finish in either order
    assert re.search(r"\[1/6\] test-tiny-\S+ round 1: ok", stdout)

    shown = subprocess.run(
        [sys.executable, "-m", "digitduel", "show", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and TINY in shown.stdout and "cancelled" in shown.stdout
    if sig == signal.SIGINT:  # the hint's command, exactly as printed, completes the bench
        hint = re.search(r"continue with: digitduel (.+)$", stderr, re.M).group(1)
        resumed = subprocess.run(
            [sys.executable, "-c", CLI_WITH_FAKES, *shlex.split(hint)],
            env=_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert load_results(out).status == "finished" and len(load_results(out).runs) == 6
    bad = subprocess.run(
        [sys.executable, "-m", "digitduel", "show", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        bad.returncode == 1 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    )


def test_tune_as_a_process_cross_validates_in_worker_processes(tmp_path, mnist_dir):
    out = tmp_path / "t.json"
    args = ["tune", TINY, "--grid", "lr=1e-3,1e-2", "--folds", "3", "--epochs", "1"]
    args += ["--n-pairs", "40", "--executor", "processes", "--jobs", "2"]
    args += ["--data-dir", str(mnist_dir), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-c", CLI_WITH_FAKES, *args],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "val %" in proc.stdout and f"best: {TINY} lr=" in proc.stdout
    saved = load_results(out)
    assert saved.environment.executor == "processes" and saved.bench.folds == 3
    assert len(saved.runs) == 6 and len({r.data_seed for r in saved.runs}) == 1
    # each run scored the 13 held-out pairs of its fold (40 // 3), not the 40 test pairs
    assert all(abs(r.test_accuracy * 13 - round(r.test_accuracy * 13)) < 1e-6 for r in saved.runs)
