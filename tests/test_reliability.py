"""Issue 13: results that cannot be lost. Each test is a defect the fault-injection pass found
(one writer per file, no silent replace, damaged journals, unusable --out, data that cannot
give the pairs, a full disk, small input mistakes), checked the way a user would meet it."""

from __future__ import annotations

import json
import os
import resource
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from test_engine_fakes import TINY, TINY_DIGITS, synthetic_mnist
from typer.testing import CliRunner

from digitduel.bench.journal import Journal, JournalFull, journal_path, read_journal
from digitduel.bench.outfile import OutputLock, lock_path
from digitduel.bench.plan import plan_for_models
from digitduel.bench.results import load_results
from digitduel.bench.runner import run_bench
from digitduel.cli.main import app
from digitduel.data.idx import write_idx
from digitduel.errors import ConfigError, DataError
from digitduel.training.events import Note, RunEnded, RunStarted

runner = CliRunner()
MNIST = synthetic_mnist()
IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def write_digits(folder: Path, n_train: int = 300, n_test: int = 300, blank=False) -> Path:
    """A data directory of learnable 28x28 fake digits (a template per class plus noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 200, (10, 28, 28))
    arrays = []
    for n in (n_train, n_test):
        labels = rng.integers(0, 10, n)
        images = templates[labels] * 0.6 + rng.integers(0, 100, (n, 28, 28))
        arrays += [np.zeros_like(images) if blank else images, labels]
    for name, array in zip(IDX_NAMES, arrays, strict=True):
        write_idx(folder / name, array.astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"))


def bench_args(data: Path, out: Path, *extra: str, rounds: int = 2) -> list[str]:
    return [
        "bench", "--model", TINY, "--model", TINY_DIGITS, "--epochs", "1",
        "--rounds", str(rounds), "--n-pairs", "50", "--executor", "serial",
        "--data-dir", str(data), "--out", str(out), *extra,
    ]  # fmt: skip


def cli(args: list[str]):
    return runner.invoke(app, args)


def one_line_error(res) -> str:
    """The result's stderr, which must be one `error:` line and no traceback."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def plan(rounds=2, models=(TINY, TINY_DIGITS), **bench):
    return plan_for_models(
        list(models),
        train_overrides={"epochs": 1},
        bench_overrides={"rounds": rounds, "n_pairs": 50, "executor": "serial", **bench},
    )


def bench(p, out, **kw):
    events: list = []
    result = run_bench(p, out, on_event=events.append, mnist=MNIST, **kw)
    return result, events


# -- 1. one writer per results file ---------------------------------------------------------


def test_a_second_bench_on_a_locked_file_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "r.json"
    with OutputLock.acquire(out):  # another open file description: flock refuses it too
        with pytest.raises(ConfigError) as err:
            bench(plan(), out)
    assert err.value.code == 2
    assert str(out) in str(err.value) and f"PID {os.getpid()}" in str(err.value)
    assert not out.exists() and not journal_path(out).exists()
    bench(plan(), out)  # released: the next bench gets the file
    assert not lock_path(out).exists()  # and leaves no lock file behind


# -- 3. a results file is never replaced unasked --------------------------------------------


def test_an_existing_results_file_is_kept_unless_forced(tmp_path, digits_dir):
    out = tmp_path / "r.json"
    assert cli(bench_args(digits_dir, out)).exit_code == 0
    before = out.read_bytes()
    res = cli(bench_args(digits_dir, out))
    assert res.exit_code == 2 and "--force" in one_line_error(res) and str(out) in res.stderr
    assert out.read_bytes() == before
    res = cli(bench_args(digits_dir, out, "--force", "--seed", "7"))
    assert res.exit_code == 0, res.output
    assert load_results(out).bench.seed == 7


def test_resume_without_a_journal_rebuilds_it_from_the_results_file(tmp_path, digits_dir):
    out = tmp_path / "r.json"
    assert cli(bench_args(digits_dir, out)).exit_code == 0
    first = {(r.model, r.round): r.test_accuracy for r in load_results(out).runs}
    journal_path(out).unlink()
    res = cli(bench_args(digits_dir, out, "--resume", rounds=3))
    assert res.exit_code == 0, res.output
    assert "rebuilt from the 4 runs" in res.stdout
    runs = load_results(out).runs
    assert sorted((r.model, r.round) for r in runs) == sorted(
        (m, r) for m in (TINY, TINY_DIGITS) for r in range(3)
    )
    assert {(r.model, r.round): r.test_accuracy for r in runs if r.round < 2} == first
    assert len(read_journal(journal_path(out))[1]) == 6  # the rebuilt 4 and the new 2
    # Other settings and no journal: refused by name, the file untouched.
    before = out.read_bytes()
    journal_path(out).unlink()
    res = cli(bench_args(digits_dir, out, "--resume", "--seed", "3"))
    assert res.exit_code == 2 and str(out) in one_line_error(res) and "seed" in res.stderr
    assert out.read_bytes() == before


