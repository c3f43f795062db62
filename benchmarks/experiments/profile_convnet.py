"""Scratch profile (issue 17): where one `sgd-convnet` run's time goes on CPU, one thread.

    python benchmarks/experiments/profile_convnet.py --data-dir ../shared/data/mnist \
        [--epochs 10] [--mode serial|batched] [--rounds 5]

serial: one trainer.train_run (what each worker of the processes executor does per round);
batched: training.batched.train_batched over --rounds rounds. torch.profiler's CPU time is
split into backward / optimizer / evaluation (wrapped in record_function ranges) and the
rest (train forward, loss, batch indexing, Python). Prints fractions of the profiled CPU time
and the top ops.

Measured 10:45 UTC on a loaded 2-core machine (load avg 12-18), 2 rounds x 5 epochs, 1 thread:
  serial : backward 37%, evaluation 24%, optimizer 3.5%, forward+rest 35%; max_pool2d 13%
  batched: evaluation 34%, backward 27%, optimizer 1%, forward+rest 38%; max_pool2d (NCHW
           under vmap) 33% self, and the run took 1.8x the serial one for the same rounds.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile, record_function

MODEL = "sgd-convnet"


def _mark_phases():
    """Wrap torch.optim.SGD.step and Tensor.backward in named profiler ranges."""
    sgd_step = torch.optim.SGD.step

    def step(self, *a, **k):
        with record_function("phase:optimizer"):
            return sgd_step(self, *a, **k)

    torch.optim.SGD.step = step
    tensor_backward = torch.Tensor.backward

    def backward(self, *a, **k):
        with record_function("phase:backward"):
            return tensor_backward(self, *a, **k)

    torch.Tensor.backward = backward


def phase_totals(prof) -> dict[str, float]:
    """Self-inclusive CPU ms of each marked phase (top-level ranges only)."""
    totals: dict[str, float] = {}
    for evt in prof.key_averages():
        if evt.key.startswith("phase:"):
            totals[evt.key[6:]] = evt.cpu_time_total / 1e3
    return totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--mode", choices=["serial", "batched"], default="serial")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from digitduel.bench.plan import plan_for_models, round_seeds
    from digitduel.data import draw_pairs, load_mnist
    from digitduel.models.registry import get_spec
    from digitduel.training import batched, trainer

    plan = plan_for_models([MODEL], train_overrides={"epochs": args.epochs})
    settings = plan.contestants[0].settings
    spec = get_spec(MODEL)
    mnist = load_mnist(args.data_dir)
    seeds = [round_seeds(0, r) for r in range(args.rounds)]
    pairs = [draw_pairs(mnist, 1000, seed=d) for d, _ in seeds]
    trainer.warm_up(spec, torch.device("cpu"), settings.batch_size, True)
    batched.can_batch(spec, settings, "cpu")
    _mark_phases()
    # evaluation: wrap the two evaluation entry points
    serial_eval, stack_eval = trainer._evaluate, batched._Stack.evaluate

    def timed_eval(*a, **k):
        with record_function("phase:evaluation"):
            return serial_eval(*a, **k)

    def timed_stack_eval(*a, **k):
        with record_function("phase:evaluation"):
            return stack_eval(*a, **k)

    trainer._evaluate, batched._Stack.evaluate = timed_eval, timed_stack_eval
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with record_function("phase:run"):
            if args.mode == "serial":
                for (_, seed), p in zip(seeds, pairs, strict=True):
                    trainer.train_run(spec, settings, p, seed=seed, warm=False, channels_last=True)
            else:
                batched.train_batched(spec, settings, pairs, [s for _, s in seeds], "cpu")
    wall = time.perf_counter() - t0
    totals = phase_totals(prof)
    run = totals.pop("run")
    print(f"{args.mode}: {args.rounds} rounds x {args.epochs} epochs, wall {wall:.1f} s "
          f"(profiled; profiler CPU total {run / 1e3:.1f} s)")  # fmt: skip
    for name, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<11} {ms / 1e3:7.2f} s  {100 * ms / run:5.1f} %")
    rest = run - sum(totals.values())
    print(f"  {'forward+rest':<11} {rest / 1e3:7.2f} s  {100 * rest / run:5.1f} % "
          "(train forward, loss, batch indexing, Python)")  # fmt: skip
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
