"""Augmentations the trainer applies on the device, per batch (swap, crop_flip) or per epoch
(repair). Batch sizes never change, so the batched trainer's fixed shapes stay fixed.

- swap: each pair is mirrored with probability 1/2, its classes swapped and its target
  recomputed from them (a plain `1 - target` would be wrong for equal digits, which stay 1).
- crop_flip: the Banjac et al. set-up, torchvision's RandomCrop(14, padding=4) and
  RandomHorizontalFlip, each digit of a pair on its own. Padding is with black (the batch's
  minimum, i.e. pixel 0 after standardisation), as torchvision does before normalising.
- repair: the epoch's training pairs rebuilt from the same digits in a new random order, each
  target computed from the digits' own classes.

Random numbers come from the caller's generator; they are drawn on the generator's device and
moved to the data's only when those differ, so a generator on the data's device keeps
everything there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from digitduel.data.pairs import PairSet, compare_target

PER_BATCH = ("swap", "crop_flip")
PER_EPOCH = ("repair",)
PAD = 4


def _rand(shape, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _randint(high: int, shape, generator: torch.Generator, device: torch.device):
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


def swap_pairs(x, target, classes, generator):
    """Mirror a random half of the pairs; targets follow the classes."""
    flip = _rand(x.shape[0], generator, x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(1), x)
    classes = torch.where(flip[:, None], classes.flip(1), classes)
    return x, compare_target(classes).to(target.dtype), classes


def crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = PAD) -> torch.Tensor:
    """Random crop with zero (black) padding, then random horizontal flip, per digit."""
    b, c, h, w = x.shape
    background = x.amin()  # black after standardisation; 0 on raw images
    padded = F.pad(x - background, (pad, pad, pad, pad)) + background
    dy = _randint(2 * pad + 1, (b, c), generator, x.device)
    dx = _randint(2 * pad + 1, (b, c), generator, x.device)
    rows = (dy[..., None] + torch.arange(h, device=x.device))[..., :, None]  # [b, c, h, 1]
    cols = (dx[..., None] + torch.arange(w, device=x.device))[..., None, :]  # [b, c, 1, w]
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    out = padded[bi, ci, rows, cols]  # gather: [b, c, h, w]
    mirror = _rand((b, c), generator, x.device) < 0.5
    return torch.where(mirror[..., None, None], out.flip(-1), out)


def augment_batch(x, target, classes, augment, generator):
    """Apply the per-batch augmentations named in `augment` (others, e.g. "repair", are
    per-epoch and ignored here). Returns new tensors; the inputs are not modified."""
    if "swap" in augment:
        x, target, classes = swap_pairs(x, target, classes, generator)
    if "crop_flip" in augment:
        x = crop_flip(x, generator)
    return x, target, classes


def repair_pairs(train: PairSet, generator: torch.Generator) -> PairSet:
    """Fresh pairs from the same training digits: a new random pairing of all 2n digits."""
    n = len(train)
    digits = train.input.reshape(2 * n, *train.input.shape[2:])
    labels = train.classes.reshape(2 * n)
    order = torch.randperm(2 * n, generator=generator, device=generator.device)
    order = order.to(digits.device)
    x = digits[order].view_as(train.input)
    classes = labels[order].view(n, 2)
    return PairSet(x, compare_target(classes).to(train.target.dtype), classes)
