"""The benchmark of Cappelletti, Dufour, Huguelet (section 2 "The architectures", training
set-up from section 3 "Benchmark").

- FCNN: 392 -> 1000 -> 1000 -> 2, with dropout, with BatchNorm after each hidden layer, or
  both.
- CNN3: convolutions with kernels 3, 5, 5 and channels 2 -> 8 -> 16 -> 16, then a fully
  connected layer to the 2 classes; CNN4: the same three convolutions and a fourth that
  aggregates the 16 channels into the 2 classes. Each with or without BatchNorm after the
  first three convolutions. Every basic model in ReLU, Tanh or LeakyReLU ("tested with 3
  different activation functions after each layer").
- ResNet: 1x1 convolution to 12 channels, 6 blocks of [conv 5x5 pad 2, ReLU, conv 5x5 pad 2,
  + input, ReLU], an average, ReLU, a fully connected layer.
- Siamese: a shared sub-network per digit with 10 outputs (a small CNN: conv, max-pool,
  ReLU, conv, max-pool, ReLU, fc 100, ReLU, fc 10; or the ResNet with 10 outputs), the two
  concatenated into a fully connected layer to 2 classes; with or without auxiliary loss.
Training: Adam, cross-entropy, 50 epochs, batch 250; lr 1e-3 (FCNN), 2e-4 (FCNNs trained
with dropout), 4e-4 (convolutional), 5e-3 (ResNet, Siamese).

Choices (docs/models.md):
- "activation after each layer" includes the CNNs' output layer, as the authors' code does
  (an activation on the final logits; with ReLU it can kill the gradient, which is the
  likely cause of the report's 0.59 +- 0.31 for the basic CNNs). `final_activation=False`
  drops it. The FCNNs have no activation on their output.
- Dropout probability is not given: 0.5.
- The ResNet "averages over the channels": a global average over the 14x14 positions of
  each of the 12 channels (as the authors' code does), giving 12 features.
- Siamese CNN kernels are not given: 3 and 3 with 32 and 64 channels (2x2x64 = 256 features).
- Auxiliary loss: the digit cross-entropies added to the target loss with weight 1 (the
  authors alternate two optimiser steps instead; one summed loss is the course's standard).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from digitduel.models.layers import activation, two_branches
from digitduel.models.registry import ModelOutput, register

ACTS = ("relu", "tanh", "leakyrelu")


def recipe(lr: float, **extra) -> dict:
    return dict(optimizer="adam", lr=lr, epochs=50, batch_size=250, loss="ce", **extra)


class FCNN(nn.Module):
    def __init__(self, act: str = "relu", dropout: float = 0.0, batchnorm: bool = False):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in in (392, 1000):
            layers.append(nn.Linear(n_in, 1000))
            if batchnorm:
                layers.append(nn.BatchNorm1d(1000))
            layers.append(activation(act))
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(1000, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return ModelOutput(compare=self.net(x), digits=None)


class CNN(nn.Module):
    """CNN3 (`conv4=False`) and CNN4 (`conv4=True`)."""

    def __init__(
        self,
        act: str = "relu",
        batchnorm: bool = False,
        conv4: bool = False,
        final_activation: bool = True,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out, k in ((2, 8, 3), (8, 16, 5), (16, 16, 5)):  # 14 -> 12 -> 8 -> 4
            layers += [nn.Conv2d(c_in, c_out, k), activation(act)]
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
        if conv4:
            layers += [nn.Conv2d(16, 2, 4), nn.Flatten()]  # 4x4 -> 1x1, 2 channels = 2 classes
        else:
            layers += [nn.Flatten(), nn.Linear(16 * 4 * 4, 2)]
        if final_activation:
            layers.append(activation(act))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return ModelOutput(compare=self.net(x), digits=None)


BASIC = {
    # name: (class, kwargs, lr, description)
    "fcnn": (FCNN, {}, 1e-3, "FCNN 392-1000-1000-2"),
    "fcnn-dropout": (FCNN, {"dropout": 0.5}, 2e-4, "FCNN with dropout"),
    "fcnn-bn": (FCNN, {"batchnorm": True}, 1e-3, "FCNN with BatchNorm after each hidden layer"),
    "fcnn-bn-dropout": (
        FCNN,
        {"batchnorm": True, "dropout": 0.5},
        2e-4,
        "FCNN with BatchNorm and dropout",
    ),
    "cnn3": (CNN, {}, 4e-4, "CNN: convs k3,5,5 (2->8->16->16), FC to 2"),
    "cnn3-bn": (CNN, {"batchnorm": True}, 4e-4, "CNN3 with BatchNorm after each conv"),
    "cnn4": (CNN, {"conv4": True}, 4e-4, "CNN: convs k3,5,5 and a 4th conv to 2 classes"),
    "cnn4-bn": (
        CNN,
        {"conv4": True, "batchnorm": True},
        4e-4,
        "CNN4 with BatchNorm after the first 3 convs",
    ),
}
for _act in ACTS:
    for _name, (_cls, _kw, _lr, _desc) in BASIC.items():
        _suffix = "" if _act == "relu" else f"-{_act}"
        register(
            f"cappelletti-{_name}{_suffix}",
            report="cappelletti",
            recipe=recipe(_lr),
            description=f"{_desc} ({_act})",
            act=_act,
            **_kw,
        )(_cls)


class ResBlock(nn.Module):
    def __init__(self, channels: int = 12, kernel: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))) + x)


class ResNetBody(nn.Module):
    """1x1 conv to 12 channels, 6 residual blocks, average, ReLU, fully connected."""

    def __init__(self, in_channels: int, out_features: int, channels: int = 12, blocks: int = 6):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, channels, 1)
        self.blocks = nn.Sequential(*(ResBlock(channels) for _ in range(blocks)))
        self.fc = nn.Linear(channels, out_features)

    def forward(self, x):
        x = self.blocks(self.conv0(x))
        return self.fc(F.relu(x.mean(dim=(2, 3))))


@register(
    "cappelletti-resnet",
    report="cappelletti",
    recipe=recipe(5e-3),
    description="ResNet: 1x1 conv to 12 channels, 6 residual blocks (5x5), average, FC",
)
class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = ResNetBody(2, 2)

    def forward(self, x):
        return ModelOutput(compare=self.body(x), digits=None)


class SmallCNNBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)  # 14 -> 12 -> pool 6
        self.conv2 = nn.Conv2d(32, 64, 3)  # 6 -> 4 -> pool 2
        self.fc1 = nn.Linear(256, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


@register(
    "cappelletti-siamese-resnet-aux",
    report="cappelletti",
    recipe=recipe(5e-3, aux_weight=1.0),
    weight_sharing=True,
    aux=True,
    branch="resnet",
    description="Siamese ResNet trained with the auxiliary digit loss",
)
@register(
    "cappelletti-siamese-resnet",
    report="cappelletti",
    recipe=recipe(5e-3),
    weight_sharing=True,
    branch="resnet",
    description="Siamese with a ResNet branch (10 outputs), FC 20->2",
)
@register(
    "cappelletti-siamese-cnn-aux",
    report="cappelletti",
    recipe=recipe(5e-3, aux_weight=1.0),
    weight_sharing=True,
    aux=True,
    description="Siamese CNN trained with the auxiliary digit loss",
)
@register(
    "cappelletti-siamese-cnn",
    report="cappelletti",
    recipe=recipe(5e-3),
    weight_sharing=True,
    description="Siamese with a small CNN branch (10 outputs), FC 20->2",
)
class Siamese(nn.Module):
    def __init__(self, branch: str = "cnn"):
        super().__init__()
        self.branch = ResNetBody(1, 10) if branch == "resnet" else SmallCNNBranch()
        self.comparator = nn.Linear(20, 2)

    def forward(self, x):
        digits = two_branches(self.branch, self.branch, x)
        return ModelOutput(compare=self.comparator(digits.flatten(1)), digits=digits)
