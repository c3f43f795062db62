"""The course's pair protocol: from a pool of 14x14 digits, draw 2n distinct digits at random,
pair them, and ask whether the first class is <= the second.

Mirrors the EE-559 prologue (`generate_pair_sets`): a random permutation of the pool, its first
2n entries taken as n consecutive pairs; train pairs from the train pool, test pairs from the
test pool; inputs standardised with the *train* pairs' mean and std (one scalar each). All
randomness comes from a `torch.Generator` seeded here, never the global RNG, so a seed names
the same pairs on every machine and in every process.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from digitduel.data.digits import DigitSplit, MnistData
from digitduel.errors import DataError


@dataclass
class PairSet:
    input: torch.Tensor  # float32 [n, 2, 14, 14], standardised
    target: torch.Tensor  # int64 [n], 1 if classes[:, 0] <= classes[:, 1]
    classes: torch.Tensor  # int64 [n, 2]

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def to(self, device: torch.device | str) -> PairSet:
        return PairSet(self.input.to(device), self.target.to(device), self.classes.to(device))


@dataclass
class PairData:
    train: PairSet
    test: PairSet
    mean: float  # of the raw (0..255, pooled) train pair pixels, used for both sets
    std: float

    def to(self, device: torch.device | str) -> PairData:
        """Move both sets once; training then never goes back to the host for data."""
        return PairData(self.train.to(device), self.test.to(device), self.mean, self.std)


def compare_target(classes: torch.Tensor) -> torch.Tensor:
    """1 where the first digit's class is <= the second's (equal classes give 1)."""
    return (classes[..., 0] <= classes[..., 1]).long()


def _draw(split: DigitSplit, n: int, gen: torch.Generator, what: str):
    if n < 1:
        raise DataError(f"need at least one pair, got n={n}")
    if 2 * n > len(split):
        raise DataError(
            f"{n} {what} pairs need {2 * n} distinct digits but the {what} pool has {len(split)}"
        )
    idx = torch.randperm(len(split), generator=gen)[: 2 * n].view(n, 2)
    return split.images[idx], split.labels[idx]  # [n, 2, 14, 14], [n, 2]


def draw_pairs(data: MnistData, n: int = 1000, seed: int = 0) -> PairData:
    """n train pairs and n test pairs, standardised with the train pairs' statistics."""
    gen = torch.Generator().manual_seed(int(seed))
    train_x, train_c = _draw(data.train, n, gen, "train")
    test_x, test_c = _draw(data.test, n, gen, "test")
    mean = float(train_x.mean())
    std = float(train_x.std())
    if not std > 0:
        raise DataError("the train pairs have no pixel variance (blank images?)")
    return PairData(
        train=PairSet(((train_x - mean) / std).contiguous(), compare_target(train_c), train_c),
        test=PairSet(((test_x - mean) / std).contiguous(), compare_target(test_c), test_c),
        mean=mean,
        std=std,
    )


def fold_split(pairs: PairData, fold: int, folds: int) -> PairData:
    """k-fold cross-validation on one draw's *train* pairs: fold `fold` (a contiguous block of
    n // k pairs; the pairs are in random order already) becomes the validation set, the rest
    the training set, re-standardised with the training folds' own mean and std so nothing of
    the validation fold leaks into training. The test pairs are not used: a search never looks
    at the test split. Every fold has the same size (the n - k * (n // k) left-over pairs always
    train), so the rounds of a cross-validation stack into one batched model too."""
    n = len(pairs.train)
    size = n // folds
    if not 0 <= fold < folds or size < 1:
        raise DataError(f"cannot take fold {fold} of {folds} from {n} pairs")
    raw = pairs.train.input * pairs.std + pairs.mean  # undo the draw's standardisation
    held = torch.zeros(n, dtype=torch.bool)
    held[fold * size : (fold + 1) * size] = True
    train_x, val_x = raw[~held], raw[held]
    mean, std = float(train_x.mean()), float(train_x.std())
    classes = pairs.train.classes
    return PairData(
        train=PairSet(
            ((train_x - mean) / std).contiguous(), pairs.train.target[~held], classes[~held]
        ),
        test=PairSet(((val_x - mean) / std).contiguous(), pairs.train.target[held], classes[held]),
        mean=mean,
        std=std,
    )
