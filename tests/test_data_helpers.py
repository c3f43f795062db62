"""Shared by the tests/test_data*.py files: tiny synthetic MNIST directories and a real HTTP
server on 127.0.0.1 (the only host the suite may contact). Holds no tests itself."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

import numpy as np

from digitduel.data import download
from digitduel.data.idx import write_idx

FILE_NAMES = tuple(download.FILES.values())


def make_mnist_dir(directory: Path, n_train=60, n_test=40, seed=0, gz=True) -> Path:
    """The four IDX files with random 'digits'; labels cycle through 0..9."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", imgs, gz=gz)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz=gz)
    return directory


def md5_table(directory: Path) -> dict[str, str]:
    return {name: download.file_md5(directory / name) for name in FILE_NAMES}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@contextlib.contextmanager
def loopback_server(directory: Path):
    """(base_url, requests): a real HTTP server for `directory` on a free 127.0.0.1 port."""
    requests: list[str] = []
    handler = type("Handler", (_Quiet,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    finally:
        httpd.shutdown()
        httpd.server_close()


# A port nothing listens on: connection refused at once (the discard port, never served here).
DEAD_MIRROR = "http://127.0.0.1:9/"
