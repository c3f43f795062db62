"""Batched rounds: train the R rounds of one contestant as one stacked model.

Round r starts exactly where a serial run (`trainer.train_run`, seed r) starts: its model is
created right after `torch.manual_seed(seed_r)`, and its batch order, "repair" pairs and
augmentations come from its own `torch.Generator(device).manual_seed(seed_r)`: both trainers
hand their models to the one epoch driver, `digitduel.training.loop`. The R models' parameters and buffers are then
stacked along a new leading dim (`torch.func.stack_module_state`) and one step runs all rounds:

    losses[r] = compute_loss(functional_call(model, (params[r], buffers[r]), x[r]), ...)
    losses.sum().backward(); optimizer.step()

`vmap(..., randomness="different")` gives each round its own dropout masks (not the masks its
serial run would draw: the same distribution, not the same numbers). BatchNorm's in-place
running-stat updates land in each round's own slice of the stacked buffers: vmap supports
in-place ops on batched tensors, and tests/test_batched.py checks the stats round by round.

Why one stock torch.optim optimiser over the stacked tensors is exactly R independent
optimisers: d(sum_r loss_r)/d params[r] = d loss_r/d params[r] (rounds share no parameter),
and SGD (momentum, weight decay), Adam and RMSprop do only element-wise arithmetic on
param/grad/state, with a step count and learning rate shared by all elements (the shared
step schedule). Each element of slice r sees the updates a lone optimiser on round r would
make. (Anything with a global norm, like clipping by total norm, would couple rounds.)

A round whose epoch loss is not finite is marked "diverged" after that epoch, as a serial run
is; its NaNs stay in its own slice (the sum's backward sends gradient 1 to every round and the
optimiser is element-wise), so the other rounds train on, untouched, and the diverged round's
figures are frozen at that epoch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.func import functional_call, stack_module_state, vmap

from digitduel.data.pairs import PairData
from digitduel.models.registry import ModelSpec
from digitduel.settings import TrainSettings
from digitduel.training.device import synchronize
from digitduel.training.events import Cancel, JobKey, OnEvent, RunStarted
from digitduel.training.loop import Split, train_epochs
from digitduel.training.objective import compute_loss, predict, predict_digits
from digitduel.training.trainer import RunOutcome, make_optimizer

EVAL_CHUNK = 500  # pairs per round per evaluation forward: bounds activation memory (R x 500)


@dataclass
class BatchedOutcome(RunOutcome):
    """A serial `RunOutcome`, plus the round's final weights and buffers (CPU) when asked.

    `wall_time_s`/`total_time_s` are the batch's times divided by R: the rounds ran together,
    so this is each round's share, and the sum over rounds is the real wall time."""

    state: dict[str, torch.Tensor] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("state")
        return data


