"""CUDA graphs and the CUDA optimiser flags are chosen by device, and nothing CUDA-only runs
on a CPU (issue 17); the epoch's deferred loss sum is the running float64 sum."""

from __future__ import annotations

import pytest
import torch
from test_batched import fake_pairs  # tests/ is on sys.path (no package)

from digitduel.models.registry import get_spec
from digitduel.settings import resolve_train
from digitduel.training.batched import train_batched
from digitduel.training.graphs import GraphedStep, graphs_wanted
from digitduel.training.loop import _Epoch
from digitduel.training.trainer import make_optimizer, optimizer_kwargs


def test_graphs_only_on_cuda():
    assert graphs_wanted(torch.device("cuda")) is True
    assert graphs_wanted(torch.device("cuda", 1), requested=False) is False
    assert graphs_wanted(torch.device("cpu"), requested=True) is False
    assert graphs_wanted(torch.device("mps")) is False
    with pytest.raises(ValueError, match="CUDA"):
        GraphedStep(lambda *a: a, torch.optim.SGD([torch.zeros(1)], lr=1.0), torch.device("cpu"))


def test_optimizer_flags_by_device():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert optimizer_kwargs("adam", cpu, capturable=True) == {}
    assert optimizer_kwargs("sgd", None, capturable=False) == {}
    assert optimizer_kwargs("sgd", cuda, capturable=True) == {"fused": True}
    assert optimizer_kwargs("adam", cuda, capturable=True) == {"fused": True, "capturable": True}
    assert optimizer_kwargs("rmsprop", cuda, capturable=False) == {"foreach": True}
    settings = resolve_train({"optimizer": "adam"})
    opt = make_optimizer([torch.zeros(2, requires_grad=True)], settings, cpu, capturable=True)
    assert opt.param_groups[0]["capturable"] is False  # CPU keeps torch's defaults


def test_batched_on_cpu_asked_for_graphs_trains_eagerly_with_identical_results():
    spec = get_spec("sgd-convnet")
    settings = resolve_train(spec.recipe, {"epochs": 1, "batch_size": 10})
    pairs = [fake_pairs(30, seed=r) for r in range(2)]
    eager = train_batched(spec, settings, pairs, [3, 4], "cpu", graphs=False, keep_state=True)
    asked = train_batched(spec, settings, pairs, [3, 4], "cpu", graphs=True, keep_state=True)
    for a, b in zip(eager, asked, strict=True):
        assert a.test_accuracy == b.test_accuracy
        assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_epoch_totals_equal_the_running_float64_sum():
    gen = torch.Generator().manual_seed(0)
    acc, running = _Epoch(), torch.zeros(3, dtype=torch.float64)
    for size in (100, 100, 100, 37):
        losses = torch.rand(3, generator=gen)
        acc.add(losses, torch.tensor([1, 2, 3]), size)
        running += losses.double() * size
    loss_sum, hits = acc.totals(3, torch.device("cpu"))
    assert torch.equal(loss_sum, running)  # bit for bit
    assert hits.tolist() == [4, 8, 12] and acc.seen == 337
