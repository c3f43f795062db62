"""The README's reliability table, checked row by row: every promise it makes is either run
here (the exit code the row names) or kept by a named test elsewhere, whose source must name
that exit code too (when it is not 0). A new row without a check fails this test."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from test_engine_fakes import synthetic_mnist
from test_reliability import bench_args, plan, write_digits
from typer.testing import CliRunner

from digitduel.bench.journal import journal_path
from digitduel.bench.outfile import OutputLock
from digitduel.bench.runner import run_bench
from digitduel.cli.main import app
from digitduel.errors import DigitduelError
from digitduel.training.events import RunEnded

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
runner = CliRunner()
MNIST = synthetic_mnist()


def reliability_rows() -> list[tuple[str, str, str]]:
    """(what happens, what you get, exit) of each row of the README's reliability table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Reliability", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and not set(cells[0]) <= {"-"}:
            rows.append((cells[0], cells[1], cells[2]))
    assert rows and rows[0][0] == "What happens"
    return rows[1:]


def _cli_code(args: list[str]) -> int:
    res = runner.invoke(app, args)
    assert "Traceback" not in res.stderr
    return res.exit_code


def _engine_code(call: Callable[[], object]) -> int:
    try:
        call()
    except DigitduelError as err:
        return err.code
    return 0


def _finishes(tmp, data, monkeypatch):
    return _cli_code(bench_args(data, tmp / "r.json"))


def _second_bench(tmp, data, monkeypatch):
    with OutputLock.acquire(tmp / "r.json"):
        return _cli_code(bench_args(data, tmp / "r.json"))


def _out_exists(tmp, data, monkeypatch):
    assert _cli_code(bench_args(data, tmp / "r.json")) == 0
    return _cli_code(bench_args(data, tmp / "r.json"))


def _journal_gone(tmp, data, monkeypatch):
    assert _cli_code(bench_args(data, tmp / "r.json")) == 0
    journal_path(tmp / "r.json").unlink()
    return _cli_code(bench_args(data, tmp / "r.json", "--resume", rounds=3))


def _damaged_journal(tmp, data, monkeypatch):
    assert _cli_code(bench_args(data, tmp / "r.json")) == 0
    with open(journal_path(tmp / "r.json"), "ab") as fh:
        fh.write(b"\xff\x00[]\n\0\0\0\n")
    return _cli_code(bench_args(data, tmp / "r.json", "--resume", rounds=3))


def _refresh_fails(tmp, data, monkeypatch):
    """The results file's place is taken (a directory) for the middle runs of the bench."""
    import digitduel.bench.runner as runner_module

    monkeypatch.setattr(runner_module, "SNAPSHOT_EVERY_S", 0.0)
    out, ended = tmp / "r.json", []

    def listen(event):
        if isinstance(event, RunEnded):
            ended.append(event)
            if len(ended) == 1:
                out.unlink(missing_ok=True)  # written at the bench's start (issue 14)
                out.mkdir()
            elif len(ended) == 3:
                out.rmdir()

    return _engine_code(lambda: run_bench(plan(), out, on_event=listen, mnist=MNIST))


def _unusable_out(tmp, data, monkeypatch):
    return _cli_code(bench_args(data, Path("/proc/digitduel-x.json")))


def _too_few_digits(tmp, data, monkeypatch):
    return _cli_code(bench_args(write_digits(tmp / "few", 10, 10), tmp / "r.json"))


def _symlink_loop(tmp, data, monkeypatch):
    loop = write_digits(tmp / "loop")
    (loop / "t10k-labels-idx1-ubyte.gz").unlink()
    (loop / "t10k-labels-idx1-ubyte.gz").symlink_to("t10k-labels-idx1-ubyte.gz")
    return _cli_code(bench_args(loop, tmp / "r.json"))


def _bad_setting(tmp, data, monkeypatch):
    return _cli_code(bench_args(data, tmp / "r.json", "--lr", "nan"))


