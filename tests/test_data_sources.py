"""Where the digits come from: a named directory, the cache, a download, the embedded copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from test_data_helpers import DEAD_MIRROR, make_mnist_dir, md5_table

from digitduel.data import download, embedded, load_mnist, sources
from digitduel.data.idx import write_idx
from digitduel.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def test_shared_mnist_dir(mnist_dir):
    data = load_mnist(mnist_dir)
    assert (data.source, data.path) == ("dir", str(mnist_dir))
    assert (len(data.train), len(data.test)) == (5000, 10000)
    # The shared train files are a subset, so they are not the published MNIST.
    assert data.verified is False
    assert data.train.images.shape == (5000, 14, 14)
    assert data.train.images.dtype == torch.float32 and data.train.labels.dtype == torch.int64
    assert 0 <= float(data.test.images.min()) and float(data.test.images.max()) <= 255
    assert data.test.class_counts()[1] == 1135  # MNIST's test split has 1135 ones
    assert "5000 train, 10000 test" in data.describe()


def test_pooling_is_2x2_average(tmp_path):
    d = make_mnist_dir(tmp_path / "m", n_train=20, n_test=20)
    from digitduel.data.idx import read_images

    raw = torch.from_numpy(read_images(d / "train-images-idx3-ubyte.gz").copy()).float()
    data = load_mnist(d)
    expected = raw.view(20, 14, 2, 14, 2).mean(dim=(2, 4))
    torch.testing.assert_close(data.train.images, expected)


def test_env_var_and_unpacked_torchvision_layout(tmp_path, monkeypatch):
    make_mnist_dir(tmp_path / "MNIST" / "raw", n_train=30, n_test=20, gz=False)
    monkeypatch.setenv("DIGITDUEL_DATA", str(tmp_path))
    data = load_mnist()
    assert data.source == "dir" and data.path == str(tmp_path / "MNIST" / "raw")
    assert (len(data.train), len(data.test)) == (30, 20)


def test_verified_only_when_checksums_match(tmp_path, monkeypatch):
    d = make_mnist_dir(tmp_path / "m")
    assert load_mnist(d).verified is False
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5_table(d))
    assert load_mnist(d).verified is True


def test_named_dir_with_a_missing_file_never_falls_back(tmp_path):
    d = make_mnist_dir(tmp_path / "m")
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte.gz"):
        load_mnist(d)
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")


def test_truncated_test_images_named(tmp_path, mnist_dir):
    d = tmp_path / "m"
    shutil.copytree(mnist_dir, d)
    f = d / "t10k-images-idx3-ubyte.gz"
    f.chmod(0o644)
    f.write_bytes(f.read_bytes()[:100_000])
    with pytest.raises(DataError, match=r"^t10k-images-idx3-ubyte.gz: truncated gzip"):
        load_mnist(d)


def test_parsed_once_per_process(tmp_path, monkeypatch):
    d = make_mnist_dir(tmp_path / "m")
    first = load_mnist(d)
    monkeypatch.setattr(sources, "read_images", lambda p: pytest.fail("parsed again"))
    again = load_mnist(d)
    assert again.train.images is first.train.images
    # A changed file is parsed again.
    write_idx(d / "train-labels-idx1-ubyte.gz", (torch.arange(60) % 3).numpy())
    monkeypatch.undo()
    assert load_mnist(d).train.class_counts()[:4] == [20, 20, 20, 0]


def test_embedded_when_offline_without_data(monkeypatch):
    notes = []
    start = time.perf_counter()
    data = load_mnist(on_note=notes.append)
    assert time.perf_counter() - start < 10
    assert data.source == "embedded" and data.verified is False
    assert data.path == str(embedded.EMBEDDED_DIR)
    assert (len(data.train), len(data.test)) == (5000, 10000)
    assert data.train.class_counts() == [500] * 10
    assert data.test.class_counts()[1] == 1135  # the real test split: 1135 ones
    assert len(notes) == 1 and "digitduel data download" in notes[0]
    assert "GENUINE MNIST TEST SPLIT (10,000 digits)" in notes[0] and "5,000" in notes[0]
    assert "real MNIST test split" in data.describe()


def test_embedded_test_split_is_the_published_one():
    shipped = md5_table(embedded.EMBEDDED_DIR)
    assert shipped == embedded.EMBEDDED_MD5
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert shipped[name] == download.OFFICIAL_MD5[name]


@pytest.mark.parametrize(
    ("damage", "message"),
    [("truncate", r"embedded t10k-images-idx3-ubyte.gz is damaged"), ("remove", "lacks")],
)
def test_a_damaged_embedded_copy_is_one_clear_error(tmp_path, damage, message):
    d = shutil.copytree(embedded.EMBEDDED_DIR, tmp_path / "mnist")
    f = d / "t10k-images-idx3-ubyte.gz"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-10])
    else:
        f.unlink()
    with pytest.raises(DataError, match=message):
        embedded.load_embedded(d)
    assert embedded.load_embedded(embedded.EMBEDDED_DIR).source == "embedded"


def test_data_tests_run_on_the_embedded_copy_when_shared_is_absent(tmp_path):
    # Hide ../shared the way a fresh checkout lacks it: the fixture must serve the embedded
    # copy instead of skipping.
    env = os.environ | {"DIGITDUEL_TEST_SHARED_MNIST": str(tmp_path / "no-shared")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/test_data_sources.py::test_shared_mnist_dir",
            "tests/test_data_sources.py::test_truncated_test_images_named",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout and "skipped" not in proc.stdout


def test_embedded_warns_once_per_process_without_callback(monkeypatch):
    monkeypatch.setattr(sources, "_warned_embedded", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_mnist()
        load_mnist()
    assert [str(w.message)[:16] for w in caught] == ["no MNIST files a"]


def test_unreachable_mirrors_fall_back_to_embedded_fast():
    notes = []
    start = time.perf_counter()
    data = load_mnist(offline=False, mirrors=[DEAD_MIRROR], on_note=notes.append)
    assert time.perf_counter() - start < 10
    assert data.source == "embedded"
    assert "download failed" in notes[0] and "unreachable" in notes[0]


def test_cache_used_and_a_damaged_cache_file_ignored(tmp_path, monkeypatch):
    cache = sources.cache_dir()
    make_mnist_dir(cache, n_train=50, n_test=30)
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5_table(cache))
    data = load_mnist()
    assert (data.source, data.path, data.verified) == ("cache", str(cache), True)
    assert len(data.train) == 50
    # Same size, different bytes: only the checksum can tell; it must not be used.
    f = cache / "train-labels-idx1-ubyte.gz"
    good = md5_table(cache)[f.name]
    write_idx(f, (torch.arange(50) % 2).numpy())
    assert download.file_md5(f) != good
    notes = []
    assert load_mnist(on_note=notes.append).source == "embedded"
    assert any("checksum mismatch" in n and f.name in n for n in notes)
