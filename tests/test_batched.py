"""Batched rounds must train exactly like R separate runs (float64, dropout off).

The reference is a plain loop written here from scratch (model seeded by torch.manual_seed,
batch order from torch.Generator().manual_seed(seed), a stock torch.optim optimiser), not
digitduel's serial trainer, so a shared mistake cannot hide.
"""

from __future__ import annotations

import statistics
import threading

import pytest
import torch
from torch import nn

from digitduel.data import PairData, PairSet
from digitduel.models.registry import ModelOutput, ModelSpec
from digitduel.settings import TrainSettings
from digitduel.training.batched import can_batch, train_batched
from digitduel.training.events import EpochEnd, JobKey, RunStarted
from digitduel.training.objective import compute_loss, predict
from digitduel.training.trainer import train_run

# --- synthetic pairs (digitduel's PairData: template 'digits' plus noise) ---------------


TEMPLATES = torch.Generator().manual_seed(1234)
DIGIT_TEMPLATES = torch.randn(10, 14, 14, generator=TEMPLATES)


def fake_pairs(n: int, seed: int, noise: float = 1.0) -> PairData:
    """Learnable pairs: each 'digit' is its class template plus noise."""
    g = torch.Generator().manual_seed(seed)

    def one() -> PairSet:
        classes = torch.randint(0, 10, (n, 2), generator=g)
        x = DIGIT_TEMPLATES[classes] + noise * torch.randn(n, 2, 14, 14, generator=g)
        return PairSet(x, (classes[:, 0] <= classes[:, 1]).long(), classes)

    return PairData(one(), one(), mean=0.0, std=1.0)


# --- small test models (not registered: ModelSpec built directly) ------------------------


class BNNet(nn.Module):
    """Conv + BatchNorm2d + BatchNorm1d + dropout, with comparison and digit heads."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()
        )
        self.digit = nn.Sequential(
            nn.Linear(6 * 6 * 6, 32),
            nn.ReLU(),
            nn.BatchNorm1d(32),
            nn.Dropout(p),
            nn.Linear(32, 10),
        )
        self.compare = nn.Linear(20, 2)

    def forward(self, x):
        b = x.shape[0]
        d = self.digit(self.features(x.reshape(b * 2, 1, 14, 14))).reshape(b, 2, 10)
        return ModelOutput(self.compare(d.reshape(b, 20)), d)


class PlainNet(nn.Module):
    """No BatchNorm: a single-score (mse/bce) model."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(392, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, x):
        return ModelOutput(self.net(x), None)


class ItemNet(PlainNet):
    """Data-dependent Python control flow: cannot run under vmap."""

    def forward(self, x):
        if x.sum().item() > 0:
            return ModelOutput(self.net(x), None)
        return ModelOutput(-self.net(x), None)


def spec_of(factory, name, predicts="compare", **kwargs) -> ModelSpec:
    return ModelSpec(
        name=name,
        report="sgd",
        description="test model",
        factory=factory,
        recipe={},
        predicts=predicts,
        kwargs=kwargs,
    )


BN_SPEC = spec_of(BNNet, "test-batched-bn", p=0.0)


# --- the reference: R plain sequential runs ----------------------------------------------


