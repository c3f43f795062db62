"""Tiny stand-ins for the engine tests: models registered under test-only names and synthetic
digits, so training, bench and executor tests take fractions of a second.

Imported by name (`from test_engine_fakes import ...`) from the other engine test files, and
by worker processes of the processes executor (the bench ships the defining module's name),
so it must stay importable on its own.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from digitduel.models.registry import ModelOutput, register

TINY = "test-tiny-cnn"
TINY_DIGITS = "test-tiny-digits"
TINY_MSE = "test-tiny-mse"
CRASH = "test-crash-worker"
NAN_AFTER = "test-nan-after-3"


@register(
    TINY,
    report="jomeau",
    description="test: one conv, 2 logits",
    recipe={"epochs": 2, "batch_size": 20},
)
class TinyCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x):
        h = torch.relu(nn.functional.max_pool2d(self.conv(x), 2))
        return ModelOutput(self.fc(h.flatten(1)), None)


@register(
    TINY_DIGITS,
    report="jomeau",
    description="test: per-digit classifier, predicts by digits",
    recipe={"epochs": 2, "batch_size": 20},
    predicts="digits",
    weight_sharing=True,
    aux=True,
)
class TinyDigits(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(14 * 14, 10)

    def forward(self, x):
        return ModelOutput(None, self.fc(x.flatten(2)))


@register(
    TINY_MSE, report="jomeau", description="test: linear, one output unit", recipe={"loss": "mse"}
)
class TinyMse(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 14 * 14, 1)

    def forward(self, x):
        return ModelOutput(self.fc(x.flatten(1)), None)


@register(CRASH, report="jomeau", description="test: kills its own process", recipe={"epochs": 1})
class CrashWorker(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 14 * 14, 2)

    def forward(self, x):
        if self.training:  # the bench's eval-mode dry run before training must survive
            os._exit(3)  # a segfault or OOM kill, as far as the parent can tell
        return ModelOutput(self.fc(x.flatten(1)), None)


@register(
    NAN_AFTER,
    report="jomeau",
    description="test: loss turns NaN after 3 steps",
    recipe={"epochs": 3, "batch_size": 20},
)
class NanAfter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 14 * 14, 2)
        self.steps = 0

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if self.training:
            self.steps += 1
            if self.steps > 3:
                out = out * float("nan")
        return ModelOutput(out, None)


def synthetic_mnist(n_train: int = 400, n_test: int = 400, seed: int = 0):
    """Learnable fake digits: one random 14x14 template per class plus noise, 0..255 scale."""
    from digitduel.data import DigitSplit, MnistData

    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(10, 14, 14, generator=g) * 255

    def split(n):
        labels = torch.randint(0, 10, (n,), generator=g)
        noise = torch.rand(n, 14, 14, generator=g) * 120
        return DigitSplit((templates[labels] * 0.6 + noise).float(), labels)

    return MnistData(split(n_train), split(n_test), source="dir", path="synthetic", verified=False)
