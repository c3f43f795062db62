"""One run: one model, one round of pairs, trained and measured.

The loop is written for honest speed on tiny models (see issue 5):
  - the round's pairs are moved to the device once; batches are index slices of a
    permutation drawn from the run's own generator (no DataLoader, no host round trips);
  - loss and accuracy accumulate on the device and are read once per epoch (no per-batch
    `.item()`), which is also where a NaN/inf loss is noticed (status "diverged");
  - evaluation runs under `torch.inference_mode`;
  - the wall time covers the training steps only, synchronised on GPU, and excludes a
    one-off warm-up per (model, device, process) that pays allocator/kernel start-up costs.

The trainer knows nobody: it reports through `on_event(event)` and polls `cancel.is_set()`
every batch. It never sets the thread count; executors do (they know how many share the CPU).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from digitduel.models.registry import ModelSpec
from digitduel.settings import TrainSettings
from digitduel.training.device import synchronize
from digitduel.training.events import EpochEnd, JobKey, RunStarted
from digitduel.training.objective import compute_loss, predict, predict_digits

Status = Literal["ok", "diverged", "cancelled", "failed"]
EVAL_BATCH = 1000  # evaluation chunk on a GPU: the whole 1000-pair test set in one forward
# On CPU, chunks of 250 keep the activations in cache: over the 48 registered models a
# test-set evaluation takes 6% less time in total than with 1000 (Banjac's 2.2x, Jomeau's
# 1.2x less; a few fully connected models 10% more), measured on one thread.
EVAL_BATCH_CPU = 250


def eval_batch(device: torch.device) -> int:
    return EVAL_BATCH_CPU if device.type == "cpu" else EVAL_BATCH


@dataclass
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean over the epoch's batches (train mode)
    train_accuracy: float  # running accuracy over the epoch's batches (train mode, augmented)
    test_accuracy: float | None  # eval mode, whole test set; None between eval_every epochs
    digit_accuracy: float | None  # eval mode, test digits, where the model predicts digits
    lr: float
    elapsed_s: float  # since the run started (training + evaluation)


@dataclass
class RunOutcome:
    """What a run produced; the bench turns it into a `RunRecord`."""

    status: Status
    params: int
    train_accuracy: float | None = None  # eval mode, whole (un-augmented) train set, at the end
    test_accuracy: float | None = None
    digit_accuracy: float | None = None
    wall_time_s: float = 0.0  # training steps only, synchronised
    total_time_s: float = 0.0  # the whole run: training, per-epoch evaluation, set-up
    epochs: list[EpochMetrics] = field(default_factory=list)
    device: str = "cpu"
    channels_last: bool = False
    error: str | None = None
    host: str | None = None  # the machine it ran on, where an executor says (None: this one)
    node: str | None = None  # the executor's node id (Ray: several nodes may share a machine)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(params, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    raise ValueError(f"unknown optimizer {settings.optimizer!r}")


def use_channels_last(model: nn.Module, device: torch.device) -> bool:
    """channels_last pays on CPU for conv nets (NCHW max-pool with indices is slow there).
    A deterministic rule, not a timing, so the same seed always takes the same code path."""
    return device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())


_WARMED: set[tuple[str, str, bool]] = set()


def warm_up(spec: ModelSpec, device: torch.device, batch_size: int, channels_last: bool) -> bool:
    """Run a few throwaway steps once per (model, device, process) so the timed run does not pay
    first-call costs. Returns whether channels_last works for this model (a forward that uses
    `.view` on conv features refuses it; then we stay in NCHW)."""
    key = (spec.name, str(device), channels_last)
    if key in _WARMED:
        return channels_last
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        model = spec.create().to(device)
        # The run's own batch shape, and the evaluation's: oneDNN builds a kernel per shape on
        # first use, which would otherwise land in the first timed epoch.
        x = torch.randn(max(batch_size, 2), 2, 14, 14, device=device)
        if channels_last:
            try:
                model = model.to(memory_format=torch.channels_last)
                model(x.contiguous(memory_format=torch.channels_last))
            except RuntimeError:
                channels_last = False
                model = spec.create().to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        opt = torch.optim.SGD(model.parameters(), lr=1e-9)
        for _ in range(2):
            out = model(x.contiguous(memory_format=fmt))
            loss = sum(t.float().pow(2).mean() for t in out if t is not None)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            x_eval = torch.randn(eval_batch(device), 2, 14, 14, device=device)
            model(x_eval.contiguous(memory_format=fmt))
        synchronize(device)
    _WARMED.add((spec.name, str(device), channels_last))
    return channels_last


def train_run(
    spec: ModelSpec,
    settings: TrainSettings,
    pairs,  # digitduel.data.PairData (any device; moved to `device` once)
    *,
    seed: int,
    device: torch.device | str = "cpu",
    job: JobKey | None = None,
    on_event: Callable[[Any], None] | None = None,
    cancel: Any = None,
    channels_last: bool | None = None,
    warm: bool = True,
) -> RunOutcome:
    """Train `spec` on `pairs` with `settings`; initialisation, batch order and augmentations
    all derive from `seed`, so the same seed on the same device gives the same result."""
    device = torch.device(device)
    job = job or JobKey(spec.name, 0)
    emit = on_event or (lambda _e: None)
    started = time.perf_counter()

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)  # initialisation and dropout masks
        model = spec.create().to(device)
        params = sum(p.numel() for p in model.parameters())
        if channels_last is None:
            channels_last = use_channels_last(model, device)
        if warm:
            channels_last = warm_up(spec, device, settings.batch_size, channels_last)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        outcome = RunOutcome(
            status="ok", params=params, device=str(device), channels_last=channels_last
        )
        emit(RunStarted(job=job, model=spec.name, params=params, epochs=settings.epochs))
        _loop(model, spec, settings, pairs.to(device), seed, device, job, emit, cancel, outcome)
    outcome.total_time_s = time.perf_counter() - started
    return outcome


def _loop(model, spec, settings, pairs, seed, device, job, emit, cancel, outcome) -> None:
    memory_format = torch.channels_last if outcome.channels_last else torch.contiguous_format
    optimizer = make_optimizer(model.parameters(), settings)
    # Batch order and augmentations come from the run's own generator on the data's device
    # (no host round trip per batch); digitduel.training.batched draws them the same way.
    gen = torch.Generator(device=device).manual_seed(seed)
    batch_augs = [a for a in settings.augment if a != "repair"]
    train = pairs.train
    n, bs = train.input.shape[0], settings.batch_size
    started = time.perf_counter()

    for epoch in range(settings.epochs):
        lr = settings.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if "repair" in settings.augment:
            from digitduel.data import repair_pairs

            train = repair_pairs(pairs.train, gen)
        synchronize(device)
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        perm = torch.randperm(n, device=device, generator=gen)
        for start in range(0, n, bs):
            if cancel is not None and cancel.is_set():
                outcome.status = "cancelled"
                return
            idx = perm[start : start + bs]
            if idx.numel() == 1 and n > 1:
                continue  # BatchNorm cannot train on a batch of one
            x, y, c = train.input[idx], train.target[idx], train.classes[idx]
            if batch_augs:
                from digitduel.data import augment_batch

                x, y, c = augment_batch(x, y, c, batch_augs, gen)
            out = model(x.contiguous(memory_format=memory_format))
            loss = compute_loss(out, y, c, settings.loss, settings.aux_weight, settings.main_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * idx.numel()
            correct += (predict(out, spec.predicts, settings.loss) == y).sum()
            seen += idx.numel()
        synchronize(device)
        outcome.wall_time_s += time.perf_counter() - t0

        # One host read per epoch for everything accumulated on the device.
        parts = [loss_sum.double() / max(seen, 1), correct.double() / max(seen, 1)]
        test_v = digit_v = None
        if settings.evaluates_after(epoch):
            test_acc, digit_acc = _evaluate(model, spec, settings, pairs.test, memory_format)
            parts += [test_acc] + ([] if digit_acc is None else [digit_acc])
        values = torch.stack(parts).tolist()
        loss_v, train_v = values[:2]
        if len(values) > 2:
            test_v = values[2]
            digit_v = values[3] if len(values) > 3 else None
        metrics = EpochMetrics(
            epoch=epoch + 1,
            train_loss=loss_v,
            train_accuracy=train_v,
            test_accuracy=test_v,
            digit_accuracy=digit_v,
            lr=lr,
            elapsed_s=time.perf_counter() - started,
        )
        outcome.epochs.append(metrics)
        emit(EpochEnd(job=job, epochs=settings.epochs, **_event_fields(metrics)))
        if not math.isfinite(loss_v):
            outcome.status = "diverged"
            break

    final_train, _ = _evaluate(model, spec, settings, pairs.train, memory_format)
    outcome.train_accuracy = final_train.item()
    last = outcome.epochs[-1]
    outcome.test_accuracy = last.test_accuracy
    outcome.digit_accuracy = last.digit_accuracy


def _event_fields(m: EpochMetrics) -> dict[str, Any]:
    return {
        "epoch": m.epoch,
        "train_loss": m.train_loss,
        "train_accuracy": m.train_accuracy,
        "test_accuracy": m.test_accuracy,
        "digit_accuracy": m.digit_accuracy,
        "elapsed_s": m.elapsed_s,
    }


def _evaluate(model, spec, settings, split, memory_format):
    """(pair accuracy, digit accuracy or None) as device tensors, in eval mode."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=split.input.device)
    digit_correct = None
    n, chunk = split.input.shape[0], eval_batch(split.input.device)
    with torch.inference_mode():
        for start in range(0, n, chunk):
            x = split.input[start : start + chunk].contiguous(memory_format=memory_format)
            out = model(x)
            target = split.target[start : start + chunk]
            correct += (predict(out, spec.predicts, settings.loss) == target).sum()
            digits = predict_digits(out)
            if digits is not None:
                hit = (digits == split.classes[start : start + chunk]).sum()
                digit_correct = hit if digit_correct is None else digit_correct + hit
    acc = correct.double() / n
    digit_acc = None if digit_correct is None else digit_correct.double() / (2 * n)
    return acc, digit_acc
