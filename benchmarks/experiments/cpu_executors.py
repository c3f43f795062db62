"""Scratch experiment (issue 17): CPU executor options for `sgd-convnet` x R rounds, timed in
one launch, interleaved (ABBA), medians; every option against today's `processes` executor.

    python benchmarks/experiments/cpu_executors.py --data-dir ../shared/data/mnist \
        [--rounds 10] [--epochs 6] [--repeats 3] [--options processes,procs-batched,...]

Options (each timed end to end: worker start, data draw, warm-up, training, evaluation):
  processes         run_bench --executor processes (today's `auto` on 2 cores): 2 one-thread
                    workers, one round at a time (trainer.train_run)
  batched-1proc     run_bench --executor batched in this process, 1 torch thread: all R
                    rounds as one vmapped stack (training.batched)
  procs-batched     2 one-thread worker processes, each training R/2 rounds as one stack with
                    training.batched.train_batched (idea (a): processes x batched)
  procs-batched-ev1000  as procs-batched, with the stack's evaluation chunk raised from 500 to
                    1000 pairs per round (idea (b): the whole test set of the stack in one pass)
  processes-noeval  processes with eval_every = epochs: what per-epoch evaluation costs
Measured 2026-11-26 10:43-11:05 UTC, 10 rounds x 5 epochs, load avg 11-18 on 2 cores (two
repeats; repeat 1's processes run paid a cold forkserver): wall s, repeat 1 / repeat 2
  processes 122.2 / 50.4; processes-noeval 59.4 / 54.2; batched-1proc 226.6 / 217.6;
  procs-batched 146.2 / 143.8; procs-batched-ev1000 180.9 / 167.1
i.e. in the warm repeat the vmap stack is 2.9x (procs-batched) and 4.3x (batched-1proc)
SLOWER than processes: under vmap the convs and max_pool2d run in NCHW (see
grouped_stack.py and profile_convnet.py). Not a test; a prototype that reaches into digitduel's internals (EVAL_CHUNK), which the
implementation must turn into a real option.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

import torch

MODEL = "sgd-convnet"


def settings_for(epochs: int, eval_every: int = 1):
    from digitduel.bench.plan import plan_for_models

    plan = plan_for_models([MODEL], train_overrides={"epochs": epochs, "eval_every": eval_every})
    return plan.contestants[0].settings


def stack_worker(ctx, seeds, epochs, eval_chunk):
    """One worker of procs-batched: its share of the rounds as one stack, one thread."""
    torch.set_num_threads(1)
    from digitduel.models.registry import get_spec
    from digitduel.training import batched

    batched.EVAL_CHUNK = eval_chunk
    pairs = [ctx.pairs(data_seed) for data_seed, _ in seeds]
    outcomes = batched.train_batched(
        get_spec(MODEL), settings_for(epochs), pairs, [s for _, s in seeds], "cpu"
    )
    return [o.test_accuracy for o in outcomes]


def run_procs_batched(mnist, rounds, epochs, eval_chunk=500, workers=2):
    from digitduel.bench.executors import DataContext
    from digitduel.bench.plan import round_seeds

    ctx = DataContext.from_mnist(mnist, 1000, "cpu")
    seeds = [round_seeds(0, r) for r in range(rounds)]
    shares = [seeds[w::workers] for w in range(workers)]
    mpctx = mp.get_context("forkserver")
    mpctx.set_forkserver_preload(["torch", "torch._dynamo", "digitduel.training.batched"])
    with mpctx.Pool(workers) as pool:
        results = pool.starmap(stack_worker, [(ctx, s, epochs, eval_chunk) for s in shares])
    return [a for share in results for a in share]


def run_bench_executor(mnist, rounds, epochs, executor, workdir, eval_every=1):
    from digitduel.bench.plan import plan_for_models
    from digitduel.bench.runner import run_bench

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batched in this process: one thread, as each worker has
    plan = plan_for_models(
        [MODEL],
        train_overrides={"epochs": epochs, "eval_every": eval_every},
        bench_overrides={"rounds": rounds, "seed": 0, "device": "cpu", "executor": executor},
    )
    result = run_bench(plan, Path(workdir) / f"{executor}-{time.monotonic_ns()}.json", mnist=mnist)
    torch.set_num_threads(threads)
    return [r.test_accuracy for r in result.runs if r.status == "ok"]


OPTIONS = {
    "processes": lambda m, r, e, w: run_bench_executor(m, r, e, "processes", w),
    "processes-noeval": lambda m, r, e, w: run_bench_executor(m, r, e, "processes", w, e),
    "batched-1proc": lambda m, r, e, w: run_bench_executor(m, r, e, "batched", w),
    "procs-batched": lambda m, r, e, w: run_procs_batched(m, r, e),
    "procs-batched-ev1000": lambda m, r, e, w: run_procs_batched(m, r, e, eval_chunk=1000),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--options", default=",".join(OPTIONS))
    args = ap.parse_args()
    from digitduel.data import load_mnist

    mnist = load_mnist(args.data_dir)
    names = [n.strip() for n in args.options.split(",")]
    walls: dict[str, list[float]] = {n: [] for n in names}
    accs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for rep in range(args.repeats):
            for name in names if rep % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                accs[name] = OPTIONS[name](mnist, args.rounds, args.epochs, workdir)
                walls[name].append(time.perf_counter() - t0)
                print(f"  repeat {rep + 1}: {name:<22} {walls[name][-1]:6.1f} s", flush=True)
    base = walls["processes"] if "processes" in walls else walls[names[0]]
    print(f"{args.rounds} rounds x {args.epochs} epochs, medians of {args.repeats}; "
          f"speed-up = processes' time / option's time, pair by pair, median")  # fmt: skip
    for name in names:
        ratios = [b / w for b, w in zip(base, walls[name], strict=True)]
        acc = accs[name]
        print(f"  {name:<22} {statistics.median(walls[name]):6.1f} s  speed-up "
              f"{statistics.median(ratios):4.2f}x  test {100 * statistics.fmean(acc):.2f} +- "
              f"{100 * statistics.stdev(acc):.2f} % ({len(acc)} rounds)")  # fmt: skip


if __name__ == "__main__":
    main()
