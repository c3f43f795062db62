"""The models of Banjac, Karalupov, Yorusun (section 2 "Architectures").

2.1 Simple CNN: two convolutional layers for feature extraction and a fully connected layer
    classifying a digit (0-9) with cross-entropy; a pair is predicted by comparing the two
    predicted digits "in the script".
2.2 Weight sharing: a siamese network, the simple CNN once per digit (the same module), and
    an additional fully connected layer comparing the digits.
2.3 Weight sharing + auxiliary loss: the digit cross-entropies added to the comparison loss.
2.4 / 2.5 No weight sharing (with / without auxiliary loss): two independent simple CNNs.
Training (section 3): Adam, lr 1e-3, 200 epochs, batch 1000, cross-entropy; optional data
augmentation: random crop with padding 4 and random horizontal flip (Fig. 2).

Choices (docs/models.md): the report gives no layer sizes. We use a small, typical course
CNN: conv(1 -> 32, k3) -> ReLU -> max-pool 2 -> conv(32 -> 64, k3) -> ReLU -> max-pool 2
-> 256 -> fc 10; the comparison layer is fc(20 -> 2) on the two digit outputs.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from digitduel.models.layers import two_branches
from digitduel.models.registry import ModelOutput, register

RECIPE = dict(optimizer="adam", lr=1e-3, epochs=200, batch_size=1000, loss="ce")


class DigitCNN(nn.Module):
    """2.1: two convolutions and one fully connected layer to 10 digit classes."""

    def __init__(self, c1: int = 32, c2: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3)  # 14 -> 12 -> pool 6
        self.conv2 = nn.Conv2d(c1, c2, 3)  # 6 -> 4 -> pool 2
        self.fc = nn.Linear(c2 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


@register(
    "banjac-digit",
    report="banjac",
    recipe=RECIPE,
    predicts="digits",
    weight_sharing=True,
    aux=True,
    description="Simple CNN digit classifier; pairs compared in code",
)
class DigitClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.cnn = DigitCNN()

    def forward(self, x):
        return ModelOutput(compare=None, digits=two_branches(self.cnn, self.cnn, x))


@register(
    "banjac-nows-aux",
    report="banjac",
    recipe=dict(RECIPE, aux_weight=1.0),
    shared=False,
    aux=True,
    description="No weight sharing + auxiliary digit losses",
)
@register(
    "banjac-nows",
    report="banjac",
    recipe=RECIPE,
    shared=False,
    description="No weight sharing: two independent simple CNNs, FC 20->2",
)
@register(
    "banjac-ws-aux",
    report="banjac",
    recipe=dict(RECIPE, aux_weight=1.0),
    weight_sharing=True,
    aux=True,
    description="Weight sharing + auxiliary digit losses",
)
@register(
    "banjac-ws",
    report="banjac",
    recipe=RECIPE,
    weight_sharing=True,
    description="Weight sharing: one simple CNN for both digits, FC 20->2",
)
class PairNet(nn.Module):
    def __init__(self, shared: bool = True):
        super().__init__()
        self.first = DigitCNN()
        self.second = self.first if shared else DigitCNN()  # shared: the same module object
        self.comparator = nn.Linear(20, 2)

    def forward(self, x):
        digits = two_branches(self.first, self.second, x)
        return ModelOutput(compare=self.comparator(digits.flatten(1)), digits=digits)
