"""The loss rule every trainer shares: the reports' sum of weighted digit losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from digitduel.models import ModelOutput
from digitduel.training.objective import compute_loss


def test_aux_loss_is_alpha_times_the_sum_of_both_digit_losses():
    g = torch.Generator().manual_seed(0)
    compare = torch.randn(6, 2, generator=g)
    digits = torch.randn(6, 2, 10, generator=g)
    classes = torch.randint(0, 10, (6, 2), generator=g)
    target = (classes[:, 0] <= classes[:, 1]).long()
    got = compute_loss(ModelOutput(compare, digits), target, classes, "ce", 0.75, 1.0)
    by_hand = (
        F.cross_entropy(compare, target)
        + 0.75 * F.cross_entropy(digits[:, 0], classes[:, 0])
        + 0.75 * F.cross_entropy(digits[:, 1], classes[:, 1])
    )
    torch.testing.assert_close(got, by_hand)


def test_mse_family_and_digit_only_models():
    g = torch.Generator().manual_seed(1)
    score = torch.randn(4, 1, generator=g)
    digits = torch.randn(4, 2, 10, generator=g)
    classes = torch.randint(0, 10, (4, 2), generator=g)
    target = (classes[:, 0] <= classes[:, 1]).long()
    onehot = F.one_hot(classes, 10).float()
    got = compute_loss(ModelOutput(score, digits), target, classes, "mse", 2.0, 1.0)
    by_hand = F.mse_loss(score[:, 0], target.float()) + 2.0 * (
        F.mse_loss(digits[:, 0], onehot[:, 0]) + F.mse_loss(digits[:, 1], onehot[:, 1])
    )
    torch.testing.assert_close(got, by_hand)
    # a digit-only model trains on its digit losses alone, whatever alpha says
    only = compute_loss(ModelOutput(None, digits), target, classes, "mse", 0.0, 1.0)
    digits_only = F.mse_loss(digits[:, 0], onehot[:, 0]) + F.mse_loss(digits[:, 1], onehot[:, 1])
    torch.testing.assert_close(only, digits_only)
