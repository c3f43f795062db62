"""Issue 17's CPU target, timed from outside: `digitduel bench -m sgd-convnet` against a plain
student loop of the same work (`benchmarks/plain_convnet.py`), as whole processes.

    python benchmarks/cpu_target.py --data-dir ../shared/data/mnist [--repeats 5] [--quick]
        [--executor auto] [--out results.json]

Each repeat runs digitduel then the plain loop, or the other way round on odd repeats
(ABBA: a machine whose speed drifts slows both alike); each is one process from start to
exit, start-up, data loading and worker start included. Reported: per side the min, median
and max wall seconds, and the ratio plain/digitduel, both as the median of the pair-by-pair
ratios and as the ratio of the medians; the goal (issue 17) is >= 1.8 in every launch, with
the two test accuracies equal within the rounds' std. Also the ceiling: the plain loop's time
over digitduel's runs alone (their total times summed, over the workers), i.e. the ratio
digitduel would reach if start-up, hand-offs and exit cost nothing. digitduel evaluates the test set after
every epoch (its default); the plain loop once at the end, as students do.

Full size (10 rounds x 50 epochs) takes ~2 minutes a repeat on 2 idle cores; --quick is
4 rounds x 8 epochs, for a smoke check. Exit code 2 for bad arguments, 1 when a side fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def hardware() -> dict:
    """CPU model, usable cores, torch version and default threads, of this machine."""
    probe = "import torch; print(torch.__version__, torch.get_num_threads())"
    torch_version, threads = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "torch": torch_version,
        "torch_threads": int(threads),
        "python": platform.python_version(),
        "load_avg_1min_at_start": os.getloadavg()[0],
    }


def timed(cmd: list[str]) -> tuple[float, str]:
    """Wall seconds of one whole process (monotonic clock around start and exit), and its
    standard output; a non-zero exit stops the benchmark with the command's last lines."""
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        print(f"error: {' '.join(cmd[:3])} ... exited {done.returncode}: {' | '.join(tail)}",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(1)
    return wall, done.stdout


def digitduel_cmd(args, out: Path) -> list[str]:
    exe = Path(sys.executable).with_name("digitduel")
    return [
        str(exe), "bench", "-m", "sgd-convnet", "--rounds", str(args.rounds),
        "--epochs", str(args.epochs), "--data-dir", str(args.data_dir), "--offline",
        "--executor", args.executor, "-o", str(out), "--json",
    ]  # fmt: skip


def plain_cmd(args) -> list[str]:
    return [
        sys.executable, str(HERE / "plain_convnet.py"), "--data-dir", str(args.data_dir),
        "--rounds", str(args.rounds), "--epochs", str(args.epochs),
    ]  # fmt: skip


def busy_seconds(results: Path) -> float:
    """The bench's runs alone, spread over its workers: sum of the runs' total times (training,
    per-epoch evaluation, set-up) / the number of workers. No start-up, no exit, no hand-offs:
    the wall time digitduel would take if everything but the runs cost nothing."""
    written = json.loads(results.read_text())
    workers = written["environment"].get("jobs") or 1
    return sum(run["total_time_s"] for run in written["runs"]) / workers


def digitduel_accuracy(stdout: str) -> tuple[float, float, str]:
    """(test mean, test std, executor) from `digitduel bench --json`'s summary."""
    summary = json.loads(stdout[stdout.index("{") :])
    row = summary["summary"][0]
    return row["test_mean"], row["test_std"] or 0.0, summary["executor"]


def plain_accuracy(stdout: str) -> tuple[float, float]:
    found = re.search(r"plain loop: ([\d.]+) \+- ([\d.]+) %", stdout)
    if not found:
        raise SystemExit("error: the plain loop printed no accuracy line")
    return float(found[1]) / 100, float(found[2]) / 100


def spread(xs: list[float]) -> str:
    return f"min {min(xs):6.1f}  median {statistics.median(xs):6.1f}  max {max(xs):6.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, type=Path, help="folder with the IDX files")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved pairs of runs")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--executor", default="auto", help="digitduel's --executor")
    ap.add_argument("--quick", action="store_true", help="4 rounds x 8 epochs, 2 repeats")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.epochs, args.repeats = 4, 8, 2
    if min(args.repeats, args.rounds, args.epochs) < 1:
        ap.error("--repeats, --rounds and --epochs must be >= 1")

    hw = hardware()
    print(f"cpu: {hw['cpu']}, {hw['cores']} cores; torch {hw['torch']} "
          f"({hw['torch_threads']} threads by default); python {hw['python']}")  # fmt: skip
    print(f"work: sgd-convnet, {args.rounds} rounds x {args.epochs} epochs, 1000/1000 pairs; "
          f"{args.repeats} interleaved repeats, whole processes")  # fmt: skip
    walls: dict[str, list[float]] = {"digitduel": [], "plain": []}
    busy: list[float] = []
    acc: dict[str, tuple] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            order = ["digitduel", "plain"] if rep % 2 == 0 else ["plain", "digitduel"]
            for side in order:
                if side == "digitduel":
                    results = Path(tmp) / f"r{rep}.json"
                    wall, out = timed(digitduel_cmd(args, results))
                    acc[side] = digitduel_accuracy(out)
                    busy.append(busy_seconds(results))
                else:
                    wall, out = timed(plain_cmd(args))
                    acc[side] = plain_accuracy(out)
                walls[side].append(wall)
                print(f"  repeat {rep + 1}: {side:<9} {wall:7.1f} s  "
                      f"(load avg {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip

    pair_ratios = [p / d for p, d in zip(walls["plain"], walls["digitduel"], strict=True)]
    median_ratio = statistics.median(pair_ratios)
    executor = acc["digitduel"][2]
    print(f"digitduel ({executor}): {spread(walls['digitduel'])}")
    print(f"plain loop:          {spread(walls['plain'])}")
    print(f"ratio plain/digitduel: median of pairs {median_ratio:.2f}x "
          f"(pairs {', '.join(f'{r:.2f}' for r in pair_ratios)}); ratio of medians "
          f"{statistics.median(walls['plain']) / statistics.median(walls['digitduel']):.2f}x; "
          f"goal >= 1.8x")  # fmt: skip
    ceilings = [p / b for p, b in zip(walls["plain"], busy, strict=True)]
    print(f"ceiling: plain / digitduel's runs alone ({statistics.median(busy):.1f} s a "
          f"worker, nothing else counted): median {statistics.median(ceilings):.2f}x "
          f"(pairs {', '.join(f'{c:.2f}' for c in ceilings)})")  # fmt: skip
    (dm, ds, _), (pm, ps) = acc["digitduel"], acc["plain"]
    equal = abs(dm - pm) <= max(ds, ps)
    print(f"test accuracy: digitduel {100 * dm:.2f} +- {100 * ds:.2f} %, plain "
          f"{100 * pm:.2f} +- {100 * ps:.2f} %: "
          f"{'equal within the rounds std' if equal else 'DIFFERENT'}")  # fmt: skip
    if args.out:
        figures = {"hardware": hw, "rounds": args.rounds, "epochs": args.epochs,
                   "executor": executor, "walls": walls, "pair_ratios": pair_ratios,
                   "median_ratio": median_ratio, "busy_s": busy, "ceilings": ceilings,
                   "accuracy": {"digitduel": [dm, ds],
                   "plain": [pm, ps]}}  # fmt: skip
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
