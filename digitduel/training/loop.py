"""The epoch driver: what an epoch is, written once for a serial run and for batched rounds.

A `Trainee` is R models that train together: one model (`trainer.train_run`, R = 1) or R
rounds stacked into one (`batched.train_batched`). It knows how to take one optimiser step
on a batch of R slices and how to evaluate R slices; this module knows everything else:

  - the step schedule (lr -> lr2), set on the trainee's optimiser at each epoch's start;
  - "repair" (fresh pairs from the originals, each round with its own generator) and the
    batch augmentations, drawn from each round's generator in the order a lone run draws them;
  - the batch order (a permutation per round) and the skip of a batch of one (BatchNorm
    cannot train on it);
  - loss and accuracy accumulated on the device, read by the host once per epoch;
  - `EpochMetrics` and the `EpochEnd` event of each round; evaluation of the test set on the
    epochs `eval_every` names;
  - the divergence rule (a round whose epoch loss is not finite stops, "diverged"; the other
    rounds train on) and the final evaluation on the un-augmented train set;
  - cancel, polled before every batch.

Data travel as [R, n, ...] stacks; a stack of one is a view, so a serial run pays no copy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

import torch

from digitduel.data.augment import augment_batch, repair_pairs
from digitduel.data.pairs import PairData, PairSet
from digitduel.settings import TrainSettings
from digitduel.training.device import synchronize
from digitduel.training.events import Cancel, EpochEnd, JobKey, OnEvent

Status = Literal["ok", "diverged", "cancelled", "failed"]


@dataclass
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's batches (train mode)
    train_accuracy: float  # running accuracy over the epoch's batches (train mode, augmented)
    test_accuracy: float | None  # eval mode, whole test set; None between eval_every epochs
    digit_accuracy: float | None  # eval mode, test digits, where the model predicts digits
    lr: float
    elapsed_s: float  # since the run started (training + evaluation)


class Split(NamedTuple):
    """R rounds' pairs stacked: input [R, n, 2, 14, 14], target [R, n], classes [R, n, 2]."""

    input: torch.Tensor
    target: torch.Tensor
    classes: torch.Tensor


