"""Baseline, Siamese2 and Siamese10 of Borba, de Champs, Grognuz (section 2 "Models",
sizes from section 3 "Results").

Baseline (2.1): conv(2 -> 64, k4), max pool k4, ReLU, BatchNorm; conv(64 -> 64, k4), ReLU,
BatchNorm; two fully connected layers of 128 units with ReLU; a dense layer with 2 outputs.
Siamese (2.2): per digit, shared: conv(1 -> c1), max pool k2, ReLU, BatchNorm; conv(c1 -> c2)
(no pool), ReLU, BatchNorm; fully connected (h units), ReLU, BatchNorm; dense 10, ReLU. Both
branches concatenated -> dense 2 -> ReLU. Siamese2: c1/c2/h = 64/8/64, target and digit
losses weighted equally; Siamese10: 64/16/64, digit losses only, compare predicted digits.
Training: SGD, cross-entropy; lr 0.1 (Baseline, Siamese10) and 1.0 (Siamese2).

Choices (docs/models.md):
- A kernel-4 max pool with PyTorch's default stride 4 turns 11x11 into 2x2, where the next
  kernel-4 convolution cannot run. We keep both stated kernels and use stride 1 for the
  pool (11 -> 8, then the conv 8 -> 5): 64 x 5 x 5 = 1600 features.
- The siamese convolutions' kernel is not given; "a similar base as the baseline": 4
  (14 -> 11 -> pool 5 -> 2).
- The ReLU after the 10-unit layer and after the 2-unit output (ReLU on logits, which can
  kill the gradient) is kept by default as the report describes it; `final_relu=False`
  drops both.
- Siamese10 trains the digit losses only, so its unused comparison layer is not built.
- Epochs: the report's Figure 2 discusses epoch 24 and "the last epoch": 25 epochs. The
  batch size is not stated: 100, as the course's other reports.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from digitduel.models.layers import two_branches
from digitduel.models.registry import ModelOutput, register


def recipe(lr: float, **extra) -> dict:
    return dict(optimizer="sgd", lr=lr, epochs=25, batch_size=100, loss="ce", **extra)


@register(
    "borba-baseline",
    report="borba",
    recipe=recipe(0.1),
    description="Baseline: 2 convs (64 channels, k4) with BatchNorm, 1600->128->128->2",
)
class Baseline(nn.Module):
    def __init__(self, channels: int = 64, hidden: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(2, channels, 4)
        self.pool = nn.MaxPool2d(4, stride=1)  # see the module docstring
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 4)
        self.bn2 = nn.BatchNorm2d(channels)
        self.fc1 = nn.Linear(channels * 5 * 5, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x):
        x = self.bn1(F.relu(self.pool(self.conv1(x))))
        x = self.bn2(F.relu(self.conv2(x))).flatten(1)
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        return ModelOutput(compare=self.out(x), digits=None)


class SiameseBranch(nn.Module):
    def __init__(self, c1: int, c2: int, hidden: int, final_relu: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 4)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 4)
        self.bn2 = nn.BatchNorm2d(c2)
        self.fc = nn.Linear(c2 * 2 * 2, hidden)
        self.bn3 = nn.BatchNorm1d(hidden)
        self.out = nn.Linear(hidden, 10)
        self.final_relu = final_relu

    def forward(self, x):
        x = self.bn1(F.relu(F.max_pool2d(self.conv1(x), 2)))
        x = self.bn2(F.relu(self.conv2(x))).flatten(1)
        x = self.bn3(F.relu(self.fc(x)))
        x = self.out(x)
        return F.relu(x) if self.final_relu else x


@register(
    "borba-siamese10",
    report="borba",
    recipe=recipe(0.1, aux_weight=1.0, main_weight=0.0),
    predicts="digits",
    weight_sharing=True,
    aux=True,
    c2=16,
    comparator=False,
    description="Siamese10: shared branch (64/16/64), digit losses only, compare predicted digits",
)
@register(
    "borba-siamese2",
    report="borba",
    recipe=recipe(1.0, aux_weight=1.0, main_weight=1.0),
    weight_sharing=True,
    aux=True,
    c2=8,
    description="Siamese2: shared branch (64/8/64), target and digit losses weighted equally",
)
class Siamese(nn.Module):
    def __init__(
        self,
        c1: int = 64,
        c2: int = 8,
        hidden: int = 64,
        final_relu: bool = True,
        comparator: bool = True,
    ):
        super().__init__()
        self.branch = SiameseBranch(c1, c2, hidden, final_relu)
        self.comparator = nn.Linear(20, 2) if comparator else None
        self.final_relu = final_relu

    def forward(self, x):
        digits = two_branches(self.branch, self.branch, x)
        if self.comparator is None:
            return ModelOutput(compare=None, digits=digits)
        compare = self.comparator(digits.flatten(1))
        return ModelOutput(compare=F.relu(compare) if self.final_relu else compare, digits=digits)
