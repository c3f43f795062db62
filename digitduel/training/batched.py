"""Batched rounds: train the R rounds of one contestant as one stacked model.

The R models are created one by one with their own seeds (so round r starts exactly where a
serial run with seed r starts), then their parameters and buffers are stacked along a new
leading dim with `torch.func.stack_module_state`. One step runs all rounds at once:

    losses[r] = compute_loss(functional_call(model, (params[r], buffers[r]), x[r]), ...)
    (losses.sum()).backward()

`vmap(..., randomness="different")` gives every round its own dropout masks, and BatchNorm's
in-place running-stat updates land in each round's own slice of the stacked buffers (vmap
supports in-place ops on batched tensors; tests/test_batched.py checks the stats per round).

Why a stock torch.optim optimiser over the stacked tensors is exactly R independent
optimisers: d(sum_r loss_r)/d params[r] = d loss_r / d params[r] (rounds share no parameter),
and SGD (momentum, weight decay), Adam and RMSprop only do element-wise arithmetic on
param/grad/state with a step count shared by all elements. Every element of slice r therefore
sees exactly the updates a lone optimiser on round r would make. (An optimiser with a global
norm, like LAMB or grad clipping by total norm, would couple the rounds: none is offered.)

A round whose loss stops being finite is marked "diverged" at the end of that epoch: its NaNs
stay in its own slice (the sum's backward sends gradient 1 to every round, and the optimiser
is element-wise), so the other rounds train on untouched.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from digitduel.settings import TrainSettings
from digitduel.training.objective import compute_loss, predict, predict_digits

Status = Literal["ok", "diverged", "cancelled", "failed"]
EVAL_CHUNK = 500  # samples per round per evaluation forward: bounds activation memory


@dataclass
class BatchedEpoch:
    """One epoch of one round, the same figures a serial run reports in EpochEnd."""

    epoch: int  # 1-based
    epochs: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    digit_accuracy: float | None
    elapsed_s: float


@dataclass
class RoundOutcome:
    """What one round of a batched training produced."""

    round_index: int  # position in the seeds list
    seed: int
    status: Status
    train_accuracy: float | None
    test_accuracy: float | None
    digit_accuracy: float | None
    epochs: list[BatchedEpoch]
    wall_time_s: float  # this round's share: the batch's wall time / R (rounds ran together)
    batch_wall_time_s: float  # the whole batch's wall time
    params: int  # parameter count of one round's model
    state: dict[str, torch.Tensor] = field(default_factory=dict)  # final weights, on CPU
    message: str | None = None


def init_round_model(spec: Any, seed: int) -> nn.Module:
    """Round `seed`'s initial model: the global RNG seeded, then the factory (as serial runs)."""
    torch.manual_seed(seed)
    return spec.create()


def batch_generator(seed: int) -> torch.Generator:
    """The CPU generator that draws a round's batch order and augmentations."""
    return torch.Generator().manual_seed(seed)


