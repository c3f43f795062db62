"""Everything worth knowing about a GPU for digitduel, in one invocation (issue 17).

    python benchmarks/gpu.py OUT_DIR --data-dir DIR [--device cuda] [--rounds 10]
        [--epochs 3] [--bench-timeout 360] [--bench-jobs 4] [--smoke]

Writes OUT_DIR/gpu.json and OUT_DIR/gpu.md:
  1. environment: GPU name, driver, CUDA, cuDNN and torch versions (on CPU: "cpu" and the CPU
     model);
  2. correctness on the device, float64, dropout off (sgd-convnet): R rounds batched (with
     CUDA graphs on CUDA) against each round trained alone (eager), parameters and BatchNorm
     buffers within 1e-8; and against the serial trainer (`train_run`), every epoch's loss
     within 1e-9 and the accuracies equal;
  3. step times of one model of each report, --rounds rounds x --epochs epochs, 1000 pairs:
     serial (one round at a time), batched (eager) and batched + CUDA graphs, and the
     batched speed-up over serial (the issue's goal: >= 10x for sgd-convnet on a GPU);
  4. `digitduel bench --all --rounds 10 --device cuda` as a whole process: its wall time
     (goal: <= 180 s) and executor;
  5. on CUDA only, the same bench with `--executor batched --jobs N` (--bench-jobs, default
     4; 0 skips it): N worker processes training contestants' stacks at once on the one GPU,
     timed the same way, next to step 4 (opt-in in digitduel until this says it pays).
--smoke: tiny sizes on --device cpu (2 rounds, 1 epoch, 60 pairs, `bench` of two models):
the same code paths, so tests/test_gpu_smoke.py keeps this script from rotting. Exit code 2
for bad arguments, 1 when a correctness check fails or the bench exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from digitduel.data import draw_pairs, load_mnist
from digitduel.models.registry import REPORTS, get_spec, list_specs
from digitduel.settings import resolve_train
from digitduel.training.batched import can_batch, train_batched
from digitduel.training.device import cpu_model, resolve_device, set_threads
from digitduel.training.trainer import train_run

CHECK_MODEL = "sgd-convnet"  # BatchNorm1d and dropout (turned off for the check), SGD
PARAM_TOL, LOSS_TOL, ACC_TOL = 1e-8, 1e-9, 1e-12


def environment(device: torch.device) -> dict:
    """What the figures were measured on."""
    env = {"device": device.type, "torch": torch.__version__, "cpu": cpu_model()}
    if device.type == "cuda":
        env |= {
            "gpu": torch.cuda.get_device_name(device),
            "driver": _nvidia_smi("driver_version"),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return env


def _nvidia_smi(field: str) -> str:
    try:
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[0] if done.returncode == 0 else "unknown"
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def check_correctness(data, device: torch.device, rounds: int, n_pairs: int) -> dict:
    """Float64 on `device`: batched (graphs where the device has them) vs each round alone,
    and vs the serial trainer's per-epoch figures. Models are created in float64 (the default
    dtype for the check): a float32 initialisation cast up would not be the serial run's."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _check(data, device, rounds, n_pairs)
    finally:
        torch.set_default_dtype(default)


def _check(data, device: torch.device, rounds: int, n_pairs: int) -> dict:
    spec = get_spec(CHECK_MODEL)
    spec = replace(spec, kwargs={**spec.kwargs, "dropout": 0.0})
    # Batch 20 over 120 pairs: 6 steps an epoch, so the graphs are recorded after their
    # warm-up and replayed, for both learning rates (measured on CPU: 1e-13). Batches of 10
    # are not used: BatchNorm over 10 real digits with dead ReLU features amplifies the
    # float64 rounding of a different reduction order (R rounds vs 1) to 5e-8 in 12 steps.
    overrides = {"epochs": 2, "lr": 0.01, "lr_switch": 0.5, "batch_size": 20}
    settings = resolve_train(spec.recipe, overrides)
    seeds = list(range(1, rounds + 1))
    pairs = [_double(draw_pairs(data, n_pairs, seed=100 + s)) for s in seeds]
    stacked = train_batched(
        spec, settings, pairs, seeds, device, dtype=torch.float64, keep_state=True
    )
    param_diff = 0.0
    for outcome, seed, data_r in zip(stacked, seeds, pairs, strict=True):
        (alone,) = train_batched(
            spec, settings, [data_r], [seed], device, dtype=torch.float64, keep_state=True,
            graphs=False,
        )  # fmt: skip
        param_diff = max(param_diff, _max_diff(outcome.state, alone.state))
    loss_diff, acc_diff = _vs_serial(spec, settings, stacked, pairs, seeds, device)
    ok = param_diff < PARAM_TOL and loss_diff < LOSS_TOL and acc_diff < ACC_TOL
    return {
        "model": CHECK_MODEL, "rounds": rounds, "pairs": n_pairs, "dtype": "float64",
        "max_param_diff": param_diff, "max_epoch_loss_diff": loss_diff,
        "max_accuracy_diff": acc_diff, "ok": ok,
    }  # fmt: skip


