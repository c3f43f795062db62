"""Batched rounds: train the R rounds of one contestant as one stacked model.

Round r starts exactly where a serial run (`trainer.train_run`, seed r) starts: its model is
created right after `torch.manual_seed(seed_r)`, and its batch order, "repair" pairs and
augmentations come from its own `torch.Generator(device).manual_seed(seed_r)`, drawn in the
same order as the serial loop draws them. The R models' parameters and buffers are then
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
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.func import functional_call, stack_module_state, vmap

from digitduel.settings import TrainSettings
from digitduel.training.device import synchronize
from digitduel.training.events import EpochEnd, JobKey, RunStarted
from digitduel.training.objective import compute_loss, predict, predict_digits
from digitduel.training.trainer import EpochMetrics, RunOutcome, make_optimizer

EVAL_CHUNK = 500  # pairs per round per evaluation forward: bounds activation memory (R x 500)


@dataclass
class BatchedOutcome(RunOutcome):
    """A serial `RunOutcome`, plus the round's final weights and buffers (CPU) when asked.

    `wall_time_s`/`total_time_s` are the batch's times divided by R: the rounds ran together,
    so this is each round's share, and the sum over rounds is the real wall time."""

    state: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def message(self) -> str | None:  # the name digitduel.bench.batched_bridge reads
        return self.error

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("state")
        return data


@dataclass
class RoundEpoch(EpochMetrics):
    """What `on_epoch(round_index, RoundEpoch)` receives: an epoch's metrics and the total."""

    epochs: int = 0


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

    def evaluate(self, x, target, classes):
        """Pair accuracy [R] and digit accuracy [R] (float64, on the device), eval mode."""
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
        return hits.double() / n, digit_hits.double() / (2 * n)

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
            stack.evaluate(x, target, classes)
            synchronize(device)
    except Exception as err:  # noqa: BLE001 - any failure means: use another executor
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        return False, f"model {spec.name!r} does not train under torch.func.vmap ({first})"
    return True, "ok"


def _stacked(pair_sets, device, dtype):
    """[R, n, ...] input/target/classes from R PairSets."""
    x = torch.stack([p.input for p in pair_sets]).to(device)
    x = x.to(dtype) if dtype is not None else x
    target = torch.stack([p.target for p in pair_sets]).to(device)
    classes = torch.stack([p.classes for p in pair_sets]).to(device)
    return x, target, classes


def train_batched(
    spec,
    settings: TrainSettings,
    pairs_per_round: list,
    seeds: list[int],
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int, RoundEpoch], None] | None = None,
    cancel: Any = None,
    *,
    jobs: list[JobKey] | None = None,
    on_event: Callable[[Any], None] | None = None,
    dtype: torch.dtype | None = None,
    keep_state: bool = False,
) -> list[BatchedOutcome]:
    """Train len(seeds) rounds of `spec` together: round r on pairs_per_round[r] (a PairData)
    from init/generator seed seeds[r]. Per round and epoch (never per batch) it calls
    `on_epoch(r, RoundEpoch)` and emits EpochEnd for jobs[r] (default JobKey(spec.name, r))
    to `on_event`, which also gets each round's RunStarted, as serial runs do. `cancel.is_set()`
    is checked before every batch. `dtype` (float64 in tests) casts models and inputs; `keep_state` returns each
    round's final state_dict. All rounds must have the same number of pairs."""
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
        outcomes = [
            BatchedOutcome(status="ok", params=stack.n_params, device=str(device)) for _ in seeds
        ]
        for job in jobs:
            emit(
                RunStarted(job=job, model=spec.name, params=stack.n_params, epochs=settings.epochs)
            )
        report = _Reporter(jobs, settings.epochs, emit, on_epoch)
        _loop(stack, settings, pairs_per_round, seeds, device, dtype, report, cancel, outcomes)
    total = time.perf_counter() - started
    for r, outcome in enumerate(outcomes):
        outcome.wall_time_s /= rounds
        outcome.total_time_s = total / rounds
        if keep_state and outcome.status == "ok":
            outcome.state = stack.state_of(r)
    return outcomes


class _Reporter:
    """Per-epoch reporting of round r to both listeners (events and the on_epoch callback)."""

    def __init__(self, jobs, epochs, emit, on_epoch):
        self.jobs, self.epochs, self.emit, self.on_epoch = jobs, epochs, emit, on_epoch

    def __call__(self, r: int, m: EpochMetrics) -> None:
        names = ("epoch", "train_loss", "train_accuracy", "test_accuracy", "digit_accuracy")
        fields = {k: getattr(m, k) for k in names} | {"elapsed_s": m.elapsed_s}
        self.emit(EpochEnd(job=self.jobs[r], epochs=self.epochs, **fields))
        if self.on_epoch is not None:
            self.on_epoch(r, RoundEpoch(**asdict(m), epochs=self.epochs))


