"""Forgiving outputs, strict checks: a user's model may return any of

  - `[B, 2]` comparison logits (or `[B, 1]` / `[B]`: one score),
  - a `ModelOutput(compare, digits)`,
  - a `(compare, digits)` tuple, either part None;

`to_model_output` turns each into the one contract the trainer reads (`ModelOutput`, see
digitduel.models.registry), and `dry_run` checks a model once, on load, with one CPU
forward/backward on a `[2, 2, 14, 14]` batch, so a shape or gradient mistake is one line
naming the model, before any bench starts, not a failed run per round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from digitduel.models.registry import ModelOutput

CHECK_BATCH = 2  # pairs in the dry run: enough for BatchNorm in train mode, cheap for anything
EXPECTED = "[B, 2] logits, [B, 1] score, ModelOutput(compare, digits) or a (compare, digits) tuple"


class OutputProblem(ValueError):
    """What is wrong with a model's output or gradients, phrased for one line."""


def to_model_output(raw: Any) -> ModelOutput:
    """Convert a forward's result to a `ModelOutput` (no shape checks: `check_output` does
    them once, on load; this runs every step and stays cheap)."""
    if isinstance(raw, ModelOutput):
        return raw
    if isinstance(raw, torch.Tensor):
        return ModelOutput(compare=raw.unsqueeze(-1) if raw.dim() == 1 else raw, digits=None)
    if isinstance(raw, (tuple, list)) and len(raw) == 2:
        compare, digits = raw
        if isinstance(compare, torch.Tensor) and compare.dim() == 1:
            compare = compare.unsqueeze(-1)
        return ModelOutput(compare=compare, digits=digits)
    raise OutputProblem(f"forward returned {_describe(raw)}; expected {EXPECTED}")


def check_output(out: ModelOutput, batch: int) -> None:
    """Raise `OutputProblem` unless `out` has the shapes and dtypes the trainer needs."""
    if out.compare is None and out.digits is None:
        raise OutputProblem("forward returned neither comparison nor digit outputs")
    if out.compare is not None:
        _check_tensor("comparison output", out.compare, [(batch, 2), (batch, 1)])
    if out.digits is not None:
        _check_tensor("digit output", out.digits, [(batch, 2, 10)])


def _check_tensor(what: str, t: Any, shapes: list[tuple[int, ...]]) -> None:
    if not isinstance(t, torch.Tensor):
        raise OutputProblem(f"{what} is {_describe(t)}, not a tensor")
    if tuple(t.shape) not in shapes:
        wanted = " or ".join(str(list(s)) for s in shapes)
        raise OutputProblem(
            f"{what} has shape {list(t.shape)} for a batch of {shapes[0][0]}; expected {wanted}"
        )
    if not t.is_floating_point():
        raise OutputProblem(f"{what} has dtype {t.dtype}; expected floating point")


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {list(x.shape)}"
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of {len(x)} items"
    return f"a {type(x).__name__}"


class OutputAdapter(nn.Module):
    """Wraps a user's module whose forward returns something other than a `ModelOutput`."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> ModelOutput:
        return to_model_output(self.net(x))


@dataclass(frozen=True)
class AdaptedFactory:
    """`factory(**kwargs)` wrapped in an `OutputAdapter`. A top-level class (not a closure)
    so a spec holding it pickles by reference, like the user's factory it wraps."""

    factory: Callable[..., nn.Module]

    def __call__(self, **kwargs: Any) -> nn.Module:
        return OutputAdapter(self.factory(**kwargs))


@dataclass(frozen=True)
class DryRun:
    """What the dry run learned: the recipe may need it (one score cannot train with "ce")."""

    params: int
    compare_width: int | None  # 2 (logits), 1 (score) or None (digit-only)
    has_digits: bool
    adapted: bool  # the forward returns something other than a ModelOutput


def dry_run(
    factory: Callable[..., nn.Module],
    kwargs: dict[str, Any],
    loss_of: Callable[[DryRun], tuple[str, float, float]],
) -> DryRun:
    """Build the model, run one train-mode forward/backward and one eval-mode forward on a
    random `[2, 2, 14, 14]` CPU batch. `loss_of(partial result)` gives (loss, alpha, gamma)
    as the model will train. Raises `OutputProblem`; the global RNG is left untouched."""
    from digitduel.training.objective import compute_loss

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = _build(factory, kwargs)
        params = sum(p.numel() for p in model.parameters())
        if params == 0:
            raise OutputProblem("the model has no parameters to train")
        x = torch.randn(CHECK_BATCH, 2, 14, 14)
        model.train()
        raw = _forward(model, x, "train")
        out = to_model_output(raw)
        check_output(out, CHECK_BATCH)
        found = DryRun(
            params=params,
            compare_width=None if out.compare is None else out.compare.shape[-1],
            has_digits=out.digits is not None,
            adapted=not isinstance(raw, ModelOutput),
        )
        loss_name, alpha, gamma = loss_of(found)
        target = torch.tensor([0, 1])
        classes = torch.tensor([[3, 1], [2, 7]])
        try:
            loss = compute_loss(out, target, classes, loss_name, alpha, gamma)
        except ValueError as err:
            raise OutputProblem(f"{err} (loss {loss_name!r})") from err
        _backward(model, loss)
        model.eval()
        with torch.inference_mode():
            check_output(to_model_output(_forward(model, x, "eval")), CHECK_BATCH)
    return found


def _build(factory: Callable[..., nn.Module], kwargs: dict[str, Any]) -> nn.Module:
    try:
        model = factory(**kwargs)
    except Exception as err:
        raise OutputProblem(
            f"building the model failed{_line_in(err, factory)}: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(model, nn.Module):
        raise OutputProblem(f"the factory returned {_describe(model)}, not a torch.nn.Module")
    return model


def _forward(model: nn.Module, x: torch.Tensor, mode: str) -> Any:
    try:
        return model(x)
    except Exception as err:
        raise OutputProblem(
            f"forward ({mode} mode) failed on a {list(x.shape)} batch{_line_in(err, type(model))}"
            f": {type(err).__name__}: {err}"
        ) from err


def _line_in(err: BaseException, defined: Any) -> str:
    """' at line N': the deepest frame of `err` in the file that defines `defined`."""
    import inspect
    import traceback

    try:
        source = inspect.getsourcefile(defined)
    except TypeError:
        return ""
    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == source]
    return f" at line {lines[-1]}" if lines else ""


def _backward(model: nn.Module, loss: torch.Tensor) -> None:
    if not loss.requires_grad:
        raise OutputProblem("the loss does not reach any parameter (is the output detached?)")
    if not torch.isfinite(loss):
        raise OutputProblem(f"the loss is {loss.item()} on a random batch")
    loss.backward()
    if all(p.grad is None for p in model.parameters()):
        raise OutputProblem("the loss does not reach any parameter (is the output detached?)")
