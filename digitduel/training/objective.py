"""Loss and prediction rules shared by every trainer (serial, processes, batched).

loss = gamma * main_loss(compare, target) + alpha * (aux_loss(digit 1) + aux_loss(digit 2))

The two digit losses are summed, each weighted by alpha, as the reports write it ("these
auxiliary losses are weighted with alpha and added to the main loss", SGD report section 3;
Borba's equal weights, Banjac's "added"), not averaged: averaging would halve alpha.

- main loss "ce": cross-entropy on 2 logits; "mse": MSE of the single output unit against the
  0/1 target (Jomeau et al.); "bce": binary cross-entropy with logits on one unit.
- aux loss follows the main loss family: cross-entropy on the 10 digit logits, or, with "mse",
  MSE between the digit outputs and the one-hot class (Jomeau et al. train everything with MSE).
- digit-only models (no `compare`) train on the aux loss alone, whatever alpha says.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from digitduel.models.registry import ModelOutput


def compute_loss(
    out: ModelOutput,
    target: torch.Tensor,
    classes: torch.Tensor,
    loss: str,
    aux_weight: float,
    main_weight: float,
) -> torch.Tensor:
    """Mean loss over the batch. `target` is [B] int64 in {0,1}, `classes` [B, 2] int64."""
    total = None
    if out.compare is not None:
        total = main_weight * main_loss(out.compare, target, loss)
    if out.digits is not None and (aux_weight > 0 or out.compare is None):
        weight = 1.0 if out.compare is None else aux_weight
        aux = digit_loss(out.digits, classes, loss)
        total = weight * aux if total is None else total + weight * aux
    if total is None:
        raise ValueError("model returned neither comparison nor digit outputs")
    return total


def main_loss(compare: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "ce":
        if compare.shape[-1] != 2:
            raise ValueError("loss 'ce' needs a model with 2 comparison logits")
        return F.cross_entropy(compare, target)
    score = compare.reshape(-1)
    if compare.shape[-1] != 1:
        # A 2-logit model under mse/bce: use the logit difference as the one score.
        score = compare[:, 1] - compare[:, 0]
    if loss == "mse":
        return F.mse_loss(score, target.to(score.dtype))
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(score, target.to(score.dtype))
    raise ValueError(f"unknown loss {loss!r}")


def digit_loss(digits: torch.Tensor, classes: torch.Tensor, loss: str) -> torch.Tensor:
    """aux_loss(digit 1) + aux_loss(digit 2), each a mean over the batch: computed as one
    mean over the 2B digits, times 2."""
    logits = digits.reshape(-1, 10)
    flat = classes.reshape(-1)
    if loss == "mse":
        return 2 * F.mse_loss(logits, F.one_hot(flat, 10).to(logits.dtype))
    return 2 * F.cross_entropy(logits, flat)


def predict(out: ModelOutput, predicts: str, loss: str) -> torch.Tensor:
    """Predicted target [B] int64 in {0,1}."""
    if predicts == "digits" or out.compare is None:
        if out.digits is None:
            raise ValueError("model predicts by digits but returned none")
        d = out.digits.argmax(-1)
        return (d[:, 0] <= d[:, 1]).long()
    compare = out.compare
    if compare.shape[-1] == 2:
        return compare.argmax(-1)
    score = compare.reshape(-1)
    threshold = 0.5 if loss == "mse" else 0.0  # mse regresses to 0/1; bce scores are logits
    return (score > threshold).long()


def predict_digits(out: ModelOutput) -> torch.Tensor | None:
    """Predicted digit classes [B, 2], where the model has digit outputs."""
    return None if out.digits is None else out.digits.argmax(-1)
