"""ConvNet, weight sharing, weight sharing + auxiliary loss: the SGD report
("Convolutional Neural Network and improvements for MNIST comparison"), section 2, Table 1.

Table 1, read line by line (both the ConvNet module and the final MLP):
  Conv2d(in, 32, k=3) -> max_pool2d(2, 2) -> relu        32x12x12 -> 32x6x6
  Conv2d(32, 64, k=3) -> max_pool2d(2, 2) -> relu        64x4x4 -> 64x2x2
  view(-1) 256 -> Linear(256, 200) -> relu -> BatchNorm1d(200) -> dropout(0.2)
  Linear(200, 100) -> relu -> BatchNorm1d(100) -> dropout(0.2)
  Linear(100, 2 | 10) -> softmax
  final MLP: cat(out_im1, out_im2) 20 -> Linear(20, 150) -> relu -> BatchNorm1d(150)
  -> dropout(0.2) -> Linear(150, 50) -> relu -> BatchNorm1d(50) -> dropout(0.2)
  -> Linear(50, 2) -> softmax

Choices (docs/models.md): the table's third column says BatchNorm1d(200) after
Linear(200, 100), which cannot run (100 features): read as BatchNorm1d(100). The final
softmax of each output is the one inside the cross-entropy loss, so the model returns the
pre-softmax logits to the loss; the digit outputs ARE softmaxed before they feed the final
MLP, as the table shows.
Training (section 3): cross-entropy, SGD 9e-2 for 3/5 of 50 epochs then 1e-3, weight decay
5e-4, batch 100; with aux loss alpha = 0.75, main gamma = 1.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from digitduel.models.layers import two_branches
from digitduel.models.registry import ModelOutput, register

RECIPE = dict(
    optimizer="sgd",
    lr=9e-2,
    lr2=1e-3,
    lr_switch=0.6,
    weight_decay=5e-4,
    epochs=50,
    batch_size=100,
    loss="ce",
)


class ConvModule(nn.Module):
    """Table 1's ConvNet module: two conv/pool/relu stages and a 3-layer head."""

    def __init__(self, in_channels: int, out_features: int, dropout: float = 0.2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.fc1 = nn.Linear(256, 200)
        self.bn1 = nn.BatchNorm1d(200)
        self.fc2 = nn.Linear(200, 100)
        self.bn2 = nn.BatchNorm1d(100)  # the table's "BatchNorm1d(200)" here is a typo
        self.fc3 = nn.Linear(100, out_features)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=2, stride=2))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2, stride=2))
        x = x.flatten(1)
        x = self.drop(self.bn1(F.relu(self.fc1(x))))
        x = self.drop(self.bn2(F.relu(self.fc2(x))))
        return self.fc3(x)  # logits; the softmax is applied by the loss / before the MLP


@register(
    "sgd-convnet",
    report="sgd",
    recipe=RECIPE,
    description="Baseline ConvNet on the 2-channel pair (Table 1, column 1)",
)
class ConvNet(nn.Module):
    def __init__(self, dropout: float = 0.2):
        super().__init__()
        self.net = ConvModule(2, 2, dropout)

    def forward(self, x):
        return ModelOutput(compare=self.net(x), digits=None)


@register(
    "sgd-ws-aux",
    report="sgd",
    recipe=dict(RECIPE, aux_weight=0.75, main_weight=1.0),
    weight_sharing=True,
    aux=True,
    description="Weight sharing + auxiliary digit loss (alpha 0.75, gamma 1)",
)
@register(
    "sgd-ws",
    report="sgd",
    recipe=RECIPE,
    weight_sharing=True,
    description="One ConvNet module shared by both digits (10-way), softmaxed, then a 3-layer MLP",
)
class WeightSharing(nn.Module):
    def __init__(self, dropout: float = 0.2):
        super().__init__()
        self.branch = ConvModule(1, 10, dropout)
        self.fc1 = nn.Linear(20, 150)
        self.bn1 = nn.BatchNorm1d(150)
        self.fc2 = nn.Linear(150, 50)
        self.bn2 = nn.BatchNorm1d(50)
        self.fc3 = nn.Linear(50, 2)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        digits = two_branches(self.branch, self.branch, x)  # [B, 2, 10], same module object
        h = F.softmax(digits, dim=-1).flatten(1)  # cat(out_im1, out_im2): 20
        h = self.drop(self.bn1(F.relu(self.fc1(h))))
        h = self.drop(self.bn2(F.relu(self.fc2(h))))
        return ModelOutput(compare=self.fc3(h), digits=digits)
