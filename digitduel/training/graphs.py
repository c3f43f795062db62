"""A training step replayed from CUDA graphs: what a tiny model needs on a GPU (issue 17).

A step of a tiny model is dozens of kernel launches of a few microseconds each; launched one
by one from Python the GPU mostly waits on the host. `GraphedStep` records the whole step
(forward, loss, backward, optimiser update) once as a `torch.cuda.CUDAGraph` and then
replays it: one launch a batch. Only on CUDA: `graphs_wanted` says when, and nothing here
touches `torch.cuda` unless the trainee's device is a CUDA device.

What a replay relies on, and how it is kept:
  - static inputs: each batch is copied into tensors the graph was recorded on;
  - static outputs: the step's losses and hit counts are cloned out after each replay,
    since the next replay overwrites them (the epoch driver keeps them until the epoch ends);
  - Python-level constants baked into the recording (the learning rate, the batch shape) are
    the graph's key: a new learning rate (the lr -> lr2 switch) or a shorter last batch gets a
    graph of its own, recorded after that key has run once eagerly;
  - lazy state (optimiser buffers, kernel handles) exists before the first recording: the
    first `WARMUP_STEPS` steps run eagerly on a side stream, as torch's docs prescribe;
  - the optimiser is built capturable (`make_optimizer(..., capturable=True)`), so its step
    count lives on the device.
Eager steps and replays are the same arithmetic on the same tensors; only the dropout masks
come from other draws of the CUDA generator (the batched trainer's dropout masks never match
a serial run's anyway). A recording that fails (a model that syncs with the host, say) turns
the graphs off for the run, which goes on eagerly; `failure` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

WARMUP_STEPS = 3  # eager steps before the first recording (torch's CUDA-graph recipe)

StepFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def graphs_wanted(device: torch.device, requested: bool | None = None) -> bool:
    """Whether a batched trainee on `device` records its step: on CUDA by default, never
    elsewhere (CUDA graphs exist only there), whatever `requested` says."""
    if device.type != "cuda":
        return False
    return True if requested is None else requested


@dataclass
class _Recorded:
    graph: torch.cuda.CUDAGraph
    inputs: tuple[torch.Tensor, ...]
    outputs: tuple[torch.Tensor, ...]

    def replay(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        for static, value in zip(self.inputs, inputs, strict=True):
            static.copy_(value)
        self.graph.replay()
        return tuple(t.clone() for t in self.outputs)


class GraphedStep:
    """`step(*inputs)` -> (losses, hits), as `run_step(*inputs)` would return them, replayed
    from a CUDA graph per (input shapes, learning rates) once that key has been seen."""

    def __init__(self, run_step: StepFn, optimizer: torch.optim.Optimizer, device: torch.device):
        if device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {device}")
        self.run_step, self.optimizer, self.device = run_step, optimizer, device
        self.enabled = True
        self.failure: str | None = None
        self.replays = 0
        self._recorded: dict[tuple, _Recorded] = {}
        self._seen: dict[tuple, int] = {}
        self._side = torch.cuda.Stream(device)

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lrs = tuple(float(g["lr"]) for g in self.optimizer.param_groups)
        key = (tuple(tuple(t.shape) for t in inputs), lrs)
        recorded = self._recorded.get(key)
        if recorded is None and self.enabled:
            seen = self._seen[key] = self._seen.get(key, 0) + 1
            if seen > (WARMUP_STEPS if not self._recorded else 1):
                recorded = self._record(key, inputs)
        if recorded is None:
            return self._eager(inputs)
        self.replays += 1
        losses, hits = recorded.replay(inputs)
        return losses, hits

    def _eager(self, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """One ordinary step on the side stream, ordered after and before the main stream's
        work (every use of the side stream starts by waiting, so its reuse of freed memory
        is safe)."""
        main = torch.cuda.current_stream(self.device)
        self._side.wait_stream(main)
        with torch.cuda.stream(self._side):
            out = self.run_step(*inputs)
        main.wait_stream(self._side)
        return out

    def _record(self, key, inputs) -> _Recorded | None:
        """Record the step on static copies of this batch; None (graphs off) on failure.
        Recording runs nothing: the caller replays it for this very batch."""
        static = tuple(t.clone() for t in inputs)
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)  # grads are allocated inside the graph
        torch.cuda.synchronize(self.device)
        try:
            with torch.cuda.graph(graph):
                outputs = self.run_step(*static)
        except Exception as err:  # noqa: BLE001 - any failure: train on eagerly
            self.enabled = False
            self.failure = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            torch.cuda.synchronize(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            return None
        recorded = _Recorded(graph, static, tuple(outputs))
        self._recorded[key] = recorded
        return recorded
