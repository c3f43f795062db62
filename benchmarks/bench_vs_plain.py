"""digitduel's bench against a plain training loop, in one launch, on the same data.

    python benchmarks/bench_vs_plain.py --rounds 10 --epochs 50 --repeats 3 \
        --data-dir ../shared/data/mnist [--executor auto,batched] [--jobs 2]

The plain reference is what a reader writes from the SGD report (Table 1's ConvNet inline,
SGD 9e-2 -> 1e-3 after 3/5 of the epochs, weight decay 5e-4, batch 100, a shuffled index
loop, torch's default threads, the test set evaluated once at the end). digitduel runs the
same model (`sgd-convnet`), epochs, rounds and pairs through `run_bench`, the path
`digitduel bench` takes, timed end to end (worker start-up and warm-up included; data
loading excluded on both sides: the digits are loaded once, before any timing).

Repeats are interleaved (plain, digitduel, digitduel, plain, ...) so a machine shared with
others slows both sides alike, and medians are reported. GFLOP/s counts the training
steps' FLOPs (forward + backward of every batch, from torch.utils.flop_counter, which counts
convolutions and matmuls only) divided by wall time; the peak is a measured fp32 matmul.
This is a benchmark, not a test: it takes minutes, and prints, it does not assert. The
1-minute load average before each run is printed: on a shared machine, a plain loop with
torch's default 2 threads suffers most from other processes (an OpenMP region waits for its
slowest thread), so read the figures of quiet runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# --- the plain reference, as a reader would write it -------------------------------------


class ConvNet(nn.Module):
    """Table 1, first column: Conv-pool-relu x2, then 256-200-100-2 with BatchNorm, dropout.
    (`ConvNet(1, 10)` is the module the other two columns share between the digits.)"""

    def __init__(self, in_channels: int = 2, outputs: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.fc1 = nn.Linear(256, 200)
        self.bn1 = nn.BatchNorm1d(200)
        self.fc2 = nn.Linear(200, 100)
        self.bn2 = nn.BatchNorm1d(100)
        self.fc3 = nn.Linear(100, outputs)
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=2, stride=2))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2, stride=2))
        x = self.dropout(self.bn1(F.relu(self.fc1(x.view(-1, 256)))))
        x = self.dropout(self.bn2(F.relu(self.fc2(x))))
        return self.fc3(x)  # softmax lives inside cross_entropy


def plain_run(pairs, seed: int, epochs: int, batch_size: int = 100) -> float:
    """One round, the reader's way; returns the test accuracy."""
    torch.manual_seed(seed)
    model = ConvNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=9e-2, weight_decay=5e-4)
    x, y = pairs.train.input, pairs.train.target
    n = x.shape[0]
    for epoch in range(epochs):
        if epoch == round(3 / 5 * epochs):
            for group in optimizer.param_groups:
                group["lr"] = 1e-3
        model.train()
        perm = torch.randperm(n)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(pairs.test.input).argmax(1)
    return (predicted == pairs.test.target).float().mean().item()


# --- measurements -------------------------------------------------------------------------


