"""One run: one model, one round of pairs, trained and measured.

What an epoch is (schedule, repair, augmentation, divergence, events) lives in
`digitduel.training.loop`, shared with the batched trainer; this module gives it one model
(a "stack of one") to step and evaluate. Written for honest speed on tiny models (issue 5):
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

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from digitduel.data.pairs import PairData
from digitduel.models.registry import ModelSpec
from digitduel.settings import TrainSettings
from digitduel.training.device import synchronize
from digitduel.training.events import Cancel, JobKey, OnEvent, RunStarted
from digitduel.training.loop import EpochMetrics, Split, Status, train_epochs
from digitduel.training.objective import compute_loss, predict, predict_digits

EVAL_BATCH = 1000  # evaluation chunk on a GPU: the whole 1000-pair test set in one forward
# On CPU, chunks of 250 keep the activations in cache: over the 48 registered models a
# test-set evaluation takes 6% less time in total than with 1000 (Banjac's 2.2x, Jomeau's
# 1.2x less; a few fully connected models 10% more), measured on one thread.
EVAL_BATCH_CPU = 250


def eval_batch(device: torch.device) -> int:
    return EVAL_BATCH_CPU if device.type == "cpu" else EVAL_BATCH


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
    # The executor that trained it, where it is not the bench's own (the batched executor's
    # fallback runs); None: the bench's executor. Written to the run's record (`executor`).
    executor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(
    params, settings: TrainSettings, device: torch.device | None = None, capturable: bool = False
) -> torch.optim.Optimizer:
    """The recipe's optimiser. On CUDA its fused (SGD, Adam) or foreach (RMSprop) kernels: a
    few launches a step instead of several per parameter; `capturable` (CUDA only) keeps its
    step count on the device so a CUDA graph can record the step. On CPU torch's defaults, so
    CPU figures stay what they were."""
    kwargs = optimizer_kwargs(settings.optimizer, device, capturable)
    if settings.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=settings.lr, weight_decay=settings.weight_decay, **kwargs
        )
    # SGD and RMSprop take the same recipe keys (momentum, weight decay).
    momentum_optimizers = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}
    if settings.optimizer in momentum_optimizers:
        return momentum_optimizers[settings.optimizer](
            params,
            lr=settings.lr,
            momentum=settings.momentum,
            weight_decay=settings.weight_decay,
            **kwargs,
        )
    raise ValueError(f"unknown optimizer {settings.optimizer!r}")


def optimizer_kwargs(name: str, device: torch.device | None, capturable: bool) -> dict:
    """The implementation flags of optimiser `name` on `device` (none off CUDA)."""
    if device is None or device.type != "cuda":
        return {}
    kwargs: dict = {"fused": True} if name in ("sgd", "adam") else {"foreach": True}
    if capturable and name != "sgd":  # SGD keeps no step count: nothing to capture
        kwargs["capturable"] = True
    return kwargs


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
    pairs: PairData,  # any device; moved to `device` once
    *,
    seed: int,
    device: torch.device | str = "cpu",
    job: JobKey | None = None,
    on_event: OnEvent | None = None,
    cancel: Cancel | None = None,
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
        emit(RunStarted(job=job, model=spec.name, params=params, epochs=settings.epochs))
        trainee = _Single(model, spec, settings, channels_last)
        (trained,) = train_epochs(
            trainee, settings, [pairs.to(device)], [seed], jobs=[job], on_event=emit, cancel=cancel
        )
    return RunOutcome(
        status=trained.status,
        params=params,
        train_accuracy=trained.train_accuracy,
        test_accuracy=trained.test_accuracy,
        digit_accuracy=trained.digit_accuracy,
        wall_time_s=trained.wall_time_s,
        total_time_s=time.perf_counter() - started,
        epochs=trained.epochs,
        device=str(device),
        channels_last=channels_last,
    )


class _Single:
    """One model as the epoch driver's stack of one: batches arrive as [1, b, ...] views."""

    def __init__(self, model: nn.Module, spec: ModelSpec, settings: TrainSettings, cl: bool):
        self.model, self.spec, self.settings = model, spec, settings
        self.memory_format = torch.channels_last if cl else torch.contiguous_format
        device = next(model.parameters(), torch.empty(0)).device
        self.optimizer = make_optimizer(model.parameters(), settings, device)

    def prepare(self, split: Split) -> Split:
        """The set in the model's memory format, once (batches cut from it keep it)."""
        x = split.input[0].contiguous(memory_format=self.memory_format)
        return Split(x[None], split.target, split.classes)

    def step(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        s, model = self.settings, self.model
        if not model.training:
            model.train()
        x, y, c = split.input[0], split.target[0], split.classes[0]
        # A no-op for batches of a prepared set; a copy for augmented ones.
        out = model(x.contiguous(memory_format=self.memory_format))
        loss = compute_loss(out, y, c, s.loss, s.aux_weight, s.main_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        hits = (predict(out, self.spec.predicts, s.loss) == y).sum()
        return loss.detach().unsqueeze(0), hits.unsqueeze(0)

    def evaluate(self, split: Split) -> tuple[torch.Tensor, torch.Tensor | None]:
        one = Split(split.input[0], split.target[0], split.classes[0])
        acc, digit_acc = _evaluate(self.model, self.spec, self.settings, one, self.memory_format)
        return acc.unsqueeze(0), None if digit_acc is None else digit_acc.unsqueeze(0)


def _evaluate(model, spec, settings, split, memory_format):
    """(pair accuracy, digit accuracy or None) as device tensors, in eval mode."""
    model.eval()
    n, chunk = split.input.shape[0], eval_batch(split.input.device)
    hits, digit_hits = [], []  # per chunk; summed once (integer counts: order is irrelevant)
    with torch.inference_mode():
        for start in range(0, n, chunk):
            x = split.input[start : start + chunk].contiguous(memory_format=memory_format)
            out = model(x)
            target = split.target[start : start + chunk]
            hits.append(predict(out, spec.predicts, settings.loss) == target)
            digits = predict_digits(out)
            if digits is not None:
                digit_hits.append(digits == split.classes[start : start + chunk])
        acc = torch.cat(hits).sum().double() / n
        digit_acc = torch.cat(digit_hits).sum().double() / (2 * n) if digit_hits else None
    return acc, digit_acc