def make_optimizer(settings: TrainSettings, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The optimiser a run of `settings` uses; element-wise, so it also serves stacked params."""
    if settings.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)


def can_batch(spec: Any, settings: TrainSettings) -> tuple[bool, str]:
    """Whether `spec` trains under vmap over stacked rounds; else a one-line reason.

    A cheap probe (2 rounds, 4 samples, one step and one evaluation on CPU) rather than a
    list of known-good models, so a new model is judged by what it does.
    """
    key = (spec.name, settings.loss, settings.aux_weight, settings.main_weight)
    if key not in _PROBED:
        _PROBED[key] = _probe(spec, settings)
    return _PROBED[key]


_PROBED: dict[tuple, tuple[bool, str]] = {}


def _probe(spec: Any, settings: TrainSettings) -> tuple[bool, str]:
    try:
        stack = _Stack(spec, settings, [0, 1], torch.device("cpu"), None)
        x = torch.randn(2, 4, 2, 14, 14)
        target = torch.randint(0, 2, (2, 4))
        classes = torch.randint(0, 10, (2, 4, 2))
        losses, _ = stack.train_step(x, target, classes)
        losses.sum().backward()
        stack.evaluate(x, target, classes)
    except Exception as err:  # noqa: BLE001 - any failure means: use another executor
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        return False, f"model {spec.name!r} does not train under torch.func.vmap ({first})"
    return True, "ok"


class _Stack:
    """R models as one: stacked params/buffers and vmapped train/eval functions."""

    def __init__(self, spec, settings, seeds, device, dtype):
        models = []
        for seed in seeds:
            m = init_round_model(spec, seed).to(device)
            models.append(m.to(dtype) if dtype is not None else m)
        self.n_params = sum(p.numel() for p in models[0].parameters())
        # stack_module_state returns fresh leaf tensors (params require grad).
        self.params, self.buffers = stack_module_state(models)
        # functional_call swaps every param and buffer in, so one template module serves all.
        self.template = copy.deepcopy(models[0])
        self.spec, self.settings = spec, settings
        self.has_digits = False

        def loss_and_hits(p, b, x, target, classes):
            out = functional_call(self.template, (p, b), (x,))
            s = self.settings
            loss = compute_loss(out, target, classes, s.loss, s.aux_weight, s.main_weight)
            hits = (predict(out, self.spec.predicts, s.loss) == target).sum()
            return loss, hits

        def eval_hits(p, b, x, target, classes):
            out = functional_call(self.template, (p, b), (x,))
            hits = (predict(out, self.spec.predicts, self.settings.loss) == target).sum()
            digits = predict_digits(out)
            self.has_digits = digits is not None  # a Python flag, set while vmap traces
            digit_hits = (digits == classes).sum() if digits is not None else hits * 0
            return hits, digit_hits

        self._train_fn = vmap(loss_and_hits, randomness="different")
        self._eval_fn = vmap(eval_hits, randomness="different")

    def train_step(self, x, target, classes):
        """Per-round mean losses [R] and correct counts [R] for one batch, train mode."""
        self.template.train()
        return self._train_fn(self.params, self.buffers, x, target, classes)

    @torch.no_grad()
    def evaluate(self, x, target, classes):
        """Correct comparisons [R] and correct digits [R] over [R, n, ...], eval mode."""
        self.template.eval()
        hits = digit_hits = 0
        for start in range(0, x.shape[1], EVAL_CHUNK):
            sl = slice(start, start + EVAL_CHUNK)
            h, d = self._eval_fn(self.params, self.buffers, x[:, sl], target[:, sl], classes[:, sl])
            hits, digit_hits = hits + h, digit_hits + d
        return hits, digit_hits

    def state_of(self, r: int) -> dict[str, torch.Tensor]:
        both = {**self.params, **self.buffers}
        return {k: v[r].detach().cpu().clone() for k, v in both.items()}


def _stacked(pair_sets: list[Any], device, dtype):
    """[R, n, ...] input/target/classes from R PairSets."""
    x = torch.stack([p.input for p in pair_sets]).to(device)
    if dtype is not None:
        x = x.to(dtype)
    target = torch.stack([p.target for p in pair_sets]).to(device)
    classes = torch.stack([p.classes for p in pair_sets]).to(device)
    return x, target, classes


def train_batched(
    spec: Any,
    settings: TrainSettings,
    pairs_per_round: list[Any],
    seeds: list[int],
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int, BatchedEpoch], None] | None = None,
    cancel: Any = None,
    *,
    dtype: torch.dtype | None = None,
) -> list[RoundOutcome]:
    """Train len(seeds) rounds of `spec` together; round r uses pairs_per_round[r], seeds[r].

    `on_epoch(round_index, BatchedEpoch)` is called per round per epoch (never per batch);
    `cancel.is_set()` is checked before every batch. `dtype` (e.g. torch.float64 in tests)
    casts models and inputs. Every PairSet must have the same number of pairs.
    """
    if len(pairs_per_round) != len(seeds) or not seeds:
        raise ValueError("train_batched needs one PairData per seed, and at least one")
    device = torch.device(device)
    rounds = len(seeds)
    start = time.perf_counter()
    stack = _Stack(spec, settings, seeds, device, dtype)
    optimizer = make_optimizer(settings, list(stack.params.values()))
    generators = [batch_generator(s) for s in seeds]
    augment = [a for a in settings.augment if a != "repair"]
    repair = "repair" in settings.augment

    train_sets = [p.train for p in pairs_per_round]
    train_x, train_t, train_c = _stacked(train_sets, device, dtype)
    test_x, test_t, test_c = _stacked([p.test for p in pairs_per_round], device, dtype)
    n = train_x.shape[1]
    if any(p.input.shape[0] != n for p in train_sets):
        raise ValueError("batched rounds need the same number of train pairs in every round")
    rows = torch.arange(rounds, device=device)[:, None]

    status: list[Status] = ["ok"] * rounds
    history: list[list[BatchedEpoch]] = [[] for _ in range(rounds)]
    final: list[tuple[float, float, float | None] | None] = [None] * rounds
    cancelled = False

    for epoch in range(settings.epochs):
        for group in optimizer.param_groups:
            group["lr"] = settings.lr_at(epoch)
        if repair:
            train_sets = [_repair(ts, g) for ts, g in zip(train_sets, generators, strict=True)]
            train_x, train_t, train_c = _stacked(train_sets, device, dtype)
        order = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
        # Accumulated on the device, read once per epoch: no per-batch host sync.
        loss_sum = torch.zeros(rounds, device=device, dtype=train_x.dtype)
        hit_sum = torch.zeros(rounds, device=device, dtype=torch.long)
        batches = 0
        for lo in range(0, n, settings.batch_size):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            idx = order[:, lo : lo + settings.batch_size]
            xb, tb, cb = train_x[rows, idx], train_t[rows, idx], train_c[rows, idx]
            if augment:
                xb, tb, cb = _augment(xb, tb, cb, augment, generators)
            losses, hits = stack.train_step(xb, tb, cb)
            optimizer.zero_grad(set_to_none=True)
            # Sum of per-round means: each round's gradient is its own mean loss's gradient.
            losses.sum().backward()
            optimizer.step()
            loss_sum += losses.detach()
            hit_sum += hits
            batches += 1
        if cancelled:
            break
        seen = min(n, batches * settings.batch_size)
        test_hits, digit_hits = stack.evaluate(test_x, test_t, test_c)
        n_test = test_x.shape[1]
        figures = torch.stack(
            [
                loss_sum.double() / max(batches, 1),
                hit_sum.double() / seen,
                test_hits.double() / n_test,
                digit_hits.double() / (2 * n_test),
            ]
        ).tolist()  # the one host sync of the epoch
        elapsed = time.perf_counter() - start
        for r in range(rounds):
            if status[r] != "ok":
                continue
            loss, train_acc, test_acc, digit_acc = (row[r] for row in figures)
            if not torch.isfinite(torch.tensor(loss)):
                status[r] = "diverged"
                continue
            digit = digit_acc if stack.has_digits else None
            record = BatchedEpoch(
                epoch + 1, settings.epochs, loss, train_acc, test_acc, digit, elapsed
            )
            history[r].append(record)
            final[r] = (train_acc, test_acc, digit)
            if on_epoch is not None:
                on_epoch(r, record)

    wall = time.perf_counter() - start
    outcomes = []
    for r, seed in enumerate(seeds):
        st: Status = "cancelled" if cancelled and status[r] == "ok" else status[r]
        train_acc, test_acc, digit = final[r] if final[r] and st == "ok" else (None, None, None)
        outcomes.append(
            RoundOutcome(
                round_index=r,
                seed=seed,
                status=st,
                train_accuracy=train_acc,
                test_accuracy=test_acc,
                digit_accuracy=digit,
                epochs=history[r],
                wall_time_s=wall / rounds,
                batch_wall_time_s=wall,
                params=stack.n_params,
                state=stack.state_of(r) if st == "ok" else {},
                message="loss stopped being finite" if st == "diverged" else None,
            )
        )
    return outcomes


def _augment(xb, tb, cb, augment, generators):
    """Per-round augmentation with each round's own generator (as its serial run would)."""
    from digitduel.data import augment_batch

    parts = [augment_batch(xb[r], tb[r], cb[r], augment, g) for r, g in enumerate(generators)]
    return tuple(torch.stack(t) for t in zip(*parts, strict=True))


def _repair(train_set, generator):
    from digitduel.data import repair_pairs

    return repair_pairs(train_set, generator)
