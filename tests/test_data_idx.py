"""IDX parsing: round trip, and every kind of damage gives a one-line error naming the file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from test_data_helpers import make_mnist_dir

from digitduel.data.idx import parse_idx, read_images, read_labels, write_idx
from digitduel.data.sources import load_dir
from digitduel.errors import DataError


def _images(n=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_round_trip_gzipped_or_not(tmp_path, name):
    imgs = _images()
    path = write_idx(tmp_path / name, imgs)
    assert path.read_bytes().startswith(b"\x1f\x8b") == name.endswith(".gz")
    np.testing.assert_array_equal(read_images(path), imgs)
    labels = np.arange(10, dtype=np.uint8)
    np.testing.assert_array_equal(read_labels(write_idx(tmp_path / "l.gz", labels)), labels)


def test_gzip_detected_by_content_not_name(tmp_path):
    # A gzipped file renamed without .gz (or unpacked in place) still loads.
    imgs = _images()
    path = tmp_path / "imgs"
    write_idx(path, imgs, gz=True)
    np.testing.assert_array_equal(read_images(path), imgs)


def _one_line(err: pytest.ExceptionInfo, *words: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_bad_magic(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataError) as err:
        read_images(path)
    _one_line(err, "x-idx3-ubyte", "magic")


def test_truncated_payload(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", _images())
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError) as err:
        read_images(path)
    _one_line(err, "x-idx3-ubyte", "truncated", "12x28x28")


def test_extra_bytes(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte", _images())
    path.write_bytes(path.read_bytes() + b"\0" * 7)
    with pytest.raises(DataError) as err:
        read_images(path)
    _one_line(err, "7 unexpected bytes")


def test_truncated_header():
    with pytest.raises(DataError) as err:
        parse_idx(b"\0\0\x08\x03\0\0", "h.idx")
    _one_line(err, "h.idx", "header")


def test_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", _images(200))
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError) as err:
        read_images(path)
    _one_line(err, "x-idx3-ubyte.gz", "truncated gzip")


def test_corrupt_gzip_bytes(tmp_path):
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", _images(200))
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        read_images(path)
    _one_line(err, "x-idx3-ubyte.gz", "corrupt gzip")


def test_label_out_of_range(tmp_path):
    path = write_idx(tmp_path / "l-idx1-ubyte", np.array([1, 2, 12, 3], np.uint8))
    with pytest.raises(DataError) as err:
        read_labels(path)
    _one_line(err, "l-idx1-ubyte", "label 12 at index 2")


def test_wrong_dimensions(tmp_path):
    labels_as_images = write_idx(tmp_path / "l-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataError) as err:
        read_images(labels_as_images)
    _one_line(err, "expected 3 dimension(s)")
    small = write_idx(tmp_path / "s-idx3-ubyte", np.zeros((5, 14, 14), np.uint8))
    with pytest.raises(DataError) as err:
        read_images(small)
    _one_line(err, "28x28", "14x14")


def test_image_and_label_counts_must_agree(tmp_path):
    d = make_mnist_dir(tmp_path / "m", n_train=40, n_test=20)
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DataError) as err:
        load_dir(d)
    _one_line(err, "t10k-images-idx3-ubyte.gz", "20 images but 19 labels")


def test_gzip_stream_is_plain_gzip(tmp_path):
    # Files we write are what `gzip` writes: other tools (and torchvision) can read them.
    path = write_idx(tmp_path / "l-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    assert gzip.decompress(path.read_bytes())[:4] == b"\0\0\x08\x01"