def step_flops(batch_size: int = 100) -> int:
    """FLOPs of one training step (forward + backward) of the ConvNet on one batch."""
    model = ConvNet()
    x = torch.randn(batch_size, 2, 14, 14)
    y = torch.randint(0, 2, (batch_size,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def matmul_peak_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    """Best fp32 matmul rate with torch's current threads: the machine's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def time_plain(all_pairs, seeds, epochs) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    accs = [plain_run(p, s, epochs) for p, s in zip(all_pairs, seeds, strict=True)]
    return time.perf_counter() - t0, accs


def time_digitduel(model, mnist, rounds, epochs, executor, jobs, seed, workdir, eval_every=1):
    from digitduel.bench.plan import plan_for_models
    from digitduel.bench.runner import run_bench

    bench = {"rounds": rounds, "seed": seed, "device": "cpu", "executor": executor, "jobs": jobs}
    train = {"epochs": epochs, "eval_every": eval_every}
    plan = plan_for_models([model], train_overrides=train, bench_overrides=bench)
    out = Path(workdir) / f"{executor}-{time.monotonic_ns()}.json"
    t0 = time.perf_counter()
    result = run_bench(plan, out, mnist=mnist)
    wall = time.perf_counter() - t0
    accs = [r.test_accuracy for r in result.runs if r.status == "ok"]
    if len(accs) != rounds:
        print(f"  warning: {rounds - len(accs)} digitduel run(s) not ok")
    return wall, accs, result.environment.executor, result.environment.jobs


def mean_std(xs: list[float]) -> str:
    std = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.fmean(xs):.2f} +- {100 * std:.2f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", default=None, help="MNIST IDX directory (default: digitduel's)")
    ap.add_argument("--model", default="sgd-convnet", help="digitduel's name for the ConvNet")
    ap.add_argument("--executor", default="auto", help="comma-separated digitduel executors")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (processes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-pairs", type=int, default=1000)
    ap.add_argument(
        "--eval-every",
        type=int,
        default=1,
        help="digitduel's eval_every (1: test set after every epoch, digitduel's default; "
        "the epoch count: once at the end, as the plain loop does)",
    )
    args = ap.parse_args()

    from digitduel.bench.plan import round_seeds
    from digitduel.data import draw_pairs, load_mnist
    from digitduel.training.device import cpu_model, usable_cores

    executors = [e.strip() for e in args.executor.split(",") if e.strip()]
    mnist = load_mnist(args.data_dir)
    seeds = [round_seeds(args.seed, r) for r in range(args.rounds)]  # (data, init) per round
    all_pairs = [draw_pairs(mnist, args.n_pairs, seed=d) for d, _ in seeds]
    init_seeds = [s for _, s in seeds]
    flops = step_flops() * args.epochs * -(-args.n_pairs // 100) * args.rounds
    peak = matmul_peak_gflops()
    print(f"cpu: {cpu_model()}, {usable_cores()} cores; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads by default")  # fmt: skip
    print(f"data: {mnist.source} ({mnist.path}); {args.rounds} rounds x {args.epochs} epochs, "
          f"{args.n_pairs} pairs, batch 100; fp32 matmul peak {peak:.0f} GFLOP/s")  # fmt: skip
    print(f"training FLOPs (fwd+bwd, conv+matmul): {flops / 1e9:.1f} GFLOP per {args.rounds} runs")

    times: dict[str, list[float]] = {"plain": [], **{e: [] for e in executors}}
    accs: dict[str, list[float]] = {}
    labels: dict[str, str] = {"plain": "plain loop"}
    with tempfile.TemporaryDirectory() as workdir:
        for rep in range(args.repeats):
            sides = ["plain", *executors]
            order = sides if rep % 2 == 0 else sides[::-1]  # ABBA: drift hits both sides
            for side in order:
                default_threads = torch.get_num_threads()
                load = os.getloadavg()[0]  # others' work on a shared machine shows up here
                if side == "plain":
                    wall, acc = time_plain(all_pairs, init_seeds, args.epochs)
                else:
                    wall, acc, name, jobs = time_digitduel(
                        args.model, mnist, args.rounds, args.epochs, side, args.jobs,
                        args.seed, workdir, args.eval_every,
                    )  # fmt: skip
                    labels[side] = f"digitduel --executor {side} ({name}, {jobs} job(s))"
                    if args.eval_every != 1:
                        labels[side] += f" eval every {args.eval_every}"
                torch.set_num_threads(default_threads)  # whatever an executor did, undo it
                times[side].append(wall)
                accs[side] = acc
                print(f"  repeat {rep + 1}: {labels[side]:<48} {wall:7.1f} s  "
                      f"({wall / args.rounds:.2f} s/run)  load avg before {load:.2f}")  # fmt: skip

    # A peak is the best the machine did: measured again at the end, in case others were busy.
    peak = max(peak, matmul_peak_gflops())
    print(f"\nfp32 matmul peak (best of start and end): {peak:.0f} GFLOP/s")
    print("medians over", args.repeats, "interleaved repeats:")
    plain_median = statistics.median(times["plain"])
    for side, walls in times.items():
        med = statistics.median(walls)
        rate = flops / med / 1e9
        ratio = plain_median / med
        print(f"  {labels[side]:<48} {med:7.1f} s  {med / args.rounds:6.2f} s/run  "
              f"{rate:6.1f} GFLOP/s ({100 * rate / peak:4.1f}% of peak)  "
              f"speed-up {ratio:4.2f}x  test {mean_std(accs[side])}")  # fmt: skip
    spread = max(statistics.stdev(a) if len(a) > 1 else 0.0 for a in accs.values())
    for side in executors:
        gap = abs(statistics.fmean(accs[side]) - statistics.fmean(accs["plain"]))
        verdict = "equal within the rounds' std" if gap <= spread else "DIFFERENT"
        print(f"  {side}: ratio plain/digitduel = {plain_median / statistics.median(times[side]):.2f}"
              f" (goal >= 1.8); mean accuracy gap {100 * gap:.2f} pts: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
