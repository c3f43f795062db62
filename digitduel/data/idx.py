"""IDX files (the format MNIST ships in): parse with full validation, and write (for tests).

An IDX file is a 4-byte magic (two zero bytes, a dtype code, the number of dimensions), one
big-endian uint32 per dimension, then the values. MNIST uses dtype 0x08 (unsigned byte), 3
dimensions for images and 1 for labels. Files may be gzipped or not; we look at the bytes, not
the name, so a `.gz` that was unpacked in place (or the reverse) still loads.

Every check names the file and what is wrong in one line (`DataError`), because a truncated
download is the most common way this goes wrong and a numpy reshape error would hide it.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from digitduel.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path: Path) -> bytes:
    """The file's IDX bytes, gunzipped when the content is gzip."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        # EOFError: stream cut short; BadGzipFile/zlib.error: damaged bytes or bad CRC.
        reason = "truncated gzip stream" if isinstance(err, EOFError) else f"corrupt gzip ({err})"
        raise DataError(f"{path.name}: {reason} in {path}") from None


def parse_idx(data: bytes, name: str = "<idx>", *, ndim: int | None = None) -> np.ndarray:
    """Parse IDX bytes into an array, checking the magic, the dimension count and that the
    declared sizes match the payload exactly (shorter: truncated; longer: not an IDX file)."""
    if len(data) < 4:
        raise DataError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{name}: bad magic number 0x{data[:4].hex()} (not an IDX file)")
    dims = data[3]
    if ndim is not None and dims != ndim:
        raise DataError(f"{name}: expected {ndim} dimension(s), header declares {dims}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"{name}: truncated header ({len(data)} of {header} bytes)")
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", count=dims, offset=4))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise DataError(
            f"{name}: truncated: header declares {'x'.join(map(str, shape))} values "
            f"({expected} bytes) but the file has {len(data)}"
        )
    if len(data) > expected:
        raise DataError(
            f"{name}: {len(data) - expected} unexpected bytes after the declared "
            f"{'x'.join(map(str, shape))} values"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape)


def read_images(path: Path) -> np.ndarray:
    """uint8 [N, 28, 28] from an MNIST images file."""
    path = Path(path)
    arr = parse_idx(read_bytes(path), path.name, ndim=3)
    if arr.dtype != np.uint8 or arr.shape[1:] != (28, 28):
        raise DataError(
            f"{path.name}: expected unsigned-byte 28x28 images, found {arr.dtype} "
            f"{'x'.join(map(str, arr.shape[1:]))}"
        )
    return arr


def read_labels(path: Path) -> np.ndarray:
    """uint8 [N] from an MNIST labels file, every label in 0..9."""
    path = Path(path)
    arr = parse_idx(read_bytes(path), path.name, ndim=1)
    if arr.dtype != np.uint8:
        raise DataError(f"{path.name}: expected unsigned-byte labels, found {arr.dtype}")
    if arr.size and int(arr.max()) > 9:
        bad = int(np.argmax(arr > 9))
        raise DataError(f"{path.name}: label {int(arr[bad])} at index {bad} is outside 0..9")
    return arr


def write_idx(path: Path, array: np.ndarray, *, gz: bool | None = None) -> Path:
    """Write an unsigned-byte array as IDX (gzipped when `gz`, default: name ends in .gz)."""
    path = Path(path)
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    payload = header + arr.tobytes()
    if gz if gz is not None else path.suffix == ".gz":
        # mtime=0: the same array always gives the same bytes (stable checksums in tests).
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