def _double(pairs):
    for part in (pairs.train, pairs.test):
        part.input = part.input.double()
    return pairs


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel())


def _vs_serial(spec, settings, stacked, pairs, seeds, device) -> tuple[float, float]:
    """Largest per-epoch loss and accuracy gaps between the batched rounds and train_run's."""
    loss_diff = acc_diff = 0.0
    for outcome, data_r, seed in zip(stacked, pairs, seeds, strict=True):
        serial = train_run(spec, settings, data_r, seed=seed, device=device, channels_last=False)
        for a, b in zip(outcome.epochs, serial.epochs, strict=True):
            loss_diff = max(loss_diff, abs(a.train_loss - b.train_loss))
            acc_diff = max(acc_diff, abs(a.train_accuracy - b.train_accuracy),
                           abs((a.test_accuracy or 0) - (b.test_accuracy or 0)))  # fmt: skip
    return loss_diff, acc_diff


def report_models(device: torch.device) -> list[str]:
    """The first model of each report that trains batched (a step time needs all 3 modes)."""
    names = []
    for report in REPORTS:
        for spec in list_specs(report):
            settings = resolve_train(spec.recipe)
            if can_batch(spec, settings, device)[0]:
                names.append(spec.name)
                break
    return names


def step_times(data, name: str, device, rounds: int, epochs: int, n_pairs: int) -> dict:
    """Milliseconds per training step (all rounds' steps of one batch index count once for
    batched, R times for serial) and the batched speed-ups over serial."""
    spec = get_spec(name)
    settings = resolve_train(spec.recipe, {"epochs": epochs})
    seeds = list(range(rounds))
    pairs = [draw_pairs(data, n_pairs, seed=200 + s) for s in seeds]
    steps = epochs * -(-n_pairs // settings.batch_size)  # per round
    serial_s = sum(
        train_run(spec, settings, p, seed=s, device=device).wall_time_s
        for p, s in zip(pairs, seeds, strict=True)
    )
    modes = {"serial": serial_s}
    for mode, graphs in (("batched", False), ("batched+graphs", True)):
        if graphs and device.type != "cuda":
            modes[mode] = None  # CUDA graphs exist only on CUDA
            continue
        outcomes = train_batched(spec, settings, pairs, seeds, device, graphs=graphs)
        modes[mode] = sum(o.wall_time_s for o in outcomes)  # each holds a 1/R share
    per_step = {m: None if t is None else 1000 * t / (rounds * steps) for m, t in modes.items()}
    best = min(t for t in modes.values() if t is not None and t > 0)
    return {
        "model": name, "optimizer": settings.optimizer, "rounds": rounds, "epochs": epochs,
        "ms_per_round_step": per_step, "train_s": modes,
        "speedup_batched": serial_s / modes["batched"] if modes["batched"] else None,
        "speedup_best": serial_s / best,
    }  # fmt: skip


def bench_all(out_dir: Path, args, extra: tuple[str, ...] = (), name: str = "bench-all") -> dict:
    """`digitduel bench` as a whole process (with `extra` options; files OUT_DIR/`name`.*):
    wall seconds, exit code, executor."""
    models = ["--all"] if not args.smoke else ["-m", "sgd-convnet", "-m", "jomeau-simple"]
    # The smoke run: one job at a time (auto -> serial), no worker start-up to wait for.
    sizes = [] if not args.smoke else ["--epochs", "1", "--n-pairs", "60", "--jobs", "1"]
    cmd = [
        sys.executable, "-m", "digitduel", "bench", *models, "--rounds", str(args.bench_rounds),
        *sizes, *extra, "--device", str(args.device), "--data-dir", str(args.data_dir),
        "--offline", "-o", str(out_dir / f"{name}.json"), "--json",
    ]  # fmt: skip
    t0 = time.monotonic()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.bench_timeout)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as err:
        code, stdout, stderr = 124, "", f"timed out after {err.timeout} s"
    wall = time.monotonic() - t0
    (out_dir / f"{name}.log").write_text(stderr)
    executor = None
    if code == 0 and "{" in stdout:
        executor = json.loads(stdout[stdout.index("{") :]).get("executor")
    return {"command": " ".join(cmd[1:]), "exit_code": code, "wall_s": wall,
            "executor": executor, "goal_s": 180}  # fmt: skip


