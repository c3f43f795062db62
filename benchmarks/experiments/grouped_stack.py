"""Scratch experiment (issue 17, idea (c) from the profile): R rounds of the SGD report's
ConvNet as ONE hand-stacked model (grouped convolutions in channels_last, per-round linear
layers as one einsum, BatchNorm1d over R x features, which is per-round BN since BN is
per-feature), against the same R rounds one at a time (digitduel's model, channels_last, as
trainer.train_run runs it) and against training.batched's vmap stack. One thread, one
process, interleaved, medians of per-epoch times (train steps + one test evaluation).

    python benchmarks/experiments/grouped_stack.py --data-dir ../shared/data/mnist \
        [--rounds 5] [--epochs 3] [--repeats 3]

Measured 2026-11-26 ~11:00-11:10 UTC, 5 rounds, load avg 8-12 on 2 cores: serial/grouped
per-epoch ratios 1.25, 1.10 (1 epoch) and 1.82, 0.82, 0.90 (2 epochs): median 1.10x, too
noisy to call; test accuracy after 3 epochs 70.28 +- 7.19 % grouped, 69.18 +- 9.63 % serial.

Why: the profile shows vmap's stack runs max_pool2d in NCHW, which on this CPU is ~9x
slower than channels_last, so training.batched loses to serial runs on CPU.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


class StackedConvNet(nn.Module):
    """R independent Table-1 ConvNets (2 channels in, 2 out) as one module."""

    def __init__(self, rounds: int):
        super().__init__()
        self.r = rounds
        self.conv1 = nn.Conv2d(2 * rounds, 32 * rounds, 3, groups=rounds)
        self.conv2 = nn.Conv2d(32 * rounds, 64 * rounds, 3, groups=rounds)
        self.w1, self.b1 = self._linear(256, 200)
        self.bn1 = nn.BatchNorm1d(200 * rounds)
        self.w2, self.b2 = self._linear(200, 100)
        self.bn2 = nn.BatchNorm1d(100 * rounds)
        self.w3, self.b3 = self._linear(100, 2)
        self.drop = nn.Dropout(0.2)

    def _linear(self, fan_in, fan_out):
        bound = 1 / fan_in**0.5
        w = nn.Parameter(torch.empty(self.r, fan_out, fan_in).uniform_(-bound, bound))
        return w, nn.Parameter(torch.empty(self.r, fan_out).uniform_(-bound, bound))

    def _dense(self, h, w, b):  # h [B, R, in] -> [B, R, out]
        return torch.einsum("bri,roi->bro", h, w) + b

    def _bn(self, h, bn):
        return bn(h.flatten(1)).view_as(h)

    def forward(self, x):  # x [B, 2R, 14, 14] channels_last -> logits [B, R, 2]
        x = F.relu(F.max_pool2d(self.conv1(x), 2, 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2, 2))
        n = x.shape[0]
        h = x.reshape(n, self.r, 64, 2, 2).flatten(2)  # per round: C, H, W as view(-1, 256)
        h = self.drop(self._bn(F.relu(self._dense(h, self.w1, self.b1)), self.bn1))
        h = self.drop(self._bn(F.relu(self._dense(h, self.w2, self.b2)), self.bn2))
        return self._dense(h, self.w3, self.b3)


def epoch_grouped(model, opt, x, y, test_x, test_y, gens):
    """x [R, n, 2, 14, 14]; each round its own batch order."""
    rounds, n = x.shape[:2]
    perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
    model.train()
    for s in range(0, n, 100):
        idx = perms[:, s : s + 100]
        xb = torch.stack([x[r, idx[r]] for r in range(rounds)], 1)  # [B, R, 2, 14, 14]
        yb = torch.stack([y[r, idx[r]] for r in range(rounds)], 1)
        xb = xb.flatten(1, 2).contiguous(memory_format=torch.channels_last)
        out = model(xb)
        loss = F.cross_entropy(out.flatten(0, 1), yb.flatten(), reduction="sum") / out.shape[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.inference_mode():
        tx = test_x.transpose(0, 1).flatten(1, 2).contiguous(memory_format=torch.channels_last)
        return (model(tx).argmax(-1) == test_y.T).double().mean(0)


def epoch_serial(models, opts, pairs, gens):
    accs = []
    for model, opt, p, g in zip(models, opts, pairs, gens, strict=True):
        x, y = p.train.input, p.train.target
        perm = torch.randperm(x.shape[0], generator=g)
        model.train()
        for s in range(0, x.shape[0], 100):
            i = perm[s : s + 100]
            out = model(x[i].contiguous(memory_format=torch.channels_last)).compare
            loss = F.cross_entropy(out, y[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            tx = p.test.input.contiguous(memory_format=torch.channels_last)
            accs.append((model(tx).compare.argmax(1) == p.test.target).double().mean())
    return torch.stack(accs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from digitduel.bench.plan import round_seeds
    from digitduel.data import draw_pairs, load_mnist
    from digitduel.models.registry import get_spec

    mnist = load_mnist(args.data_dir)
    seeds = [round_seeds(0, r) for r in range(args.rounds)]
    pairs = [draw_pairs(mnist, 1000, seed=d) for d, _ in seeds]
    x = torch.stack([p.train.input for p in pairs])
    y = torch.stack([p.train.target for p in pairs])
    tx, ty = torch.stack([p.test.input for p in pairs]), torch.stack([p.test.target for p in pairs])
    spec = get_spec("sgd-convnet")
    sgd = dict(lr=9e-2, weight_decay=5e-4)
    times: dict[str, list[float]] = {"serial": [], "grouped": []}
    accs: dict[str, torch.Tensor] = {}
    for rep in range(args.repeats):
        for side in ["serial", "grouped"] if rep % 2 == 0 else ["grouped", "serial"]:
            gens = [torch.Generator().manual_seed(s) for _, s in seeds]
            torch.manual_seed(rep)
            if side == "grouped":
                model = StackedConvNet(args.rounds).to(memory_format=torch.channels_last)
                opt = torch.optim.SGD(model.parameters(), **sgd)
                step = functools.partial(epoch_grouped, model, opt, x, y, tx, ty, gens)
            else:
                models = [spec.create().to(memory_format=torch.channels_last) for _ in seeds]
                opts = [torch.optim.SGD(m.parameters(), **sgd) for m in models]
                step = functools.partial(epoch_serial, models, opts, pairs, gens)
            step()  # warm-up epoch, untimed
            t0 = time.perf_counter()
            for _ in range(args.epochs):
                accs[side] = step()
            times[side].append((time.perf_counter() - t0) / args.epochs)
            print(f"  repeat {rep + 1}: {side:<8} {times[side][-1]:6.2f} s/epoch", flush=True)
    ratios = [s / g for s, g in zip(times["serial"], times["grouped"], strict=True)]
    print(f"{args.rounds} rounds: serial {statistics.median(times['serial']):.2f} s/epoch, "
          f"grouped {statistics.median(times['grouped']):.2f} s/epoch; speed-up "
          f"{statistics.median(ratios):.2f}x (pairs {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    for side, a in accs.items():
        print(f"  {side} test accuracy after {args.epochs + 1} epochs: "
              f"{100 * a.mean():.2f} +- {100 * a.std():.2f} %")  # fmt: skip


if __name__ == "__main__":
    main()
