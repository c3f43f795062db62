"""benchmarks/plain_convnet.py, the independent yardstick of issue 17's CPU target: it reads
IDX files on its own, trains, prints an accuracy line, and fails with one line on bad data."""

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "plain_convnet.py"


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def fake_mnist(folder: Path, n: int = 40) -> None:
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_trains_on_its_own_idx_reading_and_prints_the_accuracy(tmp_path):
    fake_mnist(tmp_path)
    done = run("--data-dir", str(tmp_path), "--rounds", "2", "--epochs", "1", "--n-pairs", "8")
    assert done.returncode == 0, done.stderr
    assert "round 1:" in done.stdout
    assert "plain loop:" in done.stdout and "% test accuracy" in done.stdout


def test_missing_data_is_one_line_and_exit_1(tmp_path):
    done = run("--data-dir", str(tmp_path / "nowhere"), "--rounds", "1")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: cannot read MNIST")
    assert "Traceback" not in done.stderr