def _loop(stack, settings, pairs_per_round, seeds, device, dtype, report, cancel, outcomes):
    rounds = len(seeds)
    optimizer = make_optimizer(list(stack.params.values()), settings)
    gens = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    batch_augs = [a for a in settings.augment if a != "repair"]
    originals = [p.to(device) for p in pairs_per_round]
    base_train = _stacked([p.train for p in originals], device, dtype)
    train_x, train_t, train_c = base_train
    test = _stacked([p.test for p in originals], device, dtype)
    n, bs = train_x.shape[1], settings.batch_size
    if any(len(p.train.target) != n for p in originals):
        raise ValueError("batched rounds need the same number of train pairs in every round")
    rows = torch.arange(rounds, device=device)[:, None]
    live = list(range(rounds))  # rounds still training (not diverged)
    started = time.perf_counter()

    for epoch in range(settings.epochs):
        lr = settings.lr_at(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if "repair" in settings.augment:  # as the serial loop: fresh pairs from the originals
            from digitduel.data import repair_pairs

            repaired = [repair_pairs(p.train, g) for p, g in zip(originals, gens, strict=True)]
            train_x, train_t, train_c = _stacked(repaired, device, dtype)
        synchronize(device)
        t0 = time.perf_counter()
        # Accumulated on the device and read once per epoch: no per-batch host sync.
        loss_sum = torch.zeros(rounds, device=device, dtype=torch.float64)
        correct = torch.zeros(rounds, device=device, dtype=torch.int64)
        seen = 0
        order = torch.stack([torch.randperm(n, device=device, generator=g) for g in gens])
        for lo in range(0, n, bs):
            if cancel is not None and cancel.is_set():
                for r in live:
                    outcomes[r].status = "cancelled"
                return
            idx = order[:, lo : lo + bs]
            if idx.shape[1] == 1 and n > 1:
                continue  # BatchNorm cannot train on a batch of one (as the serial loop)
            x, y, c = train_x[rows, idx], train_t[rows, idx], train_c[rows, idx]
            if batch_augs:
                x, y, c = _augment(x, y, c, batch_augs, gens)
            losses, hits = stack.train_step(x, y, c)
            optimizer.zero_grad(set_to_none=True)
            # Sum of per-round means: each round's gradient is its own mean loss's gradient.
            losses.sum().backward()
            optimizer.step()
            loss_sum += losses.detach().double() * idx.shape[1]
            correct += hits
            seen += idx.shape[1]
        synchronize(device)
        step_time = time.perf_counter() - t0

        evaluated = settings.evaluates_after(epoch)
        if evaluated:
            test_acc, digit_acc = stack.evaluate(*test)
        else:  # placeholders, reported as None below
            test_acc = digit_acc = torch.zeros_like(loss_sum)
        rows_out = torch.stack(
            [loss_sum / max(seen, 1), correct.double() / max(seen, 1), test_acc, digit_acc]
        ).tolist()  # the one host read of the epoch
        elapsed = time.perf_counter() - started
        diverged = []
        for r in live:
            loss_v, train_v, test_v, digit_v = (row[r] for row in rows_out)
            metrics = EpochMetrics(
                epoch=epoch + 1,
                train_loss=loss_v,
                train_accuracy=train_v,
                test_accuracy=test_v if evaluated else None,
                digit_accuracy=digit_v if stack.has_digits and evaluated else None,
                lr=lr,
                elapsed_s=elapsed,
            )
            outcomes[r].epochs.append(metrics)
            outcomes[r].wall_time_s += step_time
            report(r, metrics)
            if not math.isfinite(loss_v):
                diverged.append(r)
        if diverged:
            _finish(stack, base_train, outcomes, diverged, "diverged")
            live = [r for r in live if r not in diverged]
        if not live:
            return
    _finish(stack, base_train, outcomes, live, "ok")


def _finish(stack, train, outcomes, which, status):
    """Final figures: train accuracy on the un-augmented train set (eval mode), test and
    digit accuracy of the last epoch, as the serial loop records them."""
    train_acc, _ = stack.evaluate(*train)
    train_acc = train_acc.tolist()
    for r in which:
        outcome = outcomes[r]
        outcome.status = status
        outcome.train_accuracy = train_acc[r]
        outcome.test_accuracy = outcome.epochs[-1].test_accuracy
        outcome.digit_accuracy = outcome.epochs[-1].digit_accuracy


def _augment(x, y, c, augment, gens):
    """Per-round augmentation with each round's own generator, as its serial run draws it."""
    from digitduel.data import augment_batch

    parts = [augment_batch(x[r], y[r], c[r], augment, g) for r, g in enumerate(gens)]
    return tuple(torch.stack(t) for t in zip(*parts, strict=True))