# -- 4. a full disk -------------------------------------------------------------------------


def test_a_failed_refresh_warns_and_training_goes_on(tmp_path, monkeypatch):
    """The results file cannot be replaced mid-bench (a directory took its place, a real
    EISDIR): each refresh fails, one warning, every run still trains and is journaled; the
    final write fails as one error saying how to go on, and --resume finishes the file."""
    import digitduel.bench.runner as runner_module

    monkeypatch.setattr(runner_module, "SNAPSHOT_EVERY_S", 0.0)  # refresh after every run
    out = tmp_path / "r.json"
    events: list = []

    def listen(event):
        events.append(event)
        if isinstance(event, RunEnded) and not out.is_dir():
            out.unlink(missing_ok=True)  # written at the bench's start (issue 14)
            out.mkdir()

    with pytest.raises(JournalFull) as err:
        run_bench(plan(rounds=2), out, on_event=listen, mnist=MNIST)
    assert err.value.code == 1 and "--resume" in str(err.value)
    warnings = [e for e in events if isinstance(e, Note) and "cannot refresh" in e.message]
    assert len(warnings) == 1 and warnings[0].level == "warning"
    assert len([e for e in events if isinstance(e, RunEnded)]) == 4
    assert len(read_journal(journal_path(out))[1]) == 4
    out.rmdir()
    result, events = bench(plan(rounds=2), out, resume=True)
    assert result.status == "finished" and len(result.runs) == 4
    assert not [e for e in events if isinstance(e, RunStarted)]  # nothing trained again


def test_no_room_for_even_the_journal_header_leaves_no_journal_behind(tmp_path):
    """A disk already full at the start: one error, and no empty journal that a rerun
    would have to be forced past. (A file-size limit in this process, for a moment.)"""
    jpath = tmp_path / "r.journal.jsonl"
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
    try:
        with pytest.raises(JournalFull) as err:
            Journal.start(jpath, plan())
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert err.value.code == 1 and str(jpath) in str(err.value)
    assert not jpath.exists()


# -- 5. damaged journal lines ---------------------------------------------------------------


def test_damaged_journal_lines_are_skipped_and_every_valid_run_kept(tmp_path):
    out = tmp_path / "r.json"
    bench(plan(rounds=3), out)
    jpath = journal_path(out)
    header, *runs = jpath.read_bytes().splitlines(keepends=True)
    damaged = [b"[1, 2]\n", b"\xff\xfe not utf-8\n", b"\0" * 300 + b"\n", b'{"kind": "run"}\n']
    # The bad lines in the middle, a NUL hole before a valid run, and a torn tail.
    body = runs[:2] + damaged + [b"\0" * 64 + runs[2]] + runs[3:] + [runs[0][:40]]
    jpath.write_bytes(header + b"".join(body))
    os.remove(out)
    result, events = bench(plan(rounds=3), out, resume=True)
    notes = [e.message for e in events if isinstance(e, Note) and e.level == "warning"]
    assert len(notes) == 1 and "skipped 4 damaged line(s)" in notes[0]
    assert not [e for e in events if isinstance(e, RunStarted)]  # every valid run was kept
    assert result.status == "finished" and len(result.runs) == 6


def test_resume_through_the_cli_reads_a_damaged_journal_without_a_traceback(tmp_path, digits_dir):
    out = tmp_path / "r.json"
    assert cli(bench_args(digits_dir, out)).exit_code == 0
    jpath = journal_path(out)
    header, *runs = jpath.read_bytes().splitlines(keepends=True)
    jpath.write_bytes(header + b"\x00\x00\xc3\x28\n" + b"".join(runs) + b'"text"\n')
    res = cli(bench_args(digits_dir, out, "--resume", rounds=3))
    assert res.exit_code == 0, res.output
    assert "skipped 2 damaged line(s)" in res.stdout
    assert "resuming: 4 of 6 runs already finished" in res.stdout


# -- 7. the output location, before training -------------------------------------------------


@pytest.mark.parametrize("where", ["directory", "proc", "under-a-file"])
def test_an_unusable_out_is_one_line_before_training(tmp_path, digits_dir, where):
    (tmp_path / "file.txt").write_text("x")
    out = {
        "directory": tmp_path,
        "proc": Path("/proc/digitduel-x.json"),
        "under-a-file": tmp_path / "file.txt" / "r.json",
    }[where]
    res = cli(bench_args(digits_dir, out))
    assert res.exit_code == 2
    assert str(out) in one_line_error(res)
    assert not list(tmp_path.glob("*.journal.jsonl"))  # nothing trained