class _Stack:
    """R models as one: stacked params/buffers and the vmapped train/eval functions."""

    def __init__(self, spec, settings: TrainSettings, seeds, device, dtype):
        models = []
        for seed in seeds:
            torch.manual_seed(seed)  # as train_run: the round's init comes from its seed
            model = spec.create().to(device)
            models.append(model.to(dtype) if dtype is not None else model)
        self.n_params = sum(p.numel() for p in models[0].parameters())
        # Fresh leaf tensors [R, ...]; the params require grad, the buffers do not.
        self.params, self.buffers = stack_module_state(models)
        # functional_call swaps every param and buffer in, so one template serves all rounds.
        self.template = copy.deepcopy(models[0])
        self.has_digits = False
        self.optimizer = make_optimizer(list(self.params.values()), settings)
        s = settings

        def loss_and_hits(p, b, x, target, classes):
            out = functional_call(self.template, (p, b), (x,))
            loss = compute_loss(out, target, classes, s.loss, s.aux_weight, s.main_weight)
            return loss, (predict(out, spec.predicts, s.loss) == target).sum()

        def eval_hits(p, b, x, target, classes):
            out = functional_call(self.template, (p, b), (x,))
            hits = (predict(out, spec.predicts, s.loss) == target).sum()
            digits = predict_digits(out)
            self.has_digits = digits is not None  # a Python flag, set while vmap traces
            digit_hits = (digits == classes).sum() if digits is not None else hits * 0
            return hits, digit_hits

        self._train_fn = vmap(loss_and_hits, randomness="different")
        self._eval_fn = vmap(eval_hits, randomness="different")

    def train_step(self, x, target, classes):
        """Per-round mean losses [R] and correct counts [R] of one batch, in train mode."""
        self.template.train()
        return self._train_fn(self.params, self.buffers, x, target, classes)

    def step(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step of every round (the epoch driver's `Trainee.step`)."""
        losses, hits = self.train_step(*split)
        self.optimizer.zero_grad(set_to_none=True)
        # Sum of per-round means: each round's gradient is its own mean loss's gradient.
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach(), hits

    def evaluate(self, split: Split) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pair accuracy [R] and digit accuracy [R] (float64, on the device; None for a model
        without digit outputs), eval mode."""
        x, target, classes = split
        self.template.eval()
        hits = digit_hits = 0
        with torch.no_grad():
            for lo in range(0, x.shape[1], EVAL_CHUNK):
                sl = slice(lo, lo + EVAL_CHUNK)
                h, d = self._eval_fn(
                    self.params, self.buffers, x[:, sl], target[:, sl], classes[:, sl]
                )
                hits, digit_hits = hits + h, digit_hits + d
        n = x.shape[1]
        return hits.double() / n, digit_hits.double() / (2 * n) if self.has_digits else None

    def state_of(self, r: int) -> dict[str, torch.Tensor]:
        both = {**self.params, **self.buffers}
        return {k: v[r].detach().cpu().clone() for k, v in both.items()}


_PROBED: dict[tuple, tuple[bool, str]] = {}


def can_batch(
    spec, settings: TrainSettings, device: torch.device | str = "cpu"
) -> tuple[bool, str]:
    """Whether `spec` trains under vmap over stacked rounds; else a one-line reason.

    A probe (2 rounds, 4 pairs, one step and one evaluation, cached per model and loss set-up),
    not a list of known-good models, so a new model is judged by what it does. The probe on
    `device` doubles as the warm-up that keeps first-call costs out of the timed training."""
    device = torch.device(device)
    key = (spec.name, str(device), settings.loss, settings.aux_weight > 0)
    if key not in _PROBED:
        _PROBED[key] = _probe(spec, settings, device)
    return _PROBED[key]


def _probe(spec, settings, device) -> tuple[bool, str]:
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            stack = _Stack(spec, settings, [0, 1], device, None)
            x = torch.randn(2, 4, 2, 14, 14, device=device)
            target = torch.randint(0, 2, (2, 4), device=device)
            classes = torch.randint(0, 10, (2, 4, 2), device=device)
            losses, _ = stack.train_step(x, target, classes)
            losses.sum().backward()
            stack.evaluate(Split(x, target, classes))
            synchronize(device)
    except Exception as err:  # noqa: BLE001 - any failure means: use another executor
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        return False, f"model {spec.name!r} does not train under torch.func.vmap ({first})"
    return True, "ok"


def train_batched(
    spec: ModelSpec,
    settings: TrainSettings,
    pairs_per_round: list[PairData],
    seeds: list[int],
    device: torch.device | str = "cpu",
    *,
    cancel: Cancel | None = None,
    jobs: list[JobKey] | None = None,
    on_event: OnEvent | None = None,
    dtype: torch.dtype | None = None,
    keep_state: bool = False,
) -> list[BatchedOutcome]:
    """Train len(seeds) rounds of `spec` together: round r on pairs_per_round[r] from
    init/generator seed seeds[r]. `on_event` gets each round's RunStarted and, per epoch
    (never per batch), its EpochEnd for jobs[r] (default JobKey(spec.name, r)), as serial
    runs do. `cancel.is_set()` is checked before every batch. `dtype` (float64 in tests) casts
    models and inputs; `keep_state` returns each round's final state_dict. All rounds must
    have the same number of pairs."""
    if len(pairs_per_round) != len(seeds) or not seeds:
        raise ValueError("train_batched needs one PairData per seed, and at least one")
    device = torch.device(device)
    rounds = len(seeds)
    jobs = jobs or [JobKey(spec.name, r) for r in range(rounds)]
    emit = on_event or (lambda _e: None)
    ok, reason = can_batch(spec, settings, device)  # also the warm-up
    if not ok:
        raise ValueError(reason)
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        stack = _Stack(spec, settings, seeds, device, dtype)
        for job in jobs:
            emit(
                RunStarted(job=job, model=spec.name, params=stack.n_params, epochs=settings.epochs)
            )
        pairs = [p.to(device) for p in pairs_per_round]
        trained = train_epochs(
            stack, settings, pairs, seeds, jobs=jobs, on_event=emit, cancel=cancel, dtype=dtype
        )
    total = time.perf_counter() - started
    outcomes = []
    for r, t in enumerate(trained):
        outcomes.append(
            BatchedOutcome(
                status=t.status,
                params=stack.n_params,
                train_accuracy=t.train_accuracy,
                test_accuracy=t.test_accuracy,
                digit_accuracy=t.digit_accuracy,
                wall_time_s=t.wall_time_s / rounds,
                total_time_s=total / rounds,
                epochs=t.epochs,
                device=str(device),
                state=stack.state_of(r) if keep_state and t.status == "ok" else {},
            )
        )
    return outcomes
