"""The loaded digits: two pools (train, test) of 14x14 digits with their classes.

Pooling 28x28 -> 14x14 happens once here, at load, exactly as the course prologue does it
(`avg_pool2d(kernel_size=2)` on the 0..255 values), so drawing pairs every round is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from digitduel.data.inventory import DescribedData, check_split

Source = Literal["dir", "cache", "download", "embedded"]


@dataclass
class DigitSplit:
    images: torch.Tensor  # float32 [N, 14, 14], 2x2 average-pooled, 0..255 scale
    labels: torch.Tensor  # int64 [N], 0..9

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=10).tolist()


@dataclass
class MnistData(DescribedData):
    train: DigitSplit
    test: DigitSplit
    source: Source
    path: str | None
    verified: bool  # every file matched the official MNIST MD5


def pool_digits(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 14, 14] by 2x2 average pooling (0..255 scale)."""
    # np.array copies: parsed IDX bytes are read-only and torch warns about sharing them.
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).to(torch.float32)
    return F.avg_pool2d(x.unsqueeze(1), kernel_size=2).squeeze(1).contiguous()


def make_split(images: np.ndarray, labels: np.ndarray, what: str) -> DigitSplit:
    """Pair an images array with its labels, checking they describe the same digits."""
    check_split(len(images), len(labels), what)
    return DigitSplit(
        images=pool_digits(images),
        labels=torch.from_numpy(np.array(labels, dtype=np.int64)),
    )
