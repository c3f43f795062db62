"""A small siamese net with an auxiliary digit head: copy it, change it, bench it.

    digitduel models --model-file examples/my_model.py
"""

import torch
from torch import nn

from digitduel import ModelOutput, register


@register("my-siamese", recipe={"epochs": 25, "lr": 1e-3, "aux_weight": 1.0}, aux=True,
          weight_sharing=True, description="Shared conv branch, digit head, comparison MLP")
class MySiamese(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        self.branch = nn.Sequential(  # one digit [N, 1, 14, 14] -> 10 digit logits
            nn.Conv2d(1, width, 3), nn.ReLU(), nn.MaxPool2d(2),  # 12x12 -> 6x6
            nn.Conv2d(width, 2 * width, 3), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
            nn.Flatten(), nn.Linear(8 * width, 10),
        )
        self.compare = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x):  # x: [B, 2, 14, 14], the two digits of each pair
        digits = self.branch(x.reshape(-1, 1, 14, 14)).reshape(-1, 2, 10)  # same weights
        return ModelOutput(compare=self.compare(torch.flatten(digits, 1)), digits=digits)