# -- 8. data that cannot give the pairs ------------------------------------------------------


def test_too_few_digits_for_the_pairs_is_refused_before_any_run(tmp_path):
    out = tmp_path / "r.json"
    events: list = []
    with pytest.raises(DataError) as err:
        run_bench(plan(n_pairs=300), out, on_event=events.append, mnist=MNIST)
    assert "300 train pairs need 600 distinct digits" in str(err.value)
    assert err.value.code == 1 and not events
    assert not out.exists() and not journal_path(out).exists() and not lock_path(out).exists()


@pytest.mark.parametrize("case", ["ten-digits", "blank"])
def test_data_problems_exit_1_before_training(tmp_path, case):
    data = write_digits(tmp_path / "d", 10, 10) if case == "ten-digits" else None
    data = data or write_digits(tmp_path / "d", blank=True)
    out = tmp_path / "r.json"
    res = cli(bench_args(data, out))
    assert res.exit_code == 1
    assert ("distinct digits" if case == "ten-digits" else "blank") in one_line_error(res)
    assert not out.exists() and not journal_path(out).exists()


# -- 9 and 11. input mistakes are one line with the documented exit code ----------------------


def test_a_preset_with_non_utf8_bytes_is_one_line(tmp_path, digits_dir):
    preset = tmp_path / "p.toml"
    preset.write_bytes(b'name = "caf\xe9"\n[[contestants]]\nmodel = "x"\n')
    res = cli(["bench", "--preset", str(preset), "--data-dir", str(digits_dir)])
    assert res.exit_code == 2
    assert "not UTF-8" in one_line_error(res) and "line 1" in res.stderr


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--lr", "nan"], "lr: Input should be a finite number"),
        (["--set", "eval_every=true"], "eval_every: expected a number or a name, not true"),
        (["--set", "folds=2.5"], "folds: Input should be a valid integer"),
    ],
)
def test_settings_mistakes_say_what_is_wrong(tmp_path, digits_dir, extra, says):
    res = cli(bench_args(digits_dir, tmp_path / "r.json", *extra))
    assert res.exit_code == 2 and says in one_line_error(res)


def test_a_preset_with_epochs_true_is_rejected(tmp_path, digits_dir):
    preset = tmp_path / "p.toml"
    preset.write_text(f'name = "p"\n[settings]\nepochs = true\n[[contestants]]\nmodel = "{TINY}"\n')
    res = cli(["bench", "--preset", str(preset), "--data-dir", str(digits_dir)])
    assert res.exit_code == 2 and "epochs: expected a number" in one_line_error(res)


def test_a_string_schema_version_is_named_as_such(tmp_path, digits_dir):
    out = tmp_path / "r.json"
    assert cli(bench_args(digits_dir, out)).exit_code == 0
    doc = json.loads(out.read_text())
    out.write_text(json.dumps({**doc, "schema_version": "1"}))
    res = cli(["show", str(out)])
    assert res.exit_code == 1
    assert 'schema_version is "1" (str)' in one_line_error(res)


def test_a_symlink_loop_in_the_data_dir_is_named(tmp_path):
    data = write_digits(tmp_path / "d")
    (data / IDX_NAMES[0]).unlink()
    os.symlink(IDX_NAMES[0], data / IDX_NAMES[0])  # points at itself
    res = cli(bench_args(data, tmp_path / "r.json"))
    assert res.exit_code == 1 and "symbolic link loop" in one_line_error(res)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_a_missing_gpu_is_a_usage_error(tmp_path, digits_dir, device):
    available = torch.cuda.is_available() if device == "cuda" else torch.backends.mps.is_available()
    if available:
        pytest.skip(f"this machine has {device}")
    res = cli(bench_args(digits_dir, tmp_path / "r.json", "--device", device))
    assert res.exit_code == 2 and device in one_line_error(res)


def test_resume_refuses_to_mix_executor_families_unless_asked(tmp_path):
    out = tmp_path / "r.json"
    first, _ = bench(plan(rounds=1), out)
    assert {r.executor for r in first.runs} == {"serial"}
    with pytest.raises(ConfigError) as err:
        bench(plan(rounds=2, executor="batched"), out, resume=True)
    assert err.value.code == 2 and "serial" in str(err.value) and "batched" in str(err.value)
    # processes and serial are one family (the same code, seeds and thread count)
    mixed, _ = bench(
        plan(rounds=2, executor="batched"), out, resume=True, allow_mixed_executors=True
    )
    assert {(r.round, r.executor) for r in mixed.runs} == {(0, "serial"), (1, "batched")}
