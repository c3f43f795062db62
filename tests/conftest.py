"""Suite-wide set-up: never touch the network, never touch the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch, tmp_path_factory):
    # The suite is offline: only download tests opt back in, with a loopback mirror list.
    monkeypatch.setenv("DIGITDUEL_OFFLINE", "1")
    monkeypatch.setenv("DIGITDUEL_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setenv("DIGITDUEL_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("DIGITDUEL_DATA", raising=False)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST directory beside the repo (CI has it); tests that need it skip without."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/mnist not present")
    return SHARED_MNIST


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "2")
