"""The trainer: determinism, divergence, cancel, events, schedule, devices."""

from __future__ import annotations

import threading

import pytest
import torch
from test_engine_fakes import NAN_AFTER, TINY, TINY_DIGITS, TINY_MSE, synthetic_mnist

from digitduel.data import draw_pairs
from digitduel.errors import DeviceError
from digitduel.models.registry import get_spec
from digitduel.settings import resolve_train
from digitduel.training.device import resolve_device
from digitduel.training.events import EpochEnd, JobKey, RunStarted
from digitduel.training.trainer import train_run


@pytest.fixture(scope="module")
def pairs():
    return draw_pairs(synthetic_mnist(), 100, seed=1)


def _run(name, pairs, seed=3, **over):
    spec = get_spec(name)
    return train_run(spec, resolve_train(spec.recipe, over), pairs, seed=seed)


def _figures(outcome):
    """Everything a run measured except wall-clock timings."""
    return [
        (e.train_loss, e.train_accuracy, e.test_accuracy, e.digit_accuracy, e.lr)
        for e in outcome.epochs
    ] + [(outcome.train_accuracy, outcome.test_accuracy, outcome.status)]


def test_same_seed_same_device_same_result(pairs):
    a, b = _run(TINY, pairs, seed=7, epochs=3), _run(TINY, pairs, seed=7, epochs=3)
    assert a.status == "ok" and len(a.epochs) == 3
    assert _figures(a) == _figures(b)
    c = _run(TINY, pairs, seed=8, epochs=3)
    assert _figures(c) != _figures(a)  # the seed matters: init and batch order change


def test_run_does_not_disturb_the_callers_rng(pairs):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _run(TINY, pairs)
    assert torch.equal(torch.rand(3), expected)


def test_digit_model_reports_digit_accuracy(pairs):
    out = _run(TINY_DIGITS, pairs, epochs=3)
    assert out.status == "ok"
    assert out.digit_accuracy is not None and 0 <= out.digit_accuracy <= 1
    assert all(e.digit_accuracy is not None for e in out.epochs)
    assert out.test_accuracy > 0.6  # synthetic digits are learnable: the loop really trains


def test_huge_learning_rate_diverges_instead_of_crashing(pairs):
    out = _run(TINY_MSE, pairs, optimizer="sgd", lr=10.0, batch_size=10, epochs=5)
    assert out.status == "diverged"
    assert len(out.epochs) < 5  # stopped at the epoch the loss stopped being finite


def test_nan_loss_mid_epoch_is_diverged(pairs):
    out = _run(NAN_AFTER, pairs)
    assert out.status == "diverged" and len(out.epochs) == 1


def test_events_per_epoch_and_cancel_within_a_batch(pairs):
    spec = get_spec(TINY)
    settings = resolve_train(spec.recipe, {"epochs": 4})
    events, cancel = [], threading.Event()

    def listen(event):
        events.append(event)
        if isinstance(event, EpochEnd) and event.epoch == 2:
            cancel.set()

    out = train_run(
        spec, settings, pairs, seed=1, job=JobKey("c", 3), on_event=listen, cancel=cancel
    )
    assert out.status == "cancelled"
    assert isinstance(events[0], RunStarted) and events[0].job == JobKey("c", 3)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2]


def test_step_schedule_switches_learning_rate(pairs):
    out = _run(TINY, pairs, optimizer="sgd", lr=0.1, lr2=0.001, lr_switch=0.5, epochs=4)
    assert [e.lr for e in out.epochs] == [0.1, 0.1, 0.001, 0.001]


def test_wall_time_counts_training_only(pairs):
    out = _run(TINY, pairs, epochs=2)
    assert 0 < out.wall_time_s <= out.total_time_s
    assert out.params == sum(p.numel() for p in get_spec(TINY).create().parameters())


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError) as err:
            resolve_device("cuda")
        assert "CUDA is not available" in str(err.value) and "\n" not in str(err.value)


def test_eval_every_skips_test_evaluations_but_not_training(pairs):
    every = _run(TINY_DIGITS, pairs, seed=5, epochs=5)
    sparse = _run(TINY_DIGITS, pairs, seed=5, epochs=5, eval_every=2)
    assert [e.test_accuracy is not None for e in sparse.epochs] == [False, True, False, True, True]
    assert [e.digit_accuracy is not None for e in sparse.epochs] == [False, True, False, True, True]
    # the evaluations change nothing about training: same losses, same final figures
    assert [e.train_loss for e in sparse.epochs] == [e.train_loss for e in every.epochs]
    assert sparse.test_accuracy == every.test_accuracy
    assert sparse.epochs[1].test_accuracy == every.epochs[1].test_accuracy


def test_evaluation_does_not_depend_on_its_chunk_size(pairs, monkeypatch):
    """The test set is evaluated in chunks (250 pairs on CPU); a chunk that does not divide
    the set, or one chunk for all of it, must count every pair and digit exactly once."""
    import digitduel.training.trainer as trainer

    figures = []
    for chunk in (7, 250, 10_000):
        monkeypatch.setattr(trainer, "EVAL_BATCH_CPU", chunk)
        out = _run(TINY_DIGITS, pairs, seed=5, epochs=2)
        figures.append([(e.test_accuracy, e.digit_accuracy) for e in out.epochs])
        figures[-1].append((out.train_accuracy, out.test_accuracy))
    assert figures[0] == figures[1] == figures[2]
