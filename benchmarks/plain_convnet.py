"""The SGD report's ConvNet trained the way a student script does it, with nothing from
digitduel: the yardstick `benchmarks/cpu_target.py` times `digitduel bench` against.

    python benchmarks/plain_convnet.py --data-dir ../shared/data/mnist [--rounds 10] [--epochs 50]

It reads the four MNIST IDX files itself, pools them to 14x14 (2x2 average, as the course's
prologue), and for each round draws fresh 1000 train / 1000 test pairs (target: first digit
<= second), standardised with the train pairs' mean and std. The model and the training loop
(Table 1's ConvNet, SGD 9e-2 then 1e-3 after 3/5 of the epochs, weight decay 5e-4, batch 100,
test set evaluated once at the end, torch's default threads) are `bench_vs_plain.ConvNet` and
`bench_vs_plain.plain_run`, which import nothing from digitduel either. Prints each round's
test accuracy and the mean +- std. Exit code 2 for bad arguments, 1 for unreadable data.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from bench_vs_plain import plain_run  # this folder: the scripts run as benchmarks/<name>.py

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(folder: Path, stem: str) -> np.ndarray:
    """An IDX file (plain or .gz) as a numpy array: the magic's last byte is the rank."""
    path = folder / stem if (folder / stem).exists() else folder / f"{stem}.gz"
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def load_split(folder: Path, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    """14x14 float digits (0..255, 2x2 average-pooled) and their int64 labels."""
    images, labels = (read_idx(folder, stem) for stem in FILES[which])
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    return F.avg_pool2d(x, kernel_size=2).squeeze(1), torch.from_numpy(labels.astype(np.int64))


def pairs_from(images, labels, n, gen):
    idx = torch.randperm(len(labels), generator=gen)[: 2 * n].view(n, 2)
    return images[idx], labels[idx]


def draw_round(train, test, n: int, seed: int) -> SimpleNamespace:
    """n train and n test pairs; inputs standardised with the train pairs' statistics."""
    gen = torch.Generator().manual_seed(seed)
    (tr_x, tr_c), (te_x, te_c) = pairs_from(*train, n, gen), pairs_from(*test, n, gen)
    mean, std = tr_x.mean(), tr_x.std()

    def split(x, c):
        return SimpleNamespace(input=(x - mean) / std, target=(c[:, 0] <= c[:, 1]).long())

    return SimpleNamespace(train=split(tr_x, tr_c), test=split(te_x, te_c))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, type=Path, help="folder with the IDX files")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--n-pairs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.rounds < 1 or args.epochs < 1 or args.n_pairs < 2:
        ap.error("--rounds and --epochs must be >= 1, --n-pairs >= 2")
    try:
        train, test = load_split(args.data_dir, "train"), load_split(args.data_dir, "test")
    except (OSError, ValueError, IndexError) as err:
        print(f"error: cannot read MNIST from {args.data_dir}: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    accs = []
    for r in range(args.rounds):
        pairs = draw_round(train, test, args.n_pairs, seed=args.seed + 1000 * r)
        accs.append(plain_run(pairs, seed=args.seed + r, epochs=args.epochs))
        print(f"round {r}: {100 * accs[-1]:.2f} %", flush=True)
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"plain loop: {100 * statistics.fmean(accs):.2f} +- {100 * std:.2f} % test accuracy")


if __name__ == "__main__":
    main()
