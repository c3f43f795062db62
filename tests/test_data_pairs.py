"""The pair protocol and the augmentations, on synthetic pools whose digits carry their id."""

from __future__ import annotations

import pytest
import torch

from digitduel.data import (
    DigitSplit,
    MnistData,
    PairSet,
    augment_batch,
    draw_pairs,
    load_mnist,
    repair_pairs,
)
from digitduel.errors import DataError


def _pool(ids: range, seed: int) -> DigitSplit:
    """Digit i is an image whose pixel (0, 0) holds i (the rest is noise); class = random."""
    g = torch.Generator().manual_seed(seed)
    n = len(ids)
    images = torch.rand(n, 14, 14, generator=g) * 255
    images[:, 0, 0] = torch.tensor(list(ids), dtype=torch.float32)
    return DigitSplit(images, torch.randint(0, 10, (n,), generator=g))


def _data(n_train=300, n_test=200, test_seed=2) -> MnistData:
    return MnistData(
        _pool(range(n_train), 1),
        _pool(range(10_000, 10_000 + n_test), test_seed),
        "dir",
        None,
        False,
    )


def _ids(pairs: PairSet, mean: float, std: float) -> torch.Tensor:
    return (pairs.input[:, :, 0, 0] * std + mean).round().long()  # [n, 2]


def test_targets_classes_and_distinct_digits_from_own_pools():
    data = _data()
    pairs = draw_pairs(data, n=100, seed=3)
    for split, pool, lo, hi in (
        (pairs.train, data.train, 0, 300),
        (pairs.test, data.test, 10_000, 10_200),
    ):
        assert split.input.shape == (100, 2, 14, 14) and split.input.dtype == torch.float32
        assert split.target.dtype == torch.int64 and split.classes.shape == (100, 2)
        ids = _ids(split, pairs.mean, pairs.std)
        assert ids.min() >= lo and ids.max() < hi  # train from train, test from test
        assert ids.unique().numel() == 200  # 2n distinct digits
        assert torch.equal(split.classes, pool.labels[ids - lo])
        assert torch.equal(split.target, (split.classes[:, 0] <= split.classes[:, 1]).long())


def test_equal_classes_give_target_one():
    pairs = draw_pairs(_data(), n=100, seed=0).train
    same = pairs.classes[:, 0] == pairs.classes[:, 1]
    assert same.any() and bool((pairs.target[same] == 1).all())


def test_same_seed_same_pairs_other_seed_other_pairs():
    data = _data()
    a, b, c = draw_pairs(data, 50, seed=7), draw_pairs(data, 50, seed=7), draw_pairs(data, 50, 8)
    assert torch.equal(a.train.input, b.train.input) and torch.equal(a.test.input, b.test.input)
    assert not torch.equal(a.train.classes, c.train.classes)
    # No global RNG: reseeding or consuming torch's default generator changes nothing.
    torch.manual_seed(123)
    torch.rand(10)
    assert torch.equal(draw_pairs(data, 50, seed=7).train.input, a.train.input)


def test_standardised_with_train_statistics_only():
    pairs = draw_pairs(_data(test_seed=2), n=100, seed=0)
    raw_train = pairs.train.input * pairs.std + pairs.mean
    assert abs(float(pairs.train.input.mean())) < 1e-4
    assert abs(float(pairs.train.input.std()) - 1) < 1e-4
    assert pairs.mean == pytest.approx(float(raw_train.mean()), rel=1e-5)
    # A different test pool changes neither the statistics nor the train set.
    other = draw_pairs(_data(test_seed=99), n=100, seed=0)
    assert (other.mean, other.std) == (pairs.mean, pairs.std)
    assert torch.equal(other.train.input, pairs.train.input)
    assert not torch.equal(other.test.input, pairs.test.input)


def test_too_many_pairs_for_the_pool_is_a_clear_error():
    with pytest.raises(DataError, match="101 test pairs need 202 distinct digits"):
        draw_pairs(_data(n_test=200), n=101)


def test_to_device_moves_every_tensor():
    pairs = draw_pairs(_data(), n=10).to("meta")
    for t in (pairs.train.input, pairs.train.target, pairs.test.classes):
        assert t.device.type == "meta"


def test_real_digits_default_protocol(mnist_dir):
    pairs = draw_pairs(load_mnist(mnist_dir), seed=0)
    assert (len(pairs.train), len(pairs.test)) == (1000, 1000)
    assert 0.4 < float(pairs.test.target.float().mean()) < 0.7  # P(c1 <= c2) = 0.55


# -- augmentations --------------------------------------------------------------------------


def _batch(n=64):
    pairs = draw_pairs(_data(), n=n, seed=1)
    return pairs, pairs.train.input.clone(), pairs.train.target.clone(), pairs.train.classes


def test_swap_mirrors_pairs_and_recomputes_targets():
    _, x, t, c = _batch(100)
    x0 = x.clone()
    g = torch.Generator().manual_seed(0)
    x2, t2, c2 = augment_batch(x, t, c, ["swap"], g)
    assert torch.equal(x, x0)  # inputs untouched
    swapped = (c2 != c).any(1) | (x2 != x).flatten(1).any(1)
    assert 25 < int(swapped.sum()) < 75  # about half
    assert torch.equal(x2[swapped], x[swapped].flip(1))
    assert torch.equal(c2[swapped], c[swapped].flip(1))
    assert torch.equal(t2, (c2[:, 0] <= c2[:, 1]).long())
    same = c[:, 0] == c[:, 1]
    assert bool((t2[same] == 1).all())  # equal digits stay 1, whichever way round
    g = torch.Generator().manual_seed(0)
    assert torch.equal(augment_batch(x, t, c, ["swap"], g)[0], x2)  # reproducible


def test_crop_flip_is_a_padded_shift_and_mirror_per_digit():
    _, x, t, c = _batch(8)
    g = torch.Generator().manual_seed(0)
    out, t2, c2 = augment_batch(x, t, c, ["crop_flip", "repair"], g)
    assert out.shape == x.shape and torch.equal(t2, t) and torch.equal(c2, c)
    black = x.amin()
    padded = torch.nn.functional.pad(x - black, (4, 4, 4, 4)) + black
    kinds = set()
    for b in range(8):
        for ch in range(2):
            views = set()
            for dy in range(9):
                for dx in range(9):
                    crop = padded[b, ch, dy : dy + 14, dx : dx + 14]
                    for flip, view in ((False, crop), (True, crop.flip(-1))):
                        if torch.equal(out[b, ch], view):
                            views.add((dy, dx, flip))
            assert views, "output digit is not a crop/flip of the input"
            kinds |= views
    assert len(kinds) > 4  # digits get different crops and flips


def test_repair_keeps_the_digits_and_repairs_them():
    pairs, *_ = _batch(100)
    train = pairs.train
    g = torch.Generator().manual_seed(0)
    new = repair_pairs(train, g)
    ids_old = _ids(train, pairs.mean, pairs.std)
    ids_new = _ids(new, pairs.mean, pairs.std)
    assert torch.equal(ids_old.flatten().sort().values, ids_new.flatten().sort().values)
    assert not torch.equal(ids_old, ids_new)
    assert torch.equal(new.target, (new.classes[:, 0] <= new.classes[:, 1]).long())
    lookup = dict(zip(ids_old.flatten().tolist(), train.classes.flatten().tolist(), strict=True))
    assert new.classes.flatten().tolist() == [lookup[i] for i in ids_new.flatten().tolist()]