class Trainee(Protocol):
    """R models that train in step: what the epoch driver needs of them."""

    optimizer: torch.optim.Optimizer

    def step(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step, train mode, on a batch [R, b, ...]: the per-round mean losses
        [R] (detached) and correct-prediction counts [R] of the batch."""
        ...

    def evaluate(self, split: Split) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Eval mode: pair accuracy [R] and digit accuracy [R] (None for a model without
        digit outputs), float64 tensors on the device."""
        ...


@dataclass
class Trained:
    """What one round's training produced (times are the whole stack's, not a share)."""

    status: Status = "ok"
    epochs: list[EpochMetrics] = field(default_factory=list)
    wall_time_s: float = 0.0  # training steps only, synchronised
    train_accuracy: float | None = None  # eval mode, un-augmented train set, at the end
    test_accuracy: float | None = None  # of the last epoch
    digit_accuracy: float | None = None


def stack(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """torch.stack, but a stack of one is a view (no copy on a serial run's hot path)."""
    return parts[0].unsqueeze(0) if len(parts) == 1 else torch.stack(list(parts))


def stacked(sets: Sequence[PairSet], dtype: torch.dtype | None = None) -> Split:
    """R PairSets (same size, already on the device) as one [R, n, ...] Split."""
    x = stack([p.input for p in sets])
    x = x.to(dtype) if dtype is not None else x
    return Split(x, stack([p.target for p in sets]), stack([p.classes for p in sets]))


@dataclass
class _Epoch:
    """An epoch's device-side accumulators (float64 loss sum, hit counts, per round)."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int = 0

    def add(self, losses: torch.Tensor, hits: torch.Tensor, size: int) -> None:
        self.loss_sum += losses.double() * size
        self.correct += hits
        self.seen += size


def train_epochs(
    trainee: Trainee,
    settings: TrainSettings,
    pairs: Sequence[PairData],
    seeds: Sequence[int],
    *,
    jobs: Sequence[JobKey],
    on_event: OnEvent,
    cancel: Cancel | None = None,
    dtype: torch.dtype | None = None,
) -> list[Trained]:
    """Train round r on pairs[r] (on the trainee's device) with the generator seeded by
    seeds[r], for settings.epochs epochs; one `Trained` per round, in order."""
    rounds, device = len(seeds), pairs[0].train.input.device
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    if len({len(p.train.target) for p in pairs}) != 1:
        raise ValueError("batched rounds need the same number of train pairs in every round")
    base_train = stacked([p.train for p in pairs], dtype)
    test = stacked([p.test for p in pairs], dtype)
    results = [Trained() for _ in seeds]
    live = list(range(rounds))  # rounds still training (not diverged, not cancelled)
    started = time.perf_counter()
    for epoch in range(settings.epochs):
        lr = settings.lr_at(epoch)
        for group in trainee.optimizer.param_groups:
            group["lr"] = lr
        train = base_train
        if "repair" in settings.augment:  # fresh pairs from the originals, every epoch
            repaired = [repair_pairs(p.train, g) for p, g in zip(pairs, gens, strict=True)]
            train = stacked(repaired, dtype)
        synchronize(device)
        t0 = time.perf_counter()
        acc = _loop(trainee, settings, train, gens, cancel)
        if acc is None:
            for r in live:
                results[r].status = "cancelled"
            return results
        synchronize(device)
        step_time = time.perf_counter() - t0
        metrics = _epoch_metrics(trainee, settings, test, acc, epoch, lr, started)
        diverged = []
        for r in live:
            m = metrics[r]
            results[r].epochs.append(m)
            results[r].wall_time_s += step_time
            on_event(EpochEnd(job=jobs[r], epochs=settings.epochs, **_event_fields(m)))
            if not math.isfinite(m.train_loss):
                diverged.append(r)
        if diverged:
            _finish(trainee, base_train, results, diverged, "diverged")
            live = [r for r in live if r not in diverged]
        if not live:
            return results
    _finish(trainee, base_train, results, live, "ok")
    return results


def _loop(trainee, settings, train: Split, gens, cancel) -> _Epoch | None:
    """One epoch's batches and optimiser steps: its accumulators, or None when cancelled."""
    device, (rounds, n) = train.target.device, train.target.shape
    batch_augs = [a for a in settings.augment if a != "repair"]
    # Accumulated on the device and read once per epoch: no per-batch host sync.
    acc = _Epoch(
        torch.zeros(rounds, device=device, dtype=torch.float64),
        torch.zeros(rounds, device=device, dtype=torch.int64),
    )
    order = stack([torch.randperm(n, device=device, generator=g) for g in gens])
    rows = torch.arange(rounds, device=device)[:, None]
    for lo in range(0, n, settings.batch_size):
        if cancel is not None and cancel.is_set():
            return None
        idx = order[:, lo : lo + settings.batch_size]
        size = idx.shape[1]
        if size == 1 and n > 1:
            continue  # BatchNorm cannot train on a batch of one
        batch = Split(train.input[rows, idx], train.target[rows, idx], train.classes[rows, idx])
        if batch_augs:
            batch = _augment(batch, batch_augs, gens)
        losses, hits = trainee.step(batch)
        acc.add(losses, hits, size)
    return acc


def _augment(batch: Split, augment: list[str], gens) -> Split:
    """Per-round augmentation with each round's own generator, as a lone run draws it."""
    x, y, c = batch
    parts = [augment_batch(x[r], y[r], c[r], augment, g) for r, g in enumerate(gens)]
    return Split(*(stack(t) for t in zip(*parts, strict=True)))


def _epoch_metrics(trainee, settings, test: Split, acc: _Epoch, epoch, lr, started):
    """Every round's EpochMetrics, from one host read."""
    seen = max(acc.seen, 1)
    parts = [acc.loss_sum / seen, acc.correct.double() / seen]
    evaluated = settings.evaluates_after(epoch)
    has_digits = False
    if evaluated:
        test_acc, digit_acc = trainee.evaluate(test)
        has_digits = digit_acc is not None
        parts += [test_acc] + ([digit_acc] if has_digits else [])
    values = torch.stack(parts).tolist()  # the one host read of the epoch
    elapsed = time.perf_counter() - started
    return [
        EpochMetrics(
            epoch=epoch + 1,
            train_loss=values[0][r],
            train_accuracy=values[1][r],
            test_accuracy=values[2][r] if evaluated else None,
            digit_accuracy=values[3][r] if has_digits else None,
            lr=lr,
            elapsed_s=elapsed,
        )
        for r in range(len(values[0]))
    ]


def _event_fields(m: EpochMetrics) -> dict[str, float | int | None]:
    names = ("epoch", "train_loss", "train_accuracy", "test_accuracy", "digit_accuracy")
    return {k: getattr(m, k) for k in names} | {"elapsed_s": m.elapsed_s}


def _finish(trainee, train: Split, results, which, status: Status) -> None:
    """Final figures of the rounds `which`: train accuracy on the un-augmented train set
    (eval mode), test and digit accuracy of their last epoch."""
    train_acc = trainee.evaluate(train)[0].tolist()
    for r in which:
        result = results[r]
        result.status = status
        result.train_accuracy = train_acc[r]
        result.test_accuracy = result.epochs[-1].test_accuracy
        result.digit_accuracy = result.epochs[-1].digit_accuracy
