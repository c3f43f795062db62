"""The loss rule every trainer shares: the reports' sum of weighted digit losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from digitduel.models import ModelOutput
from digitduel.training.objective import compute_loss


def _outputs(batch: int, width: int, seed: int):
    """Random model outputs (comparison of `width` units, digit logits) and their labels."""
    g = torch.Generator().manual_seed(seed)
    compare = torch.randn(batch, width, generator=g)
    digits = torch.randn(batch, 2, 10, generator=g)
    classes = torch.randint(0, 10, (batch, 2), generator=g)
    return compare, digits, classes, (classes[:, 0] <= classes[:, 1]).long()


def test_aux_loss_is_alpha_times_the_sum_of_both_digit_losses():
    compare, digits, classes, target = _outputs(6, 2, seed=0)
    got = compute_loss(ModelOutput(compare, digits), target, classes, "ce", 0.75, 1.0)
    by_hand = (
        F.cross_entropy(compare, target)
        + 0.75 * F.cross_entropy(digits[:, 0], classes[:, 0])
        + 0.75 * F.cross_entropy(digits[:, 1], classes[:, 1])
    )
    torch.testing.assert_close(got, by_hand)


def test_mse_family_and_digit_only_models():
    score, digits, classes, target = _outputs(4, 1, seed=1)
    onehot = F.one_hot(classes, 10).float()
    digit_losses = F.mse_loss(digits[:, 0], onehot[:, 0]) + F.mse_loss(digits[:, 1], onehot[:, 1])
    got = compute_loss(ModelOutput(score, digits), target, classes, "mse", 2.0, 1.0)
    torch.testing.assert_close(got, F.mse_loss(score[:, 0], target.float()) + 2.0 * digit_losses)
    # a digit-only model trains on its digit losses alone, whatever alpha says
    only = compute_loss(ModelOutput(None, digits), target, classes, "mse", 0.0, 1.0)
    torch.testing.assert_close(only, digit_losses)
