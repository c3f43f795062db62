"""Suite-wide set-up: never touch the network, never touch the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from digitduel.data.embedded import EMBEDDED_DIR

REPO = Path(__file__).resolve().parents[1]
# $DIGITDUEL_TEST_SHARED_MNIST moves (or, pointed at an empty directory, hides) the shared copy,
# to check that the suite still runs where ../shared is absent.
SHARED_MNIST = Path(
    os.environ.get("DIGITDUEL_TEST_SHARED_MNIST", "").strip()
    or REPO.parent / "shared" / "data" / "mnist"
)


@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch, tmp_path_factory):
    # The suite is offline: only download tests opt back in, with a loopback mirror list.
    monkeypatch.setenv("DIGITDUEL_OFFLINE", "1")
    monkeypatch.setenv("DIGITDUEL_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setenv("DIGITDUEL_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("DIGITDUEL_DATA", raising=False)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """A directory with the four MNIST files: the shared copy beside the repo (CI has it), else
    the package's embedded copy, which holds the same four files, so no test has to skip."""
    if (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        return SHARED_MNIST
    return EMBEDDED_DIR


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def make_app(tmp_path, mnist_dir):
    """A TUI app on the test digits, writing its results to `tmp_path / "r.json"`."""
    from digitduel.tui.app import DigitduelApp  # Textual only for the tests that ask

    def make(**kwargs) -> DigitduelApp:
        return DigitduelApp(
            data_dir=str(mnist_dir), out_dir=tmp_path, out_path=tmp_path / "r.json", **kwargs
        )

    return make


@pytest.fixture
def clean_user_models():
    """A registry without user models before and after the test (user model files register
    into the process-wide registry); test modules of user models use it for every test."""
    from digitduel.models.user import forget_user_models

    forget_user_models()
    yield
    forget_user_models()
