"""Small building blocks shared by several reports' models."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "leakyrelu": nn.LeakyReLU}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}") from None


def split_digits(x: torch.Tensor) -> torch.Tensor:
    """[B, 2, 14, 14] -> [2B, 1, 14, 14]: both digits of every pair as one batch, so a shared
    branch runs once (faster than two calls, and weight sharing stays exact)."""
    b = x.shape[0]
    return x.reshape(b * 2, 1, *x.shape[2:])


def join_digits(d: torch.Tensor, batch: int) -> torch.Tensor:
    """[2B, K] -> [B, 2, K]: back from the digit batch to pairs."""
    return d.reshape(batch, 2, -1)


def two_branches(first: nn.Module, second: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run digit 1 through `first` and digit 2 through `second` -> [B, 2, K].
    With `first is second` this is weight sharing; with two modules, none.

    A shared branch without BatchNorm runs once on the 2B digits (faster, and identical).
    One with BatchNorm is called once per digit, as the reports' code does: in training,
    each call normalises with its own batch's statistics and updates the running ones, which
    one call on 2B digits would not reproduce (sgd-ws-aux: +0.3 points, closer to its
    report, in a paired comparison over 6 rounds)."""
    if first is second and not has_batchnorm(first):
        return join_digits(first(split_digits(x)), x.shape[0])
    return torch.stack([first(x[:, 0:1]), second(x[:, 1:2])], dim=1)


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
