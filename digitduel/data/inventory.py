"""What a data source holds, told without building tensors: `digitduel data info` counts the
digits from the IDX files with numpy, so it never imports torch (2-3 s of a ~3 s command).

`DescribedData` is the one place the description of a source is written; `MnistData` (the
loaded tensors) and `DataSummary` (the counts) both get `describe()` and `info()` from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitduel.data.idx import read_images, read_labels
from digitduel.errors import DataError


class DescribedData:
    """describe()/info() for anything with train/test (sized), source, path and verified."""

    train: object
    test: object
    source: str
    path: str | None
    verified: bool

    def describe(self) -> str:
        """One line for logs and result files, e.g.
        `dir /data/mnist (5000 train, 10000 test, checksums verified)`."""
        counts = f"{len(self.train)} train, {len(self.test)} test"
        if self.source == "embedded":
            return f"embedded copy ({counts}: the real MNIST test split, 5,000-digit train subset)"
        where = f"{self.source} {self.path}" if self.path else self.source
        check = "checksums verified" if self.verified else "checksums not verified"
        return f"{where} ({counts}, {check})"

    def info(self) -> dict:
        """What `digitduel data info --json` prints."""
        return {
            "source": self.source,
            "path": self.path,
            "train_digits": len(self.train),
            "test_digits": len(self.test),
            "verified": self.verified,
            "description": self.describe(),
        }


def check_split(n_images: int, n_labels: int, what: str) -> None:
    """Images and labels must describe the same, non-empty, set of digits."""
    if n_images != n_labels:
        raise DataError(f"{what}: {n_images} images but {n_labels} labels")
    if n_images == 0:
        raise DataError(f"{what}: no digits")


@dataclass(frozen=True)
class SplitCount:
    classes: tuple[int, ...]  # digits per class 0..9

    def __len__(self) -> int:
        return sum(self.classes)

    def class_counts(self) -> list[int]:
        return list(self.classes)


@dataclass
class DataSummary(DescribedData):
    train: SplitCount
    test: SplitCount
    source: str
    path: str | None
    verified: bool


def count_split(images: Path, labels: Path, what: str) -> SplitCount:
    """Digits per class of one split. The images are parsed too (not just their header), so a
    file that loading would reject is rejected here with the same line."""
    label_array = read_labels(labels)
    check_split(len(read_images(images)), len(label_array), what)
    return SplitCount(tuple(np.bincount(label_array, minlength=10).tolist()))
