"""The bench as a real process: `python -m digitduel`, and `kill -9` then `--resume`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _bench_args(out: Path, mnist_dir: Path, epochs: int) -> list[str]:
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
        "serial",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(out),
    ]


def test_kill_9_then_resume_ends_with_every_run_exactly_once(tmp_path, mnist_dir):
    out = tmp_path / "r.json"
    jpath = journal_path(out)
    cmd = [sys.executable, "-c", CLI_WITH_FAKES, *_bench_args(out, mnist_dir, epochs=150)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if jpath.exists() and len(jpath.read_bytes().splitlines()) >= 2:  # header + a run
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the bench finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # killed before the final JSON: only the journal survives
    _, before, _ = read_journal(jpath)
    assert 1 <= len(before) < 6

    resumed = subprocess.run(
        [
            sys.executable,
            "-c",
            CLI_WITH_FAKES,
            *_bench_args(out, mnist_dir, epochs=150),
            "--resume",
        ],
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


def test_python_dash_m_digitduel_bench_json_and_show(tmp_path, mnist_dir):
    out = tmp_path / "r.json"
    run = subprocess.run(
        [sys.executable, "-c", CLI_WITH_FAKES, *_bench_args(out, mnist_dir, epochs=1), "--json"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "finished"
    shown = subprocess.run(
        [sys.executable, "-m", "digitduel", "show", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and TINY in shown.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "digitduel", "show", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        bad.returncode == 1 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    )
