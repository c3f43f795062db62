"""Downloads from a real HTTP server on 127.0.0.1: checksums, failover, nothing corrupt kept."""

from __future__ import annotations

import shutil

import pytest
from test_data_helpers import DEAD_MIRROR, FILE_NAMES, loopback_server, make_mnist_dir, md5_table

from digitduel.data import download, load_mnist, sources
from digitduel.data.download import download_mnist
from digitduel.errors import DataError


@pytest.fixture
def served(mnist_dir, monkeypatch):
    """The shared MNIST files on a loopback mirror, their MD5s standing in for the official
    ones (the shared train files are a subset, so the published MD5s cannot match)."""
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5_table(mnist_dir))
    with loopback_server(mnist_dir) as (url, requests):
        yield url, requests


def test_download_verifies_and_fills_dest(tmp_path, served, mnist_dir):
    url, requests = served
    dest = tmp_path / "dl"
    paths = download_mnist(dest, mirrors=[url])
    assert [p.name for p in paths] == list(FILE_NAMES)
    assert md5_table(dest) == md5_table(mnist_dir)
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILE_NAMES)  # no temp files left
    assert len(requests) == 4
    # Already there and verified: nothing is fetched again.
    download_mnist(dest, mirrors=[url])
    assert len(requests) == 4


def test_progress_is_reported_not_drawn(tmp_path, served, mnist_dir, capfd):
    """The engine hands each file's bytes to on_progress and prints nothing itself."""
    url, _ = served
    seen: dict[str, list[tuple[int, int | None]]] = {}

    def on_progress(name: str, done: int, total: int | None) -> None:
        seen.setdefault(name, []).append((done, total))

    download_mnist(tmp_path / "dl", mirrors=[url], on_progress=on_progress)
    assert sorted(seen) == sorted(FILE_NAMES)
    for name, calls in seen.items():
        size = (mnist_dir / name).stat().st_size
        assert calls[0][0] == 0 and calls[-1] == (size, size)  # from nothing to the whole file
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert capfd.readouterr().err == ""


def test_dead_first_mirror_then_good_one(tmp_path, served):
    url, requests = served
    notes = []
    download_mnist(tmp_path / "dl", mirrors=[DEAD_MIRROR, url], on_note=notes.append)
    assert len(requests) == 4
    # The dead mirror is tried once, not once per file.
    assert len([n for n in notes if "unreachable" in n]) == 1


def test_corrupt_payload_rejected_and_not_kept(tmp_path, served, mnist_dir):
    good_url, good_requests = served
    bad = tmp_path / "bad"
    shutil.copytree(mnist_dir, bad)
    victim = bad / "train-labels-idx1-ubyte.gz"
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[-12] ^= 0xFF
    victim.write_bytes(bytes(data))

    dest = tmp_path / "dl"
    with loopback_server(bad) as (bad_url, _):
        with pytest.raises(DataError, match="could not download train-labels.*checksum mismatch"):
            download_mnist(dest, mirrors=[bad_url])
        assert not (dest / victim.name).exists()
        assert not [p for p in dest.iterdir() if p.name.endswith(".part")]

        # With a good mirror behind it, the bad copy is skipped and the good one kept.
        notes = []
        download_mnist(dest, mirrors=[bad_url, good_url], on_note=notes.append)
    assert md5_table(dest) == md5_table(mnist_dir)
    assert any("checksum mismatch" in n for n in notes)
    assert good_requests == ["/" + victim.name]


def test_missing_file_on_mirror(tmp_path, monkeypatch):
    src = make_mnist_dir(tmp_path / "src")
    monkeypatch.setattr(download, "OFFICIAL_MD5", md5_table(src))
    (src / "t10k-images-idx3-ubyte.gz").unlink()
    with loopback_server(src) as (url, _):
        with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: .*HTTP 404"):
            download_mnist(tmp_path / "dl", mirrors=[url])


def test_load_mnist_downloads_into_cache_then_uses_it(served, monkeypatch):
    url, requests = served
    monkeypatch.setenv("DIGITDUEL_MIRRORS", url)
    data = load_mnist(offline=False)
    assert (data.source, data.path, data.verified) == ("download", str(sources.cache_dir()), True)
    assert (len(data.train), len(data.test)) == (5000, 10000)
    again = load_mnist(offline=False)
    assert again.source == "cache" and len(requests) == 4


def test_offline_never_downloads(served):
    url, requests = served
    assert load_mnist(offline=True, mirrors=[url], on_note=lambda m: None).source == "embedded"
    assert requests == []


def test_mirror_list_from_env(monkeypatch):
    monkeypatch.setenv("DIGITDUEL_MIRRORS", " http://a.example/x , http://b.example/y/ ")
    assert download.mirrors_from_env() == ["http://a.example/x/", "http://b.example/y/"]
    monkeypatch.delenv("DIGITDUEL_MIRRORS")
    assert download.mirrors_from_env() == list(download.DEFAULT_MIRRORS)
    assert download.mirrors_from_env(["file:///m"]) == ["file:///m/"]