def _executor_mix(tmp, data, monkeypatch):
    out = tmp / "r.json"
    run_bench(plan(rounds=1), out, mnist=MNIST)
    return _engine_code(
        lambda: run_bench(plan(rounds=2, executor="batched"), out, resume=True, mnist=MNIST)
    )


# Each row: a check run here, or "file::test" that keeps the promise elsewhere.
CHECKS: dict[str, Callable | str] = {
    "The bench finishes": _finishes,
    "Ctrl-C, SIGTERM, SIGHUP": "test_cli_bench_subprocess.py::"
    "test_ctrl_c_exits_130_keeping_finished_runs_then_show_reads_them",
    "`kill -9`, a crash, a power cut": "test_cli_bench_subprocess.py::"
    "test_kill_9_then_resume_ends_with_every_run_exactly_once",
    "`kill -9` of a bench on the processes executor": "test_faults.py::"
    "test_kill_9_leaves_no_worker_forkserver_or_tracker_alive",
    "`kill -9` at random points, then `--resume`, repeated": "test_faults.py::"
    "test_kill_9_at_random_points_then_resume_keeps_every_run_once_and_unchanged",
    "A worker process dies": "test_bench_executors.py::"
    "test_processes_events_cross_and_a_dead_worker_is_one_failed_run",
    "A worker process dies while starting": "test_faults.py::"
    "test_a_worker_that_dies_while_starting_is_started_again",
    "No worker process can start, or an executor fails": "test_faults.py::"
    "test_workers_that_never_start_are_one_line_and_the_results_file_is_written",
    "SIGHUP or SIGINT ignored by the caller (`nohup`, `cmd &` in a script)": "test_faults_signals.py::"
    "test_ignored_sighup_and_sigint_do_not_cancel_the_bench",
    "A second bench on the same `--out`": _second_bench,
    "`--out` exists, without `--resume`": _out_exists,
    "`--resume` and the journal is gone": _journal_gone,
    "Damaged journal lines (not JSON, not UTF-8, NUL bytes)": _damaged_journal,
    "The disk fills: the results file cannot be refreshed": _refresh_fails,
    "The disk fills: a finished run cannot be journaled": "test_reliability_processes.py::"
    "test_a_full_disk_stops_cleanly_and_resume_completes",
    "`--out` is a directory, unwritable, or in `/proc`": _unusable_out,
    "Too few distinct digits for the pairs, blank images": _too_few_digits,
    "Missing or corrupt data files, a symlink loop": _symlink_loop,
    "A bad setting, flag, preset or device (`lr = nan`, `epochs = true`, `--device cuda` "
    "without CUDA)": _bad_setting,
    "`--resume` with the other executor family (batched, or serial/processes)": _executor_mix,
    "Resuming a bench of your own models from its file alone (`digitduel resume FILE`)": "test_resume_user_models.py::test_resume_of_a_model_whose_file_is_gone_says_so_in_one_line",
}


def test_every_row_of_the_table_has_a_check():
    rows = [row[0] for row in reliability_rows()]
    assert sorted(rows) == sorted(CHECKS)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"))


@pytest.mark.parametrize("row", reliability_rows(), ids=lambda row: row[0][:40])
def test_the_row_holds(row, tmp_path, digits_dir, monkeypatch):
    what, _, exit_cell = row
    check = CHECKS[what]
    codes = [int(c) for c in re.findall(r"\d+", exit_cell)]
    if isinstance(check, str):
        file, name = check.split("::")
        source = (TESTS / file).read_text(encoding="utf-8")
        assert f"def {name}(" in source
        body = source.split(f"def {name}(", 1)[1].split("\ndef ", 1)[0]
        # A non-zero exit must appear in the test that keeps it (0: the run simply ends).
        assert all(str(code) in body for code in codes if code), (name, codes)
        return
    assert check(tmp_path, digits_dir, monkeypatch) in codes