def sequential_run(spec, settings, pairs, seed, dtype=torch.float64):
    torch.manual_seed(seed)
    model = spec.create().to(dtype)
    params = model.parameters()
    if settings.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    elif settings.optimizer == "rmsprop":  # digitduel's RMSprop has no momentum
        opt = torch.optim.RMSprop(params, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    g = torch.Generator().manual_seed(seed)
    x, t, c = pairs.train.input.to(dtype), pairs.train.target, pairs.train.classes
    n = x.shape[0]
    for epoch in range(settings.epochs):
        for group in opt.param_groups:
            group["lr"] = settings.lr_at(epoch)
        model.train()
        perm = torch.randperm(n, generator=g)
        for lo in range(0, n, settings.batch_size):
            idx = perm[lo : lo + settings.batch_size]
            out = model(x[idx])
            s = settings
            loss = compute_loss(out, t[idx], c[idx], s.loss, s.aux_weight, s.main_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        out = model(pairs.test.input.to(dtype))
        acc = (predict(out, spec.predicts, settings.loss) == pairs.test.target).double().mean()
    return model.state_dict(), acc.item()


def max_state_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


SEEDS = [3, 11, 42]

OPTIMISERS = {
    "sgd": dict(optimizer="sgd", lr=0.09, lr2=0.01, lr_switch=0.5, momentum=0.9, weight_decay=5e-4),
    "adam": dict(optimizer="adam", lr=3e-3, lr2=1e-3, lr_switch=0.5, weight_decay=1e-4),
    "rmsprop": dict(optimizer="rmsprop", lr=1e-3, lr2=3e-4, lr_switch=0.5, weight_decay=1e-4),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_batched_parameters_and_bn_stats_match_sequential_runs(name):
    settings = TrainSettings(epochs=2, batch_size=10, aux_weight=0.75, **OPTIMISERS[name])
    pairs = [fake_pairs(40, seed=100 + r) for r in range(len(SEEDS))]
    outcomes = train_batched(
        BN_SPEC, settings, pairs, SEEDS, "cpu", dtype=torch.float64, keep_state=True
    )
    assert [o.status for o in outcomes] == ["ok"] * len(SEEDS)
    for outcome, seed, data in zip(outcomes, SEEDS, pairs, strict=True):
        reference, acc = sequential_run(BN_SPEC, settings, data, seed)
        # state_dict holds the weights and BatchNorm running mean/var/count of this round.
        assert "features.1.running_mean" in outcome.state
        assert max_state_diff(outcome.state, reference) < 1e-8
        assert outcome.test_accuracy == pytest.approx(acc, abs=1e-12)
    # The rounds really differ (own init, own data): otherwise the test proves little.
    assert max_state_diff(outcomes[0].state, outcomes[1].state) > 1e-3


def test_single_score_model_without_buffers_matches():
    spec = spec_of(PlainNet, "test-batched-plain")
    settings = TrainSettings(optimizer="adam", lr=1e-2, epochs=3, batch_size=8, loss="bce")
    pairs = [fake_pairs(24, seed=r) for r in range(2)]
    outcomes = train_batched(spec, settings, pairs, [5, 6], dtype=torch.float64, keep_state=True)
    for outcome, seed, data in zip(outcomes, [5, 6], pairs, strict=True):
        reference, _ = sequential_run(spec, settings, data, seed)
        assert max_state_diff(outcome.state, reference) < 1e-8
        assert len(outcome.epochs) == 3 and outcome.digit_accuracy is None


@pytest.fixture
def float64_default():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


SERIAL_CASES = {
    "sgd-schedule-augment": TrainSettings(
        optimizer="sgd", lr=0.09, lr2=1e-3, lr_switch=0.6, momentum=0.5, weight_decay=5e-4,
        epochs=3, batch_size=10, aux_weight=0.5, augment=["swap", "crop_flip", "repair"],
    ),
    "adam-eval-every-2": TrainSettings(
        optimizer="adam", lr=0.01, epochs=3, batch_size=10, eval_every=2
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", SERIAL_CASES)
def test_batched_reports_what_the_serial_trainer_reports(float64_default, case):
    # digitduel's own serial trainer (float64 through the default dtype): every epoch's loss
    # and accuracies (None where eval_every skips the test set), and the final figures,
    # agree round by round.
    settings = SERIAL_CASES[case]
    pairs = [fake_pairs(40, seed=70 + r) for r in range(2)]
    for data in pairs:
        for part in (data.train, data.test):
            part.input = part.input.double()
    batched = train_batched(BN_SPEC, settings, pairs, [8, 9])
    for outcome, seed, data in zip(batched, [8, 9], pairs, strict=True):
        serial = train_run(BN_SPEC, settings, data, seed=seed, channels_last=False)
        assert outcome.status == serial.status == "ok"
        evaluated = [settings.evaluates_after(e) for e in range(settings.epochs)]
        assert [e.test_accuracy is not None for e in outcome.epochs] == evaluated
        for a, b in zip(outcome.epochs, serial.epochs, strict=True):
            assert a.train_loss == pytest.approx(b.train_loss, abs=1e-9)
            assert (a.train_accuracy, a.lr) == pytest.approx((b.train_accuracy, b.lr), abs=1e-12)
            for mine, theirs in (
                (a.test_accuracy, b.test_accuracy),
                (a.digit_accuracy, b.digit_accuracy),
            ):
                assert (mine is None) == (theirs is None)
                assert mine is None or mine == pytest.approx(theirs, abs=1e-12)
        assert outcome.train_accuracy == pytest.approx(serial.train_accuracy, abs=1e-12)
        assert outcome.test_accuracy == pytest.approx(serial.test_accuracy, abs=1e-12)


def test_mean_accuracy_matches_sequential_within_round_std():
    # float32, dropout on: rounds differ by their dropout masks, so compare the statistics.
    spec = spec_of(BNNet, "test-batched-dropout", p=0.2)
    settings = TrainSettings(optimizer="adam", lr=1e-2, epochs=5, batch_size=20, aux_weight=1.0)
    seeds = list(range(4))
    pairs = [fake_pairs(120, seed=50 + s, noise=0.5) for s in seeds]
    batched = [o.test_accuracy for o in train_batched(spec, settings, pairs, seeds)]
    serial = [
        sequential_run(spec, settings, d, s, dtype=torch.float32)[1]
        for d, s in zip(pairs, seeds, strict=True)
    ]
    spread = max(statistics.stdev(batched), statistics.stdev(serial), 0.01)
    assert statistics.mean(serial) > 0.7  # the task was learnt at all
    assert abs(statistics.mean(batched) - statistics.mean(serial)) <= 2 * spread


def test_events_per_round_per_epoch_and_digit_accuracy():
    settings = TrainSettings(optimizer="adam", epochs=3, batch_size=10, aux_weight=1.0)
    events = []
    jobs = [JobKey("bn", 4), JobKey("bn", 7)]
    pairs = [fake_pairs(30, 1), fake_pairs(30, 2)]
    outcomes = train_batched(
        BN_SPEC, settings, pairs, [1, 2], "cpu", jobs=jobs, on_event=events.append
    )
    calls = [(jobs.index(e.job), e.epoch, e.epochs) for e in events if isinstance(e, EpochEnd)]
    assert sorted(calls) == [(r, e, 3) for r in (0, 1) for e in (1, 2, 3)]
    started = [e.job for e in events if isinstance(e, RunStarted)]
    ends = sorted((e.job.round, e.epoch) for e in events if isinstance(e, EpochEnd))
    assert started == jobs
    assert ends == [(r, e) for r in (4, 7) for e in (1, 2, 3)]
    for o in outcomes:
        assert o.digit_accuracy is not None and 0 <= o.digit_accuracy <= 1
        assert [e.epoch for e in o.epochs] == [1, 2, 3]
        assert o.params == sum(p.numel() for p in BNNet().parameters())
        assert "state" not in o.to_dict()


def test_diverged_round_is_marked_and_others_unharmed():
    settings = TrainSettings(optimizer="sgd", lr=0.05, momentum=0.9, epochs=2, batch_size=10)
    pairs = [fake_pairs(30, seed=r) for r in range(3)]
    pairs[1].train.input[0, 0, 0, 0] = float("nan")  # poisons round 1's first epoch
    outcomes = train_batched(
        BN_SPEC, settings, pairs, [0, 1, 2], dtype=torch.float64, keep_state=True
    )
    assert [o.status for o in outcomes] == ["ok", "diverged", "ok"]
    assert len(outcomes[1].epochs) == 1  # frozen at the epoch it diverged, as a serial run
    for r in (0, 2):
        reference, _ = sequential_run(BN_SPEC, settings, pairs[r], r)
        assert max_state_diff(outcomes[r].state, reference) < 1e-8


def test_cancel_stops_all_rounds_between_batches():
    cancel = threading.Event()
    settings = TrainSettings(epochs=50, batch_size=10)
    outcomes = train_batched(
        BN_SPEC,
        settings,
        [fake_pairs(30, 1), fake_pairs(30, 2)],
        [1, 2],
        on_event=lambda e: cancel.set() if isinstance(e, EpochEnd) else None,
        cancel=cancel,
    )
    assert [o.status for o in outcomes] == ["cancelled", "cancelled"]
    assert all(len(o.epochs) == 1 for o in outcomes)


def test_can_batch_says_why_not():
    settings = TrainSettings(loss="bce")
    ok, reason = can_batch(spec_of(PlainNet, "test-batched-ok"), settings)
    assert ok, reason
    ok, reason = can_batch(spec_of(ItemNet, "test-batched-item"), settings)
    assert not ok
    assert "test-batched-item" in reason and "vmap" in reason and "\n" not in reason


@pytest.mark.parametrize("name", ["sgd-convnet", "sgd-ws-aux"])
def test_real_models_with_dropout_off_match_sequential_runs(name):
    # The SGD report's ConvNet (BatchNorm1d, dropout) and its weight-sharing + aux variant.
    from dataclasses import replace

    from digitduel.models.registry import get_spec
    from digitduel.settings import resolve_train

    spec = get_spec(name)
    spec = replace(spec, kwargs={**spec.kwargs, "dropout": 0.0})
    settings = resolve_train(spec.recipe, {"epochs": 2, "lr_switch": 0.5, "batch_size": 10})
    pairs = [fake_pairs(20, seed=r) for r in range(2)]
    outcomes = train_batched(spec, settings, pairs, [1, 2], dtype=torch.float64, keep_state=True)
    for outcome, seed, data in zip(outcomes, [1, 2], pairs, strict=True):
        reference, acc = sequential_run(spec, settings, data, seed)
        assert max_state_diff(outcome.state, reference) < 1e-8
        assert outcome.test_accuracy == pytest.approx(acc, abs=1e-12)


def test_rounds_of_different_sizes_are_refused_with_a_clear_error():
    settings = TrainSettings(epochs=1, batch_size=10)
    pairs = [fake_pairs(30, 1), fake_pairs(20, 2)]
    with pytest.raises(ValueError, match="same number of train pairs"):
        train_batched(BN_SPEC, settings, pairs, [1, 2])
