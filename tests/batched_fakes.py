"""A registered test model the batched trainer cannot take, for the batched executor's tests:
its forward reads a value back to Python (`.item()`), which torch.func.vmap cannot trace, so
`can_batch` refuses it and its rounds are trained one by one. Not a test file: worker
processes import it by name (the bench ships the defining module), so it stays importable on
its own."""

from __future__ import annotations

from torch import nn

from digitduel.models.registry import ModelOutput, register

UNBATCHABLE = "test-unbatchable"


@register(
    UNBATCHABLE,
    report="jomeau",
    description="test: data-dependent Python control flow (vmap cannot trace it)",
    recipe={"epochs": 2, "batch_size": 20},
)
class Unbatchable(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 14 * 14, 2)

    def forward(self, x):
        out = self.fc(x.flatten(1))
        if out.abs().sum().item() > 1e30:  # never true; the .item() is what vmap refuses
            out = out * 0
        return ModelOutput(out, None)
