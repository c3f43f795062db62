"""`digitduel data info | download | show`, as a user runs them."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time

from test_data_helpers import DEAD_MIRROR, loopback_server, md5_table
from typer.testing import CliRunner

from digitduel.cli.main import app
from digitduel.data import download, sources

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["data", *args])


def test_info_json_on_shared_mnist(mnist_dir):
    res = _run("info", "--data-dir", str(mnist_dir), "--json")
    assert res.exit_code == 0, res.output
    facts = json.loads(res.stdout)  # only JSON on stdout
    assert facts["source"] == "dir" and facts["path"] == str(mnist_dir)
    assert (facts["train_digits"], facts["test_digits"]) == (5000, 10000)
    assert facts["verified"] is False


def test_info_human_readable(mnist_dir):
    res = _run("info", "--data-dir", str(mnist_dir))
    assert res.exit_code == 0
    assert "source        dir" in res.stdout and "10000" in res.stdout


def test_info_offline_json_reports_embedded_and_notes_on_stderr():
    # No --data-dir, no $DIGITDUEL_DATA, an empty cache (conftest): the embedded copy, and the
    # command's own work (torch is already imported here) within a second: 0.4 s measured on a
    # busy 2-core VM; the bound is generous for CI.
    sources._embedded.clear()
    start = time.perf_counter()
    res = _run("info", "--offline", "--json")
    elapsed = time.perf_counter() - start
    assert res.exit_code == 0, res.output
    facts = json.loads(res.stdout)
    assert facts["source"] == "embedded"
    assert (facts["train_digits"], facts["test_digits"]) == (5000, 10000)
    assert "note: " in res.stderr and "GENUINE MNIST TEST SPLIT" in res.stderr
    assert elapsed < 2.0, f"data info --offline took {elapsed:.2f} s"


def test_info_human_says_the_embedded_copy_tests_on_the_real_test_split():
    res = _run("info", "--offline")
    assert res.exit_code == 0, res.output
    assert "source        embedded" in res.stdout
    assert "the real MNIST test split" in res.stdout and "5,000-digit train subset" in res.stdout


def test_truncated_file_is_one_line_error(tmp_path, mnist_dir):
    d = tmp_path / "m"
    shutil.copytree(mnist_dir, d)
    f = d / "t10k-images-idx3-ubyte.gz"
    f.chmod(0o644)
    f.write_bytes(f.read_bytes()[:50_000])
    res = _run("info", "--data-dir", str(d), "--json")
    assert res.exit_code == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: t10k-images-idx3-ubyte.gz")
    assert "Traceback" not in res.output


def test_show_draws_pairs_with_classes_and_targets(mnist_dir):
    res = _run("show", "--data-dir", str(mnist_dir), "--n", "4", "--seed", "3", "--split", "test")
    assert res.exit_code == 0, res.output
    captions = [line for line in res.stdout.splitlines() if "target" in line]
    assert sum(line.count("target") for line in captions) == 4
    assert "█" in res.stdout and ("▀" in res.stdout or "▄" in res.stdout)
    assert "test pairs, seed 3" in res.stdout
    # Same seed, same picture.
    again = _run("show", "--data-dir", str(mnist_dir), "--n", "4", "--seed", "3", "--split", "test")
    assert again.stdout == res.stdout


def test_show_rejects_unknown_split():
    res = _run("show", "--split", "validation")
    assert res.exit_code == 2


def test_download_with_dead_then_loopback_mirror(tmp_path, mnist_dir, monkeypatch):
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5_table(mnist_dir))
    dest = tmp_path / "dl"
    with loopback_server(mnist_dir) as (url, requests):
        res = _run("download", "--dest", str(dest), "--mirror", DEAD_MIRROR, "--mirror", url)
        assert res.exit_code == 0, res.output
        assert "downloaded 4 file(s)" in res.stdout and "unreachable" in res.stderr
        assert md5_table(dest) == md5_table(mnist_dir)
        res = _run("download", "--dest", str(dest), "--mirror", url)
        assert "already in" in res.stdout and len(requests) == 4


def test_download_failure_is_one_line(tmp_path):
    res = _run("download", "--dest", str(tmp_path / "dl"), "--mirror", DEAD_MIRROR)
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines()[-1].startswith("error: could not download")


def _wall(argv, env) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    return time.perf_counter() - start, proc


# `digitduel data info` run as the console script does, then: was torch ever imported?
_INFO_THEN_TORCH = (
    "import sys\n"
    "from digitduel.cli.main import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print('torch imported:', 'torch' in sys.modules, file=sys.stderr)\n"
)


def test_subprocess_offline_info_is_embedded_and_under_a_second(tmp_path):
    env = os.environ | {"DIGITDUEL_CACHE": str(tmp_path)}  # an empty cache
    env.pop("DIGITDUEL_DATA", None)
    env.pop("DIGITDUEL_OFFLINE", None)  # --offline alone must be enough
    argv = [sys.executable, "-c", _INFO_THEN_TORCH, "data", "info", "--offline", "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    total, proc = _wall(argv, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["source"] == "embedded"
    assert (facts["train_digits"], facts["test_digits"]) == (5000, 10000)
    assert "GENUINE MNIST TEST SPLIT" in proc.stderr and "Traceback" not in proc.stderr
    assert "download failed" not in proc.stderr  # --offline: the network was never tried
    # The strict part: counting digits needs no tensors, and torch's import alone is 2-3 s.
    assert "torch imported: False" in proc.stderr
    # Wall time is about 0.8 s on an idle 2-core VM but reached 4.5 s beside a test run, so
    # the bound is on the process's own CPU time: 0.6-0.9 s, against about 3 s with torch.
    assert cpu < 1.5, f"data info --offline used {cpu:.2f} s of CPU ({total:.2f} s wall)"
    assert total < 10.0, f"data info --offline took {total:.2f} s"  # a hang, a network wait


def test_info_counts_are_those_of_the_loaded_digits(mnist_dir):
    """`data info` counts from the files (no tensors); it must tell what loading gives."""
    for data_dir, offline in ((mnist_dir, False), (None, True)):
        summary = sources.summarize_mnist(data_dir, offline=offline, on_note=lambda _: None)
        loaded = sources.load_mnist(data_dir, offline=offline, on_note=lambda _: None)
        assert summary.info() == loaded.info()
        assert summary.train.class_counts() == loaded.train.class_counts()
        assert summary.test.class_counts() == loaded.test.class_counts()