def markdown(figures: dict) -> str:
    env, check = figures["environment"], figures["correctness"]
    where = env.get("gpu", f"cpu ({env['cpu']})")
    lines = [
        f"# digitduel on {where}", "",
        "| | |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in env.items()),
        "", f"Correctness ({check['model']}, float64, {check['rounds']} rounds): "
        f"params {check['max_param_diff']:.2e}, epoch loss {check['max_epoch_loss_diff']:.2e}, "
        f"accuracy {check['max_accuracy_diff']:.2e}: {'OK' if check['ok'] else 'FAILED'}", "",
        "| model | optimizer | serial ms/step | batched ms/step | batched+graphs ms/step "
        "| batched speed-up | best speed-up |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in figures["step_times"]:
        ms = row["ms_per_round_step"]
        cells = [_fmt(ms[m], ".3f") for m in ("serial", "batched", "batched+graphs")]
        lines.append(f"| {row['model']} | {row['optimizer']} | {' | '.join(cells)} | "
                     f"{_fmt(row['speedup_batched'], '.1f')}x | {row['speedup_best']:.1f}x |")  # fmt: skip
    bench = figures["bench"]
    lines += ["", f"`{bench['command']}`: {bench['wall_s']:.1f} s wall, exit {bench['exit_code']}, "
              f"executor {bench['executor']} (goal <= {bench['goal_s']} s on a GPU)", ""]  # fmt: skip
    if figures.get("bench_jobs"):
        jobs = figures["bench_jobs"]
        lines += [f"`{jobs['command']}`: {jobs['wall_s']:.1f} s wall, exit {jobs['exit_code']} "
                  "(several stacks at once on the one GPU)", ""]  # fmt: skip
    return "\n".join(lines)


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path, help="where gpu.json and gpu.md go")
    ap.add_argument("--data-dir", type=Path, default=None, help="folder with the IDX files")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--bench-rounds", type=int, default=10)
    ap.add_argument("--bench-timeout", type=float, default=360.0)
    ap.add_argument("--bench-jobs", type=int, default=4,
                    help="on CUDA, also time the bench with --executor batched --jobs N (0 or 1: not)")  # fmt: skip
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (the test)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.device, args.rounds, args.epochs, args.bench_rounds = "cpu", 2, 1, 2
    if min(args.rounds, args.epochs, args.bench_rounds) < 1:
        ap.error("--rounds, --epochs and --bench-rounds must be >= 1")
    if args.bench_jobs < 0:
        ap.error("--bench-jobs must be >= 0")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    from digitduel.errors import DigitduelError

    try:
        device = resolve_device(args.device)
        data = load_mnist(args.data_dir, offline=True)
    except DigitduelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if device.type == "cpu":
        set_threads(1)  # as digitduel's executors train on CPU
    args.out_dir.mkdir(parents=True, exist_ok=True)
    n_check, n_pairs = 120, (60 if args.smoke else 1000)
    started = time.monotonic()
    figures = {"environment": environment(device), "smoke": args.smoke}
    figures["correctness"] = check_correctness(data, device, min(args.rounds, 3), n_check)
    print(f"correctness: {figures['correctness']}", flush=True)
    figures["step_times"] = []
    for name in report_models(device):
        row = step_times(data, name, device, args.rounds, args.epochs, n_pairs)
        print(f"step times: {row}", flush=True)
        figures["step_times"].append(row)
    figures["bench"] = bench_all(args.out_dir, args)
    print(f"bench: {figures['bench']}", flush=True)
    if device.type == "cuda" and args.bench_jobs > 1:
        jobs = ("--executor", "batched", "--jobs", str(args.bench_jobs))
        figures["bench_jobs"] = bench_all(args.out_dir, args, jobs, f"bench-all-jobs{jobs[-1]}")
        print(f"bench, {args.bench_jobs} stacks at once: {figures['bench_jobs']}", flush=True)
    figures["total_s"] = time.monotonic() - started
    (args.out_dir / "gpu.json").write_text(json.dumps(figures, indent=1))
    (args.out_dir / "gpu.md").write_text(markdown(figures))
    return 0 if figures["correctness"]["ok"] and figures["bench"]["exit_code"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
