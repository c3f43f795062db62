"""The ray executor's overhead against the processes executor, on this machine, in one launch.

    python benchmarks/ray_overhead.py --repeats 3 --data-dir ../shared/data/mnist

Two benches, each run through the real command line (`digitduel bench ... --executor E`, a
fresh process each time, so Ray starts its local instance every run, as a user's command
does): the `quick` preset (3 contestants x 2 rounds, 10 epochs: few long runs), and a 40-run
bench of short runs (2 contestants x 20 rounds, 2 epochs, 200 pairs: the per-task cost shows).
Repeats are interleaved (ray, processes, processes, ray, ...) so a machine shared with others
slows both alike; medians are reported: the wall time of each, the ratio ray/processes, and
Ray's start-up (the "started X s" of the one line it prints). Each pair's test accuracies must
be identical, (contestant, round) by (contestant, round): the script says if they are not.
The 1-minute load average before each run is printed: on a shared machine, read it.
This is a benchmark, not a test: it takes minutes, and prints, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIGITDUEL = str(Path(sys.executable).parent / "digitduel")
BENCHES = {
    "quick preset": ["--preset", "quick"],
    "40 short runs": ["--model", "jomeau-ws2", "--model", "jomeau-simple", "--rounds", "20",
                      "--epochs", "2", "--n-pairs", "200"],
}  # fmt: skip
STARTED = re.compile(r"connected to Ray cluster: .*started ([0-9.]+) s\)")


def run_once(args: list[str], executor: str, data_dir: str, out: Path) -> dict:
    """One `digitduel bench` process, timed from outside: wall seconds, Ray's start-up, and
    each run's test accuracy."""
    load = os.getloadavg()[0]
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("RAY_ADDRESS", None)  # a local instance, sized to this machine
    command = [DIGITDUEL, "bench", *args, "--executor", executor, "--data-dir", data_dir,
               "--out", str(out), "--offline"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-500:]}")
    startup = STARTED.search(done.stdout)
    runs = json.loads(out.read_text())["runs"]
    return {
        "wall": wall,
        "load": load,
        "startup": float(startup.group(1)) if startup else None,
        "quiet": done.stderr.strip() == "",
        "accuracies": sorted((r["model"], r["round"], r["test_accuracy"]) for r in runs),
    }


def compare(name: str, args: list[str], repeats: int, data_dir: str, folder: Path) -> None:
    timings: dict[str, list[dict]] = {"ray": [], "processes": []}
    for i in range(repeats):
        order = ("ray", "processes") if i % 2 == 0 else ("processes", "ray")
        for executor in order:
            t = run_once(args, executor, data_dir, folder / f"{executor}-{i}.json")
            timings[executor].append(t)
            start = f", Ray start-up {t['startup']:.1f} s" if t["startup"] else ""
            print(f"  {name} #{i + 1} {executor:9}: {t['wall']:6.1f} s{start} "
                  f"(load {t['load']:.1f}, quiet terminal: {t['quiet']})", flush=True)  # fmt: skip
        ray_acc, local_acc = (
            timings["ray"][-1]["accuracies"],
            timings["processes"][-1]["accuracies"],
        )
        if ray_acc != local_acc:
            print(f"  !! accuracies differ between ray and processes in repeat {i + 1}")
    ray_wall = statistics.median(t["wall"] for t in timings["ray"])
    local_wall = statistics.median(t["wall"] for t in timings["processes"])
    ratios = [
        r["wall"] / p["wall"] for r, p in zip(timings["ray"], timings["processes"], strict=True)
    ]
    startup = statistics.median(t["startup"] for t in timings["ray"] if t["startup"])
    print(f"{name}: ray {ray_wall:.1f} s, processes {local_wall:.1f} s (medians of {repeats}); "
          f"ray/processes median {statistics.median(ratios):.2f}x "
          f"(pairs {', '.join(f'{r:.2f}' for r in ratios)}); "
          f"Ray start-up median {startup:.1f} s; ray minus start-up / processes "
          f"{(ray_wall - startup) / local_wall:.2f}x", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--only", choices=sorted(BENCHES), help="one of the two benches")
    options = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for name, args in BENCHES.items():
            if options.only in (None, name):
                compare(name, args, options.repeats, options.data_dir, Path(folder))


if __name__ == "__main__":
    main()
