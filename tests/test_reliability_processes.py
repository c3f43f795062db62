"""Issue 13 with real processes: two benches on one results file, and a disk that fills up
(a file-size limit, `RLIMIT_FSIZE`, in the bench's own process)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine_fakes import TINY, TINY_DIGITS
from test_reliability import write_digits
from typer.testing import CliRunner

from digitduel.bench.journal import journal_path, read_journal
from digitduel.bench.results import load_results
from digitduel.cli.main import app

TESTS = Path(__file__).resolve().parent
CLI_WITH_FAKES = "import test_engine_fakes; from digitduel.cli.main import main; main()"
ALL_RUNS = sorted((m, r) for m in (TINY, TINY_DIGITS) for r in range(3))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return env


def _args(data: Path, out: Path, epochs: int, *extra: str, rounds: int = 3) -> list[str]:
    return [
        sys.executable, "-c", CLI_WITH_FAKES, "bench", "--model", TINY, "--model", TINY_DIGITS,
        "--rounds", str(rounds), "--epochs", str(epochs), "--n-pairs", "50", "--executor", "serial",
        "--data-dir", str(data), "--out", str(out), *extra,
    ]  # fmt: skip


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=180, **kw)


def _error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"))


def test_two_benches_on_one_file_the_second_is_refused_and_the_first_kept(tmp_path, data):
    out = tmp_path / "r.json"
    # Many short rounds: the first bench is still running however slow the second starts.
    first = subprocess.Popen(
        _args(data, out, 1, rounds=1000),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        jpath = journal_path(out)
        while time.monotonic() < deadline and first.poll() is None:
            if jpath.exists() and len(jpath.read_bytes().splitlines()) >= 2:
                break
            time.sleep(0.05)
        assert first.poll() is None, "the first bench ended before the second could start"
        for extra in ((), ("--force",)):
            second = _run(_args(data, out, 1, *extra, rounds=1000))
            assert second.returncode == 2
            line = _error_line(second)
            assert str(out) in line and f"PID {first.pid}" in line
        journal_before = jpath.read_bytes()
        # The first bench was not disturbed: its journal only grew. Kill it (-9: the kernel
        # drops its lock, the stale lock file blocks nobody) and resume.
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert jpath.read_bytes().startswith(journal_before)
    _, kept, _ = read_journal(jpath)
    # The journal may hold more rounds than now asked for; the plan's three are kept.
    resumed = _run(_args(data, out, 1, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    runs = load_results(out).runs
    assert sorted((r.model, r.round) for r in runs) == ALL_RUNS
    by_key = {(r.model, r.round): r.test_accuracy for r in runs}
    assert all(by_key[(r.model, r.round)] == r.test_accuracy for r in kept if r.round < 3)


def _limit_file_size(limit: int):
    def apply():
        # Ignored SIGXFSZ: a write past the limit fails with EFBIG, as on a full disk,
        # instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_stops_cleanly_and_resume_completes(tmp_path, data):
    # How big the journal's lines are: the same bench without a limit, in this process.
    probe = tmp_path / "probe.json"
    assert CliRunner().invoke(app, _args(data, probe, 1, rounds=1)[3:]).exit_code == 0
    header, *lines = journal_path(probe).read_bytes().splitlines(keepends=True)
    limit = len(header) + int(2.5 * max(map(len, lines)))  # room for two runs, not three

    out = tmp_path / "r.json"
    full = _run(_args(data, out, 1), preexec_fn=_limit_file_size(limit))
    assert full.returncode == 1
    line = _error_line(full)
    assert "journal" in line and "--resume" in line and str(out) in line
    _, kept, _ = read_journal(journal_path(out))
    assert len(kept) == 2  # every run the disk had room for, and no torn line

    resumed = _run(_args(data, out, 1, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming: 2 of 6 runs already finished" in resumed.stdout
    result = load_results(out)
    assert result.status == "finished"
    assert sorted((r.model, r.round) for r in result.runs) == ALL_RUNS
    by_key = {(r.model, r.round): r.test_accuracy for r in result.runs}
    assert all(by_key[(r.model, r.round)] == r.test_accuracy for r in kept)
