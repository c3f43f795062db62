"""Plain loops, as a reader writes them from a report, on digitduel's own round pairs: a
cross-check that where digitduel falls short of a report, a reader's script does too.

    python benchmarks/plain_loops.py sgd-ws-aux --rounds 15 --data-dir ../shared/data/mnist \
        --compare docs/results/sgd.json
    python benchmarks/plain_loops.py jomeau-digit --rounds 10 --data-dir ../shared/data/mnist \
        --compare docs/results/jomeau.json [--digit-batch 100]
    python benchmarks/plain_loops.py jomeau-aux40 --rounds 10 --data-dir ../shared/data/mnist \
        --compare docs/results/jomeau.json
    python benchmarks/plain_loops.py borba-siamese2 --rounds 10 --data-dir ../shared/data/mnist \
        --compare docs/results/borba.json

Round r uses the pairs digitduel's bench draws for round r (same data seed), so with
--compare the two are paired round by round (paired t-test). Initialisation and batch order
are the loop's own; no digitduel model, trainer or objective is used. Not a test: a round
takes 5-10 s on one core.
"""

import argparse
import json
import statistics
from functools import partial

import torch
import torch.nn.functional as F
from bench_vs_plain import ConvNet  # this folder: the scripts run as benchmarks/<name>.py
from scipy import stats
from torch import nn

from digitduel.bench.plan import round_seeds
from digitduel.data import draw_pairs, load_mnist


class Net(nn.Module):
    """The shared module on each digit, softmax, cat, then the final MLP (20-150-50-2)."""

    def __init__(self):
        super().__init__()
        self.branch = ConvNet(in_channels=1, outputs=10)  # Table 1's ConvNet module
        self.fc1 = nn.Linear(20, 150)
        self.bn1 = nn.BatchNorm1d(150)
        self.fc2 = nn.Linear(150, 50)
        self.bn2 = nn.BatchNorm1d(50)
        self.fc3 = nn.Linear(50, 2)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        a = self.branch(x[:, 0:1])
        b = self.branch(x[:, 1:2])
        h = torch.cat([F.softmax(a, 1), F.softmax(b, 1)], 1)
        h = self.drop(self.bn1(F.relu(self.fc1(h))))
        h = self.drop(self.bn2(F.relu(self.fc2(h))))
        return self.fc3(h), a, b


def run_ce_aux(p, seed, net, lr, alpha, epochs, weight_decay=0.0, lr2=None, switch=None):
    """SGD on batches of 100 pairs, cross-entropy on the target + alpha x (cross-entropy of
    digit 1 + of digit 2); `lr2` from epoch `switch` on. Returns the test accuracy."""
    torch.manual_seed(seed)
    m = net()
    opt = torch.optim.SGD(m.parameters(), lr=lr, weight_decay=weight_decay)
    x, y, c = p.train.input, p.train.target, p.train.classes
    for ep in range(epochs):
        if ep == switch:
            for g in opt.param_groups:
                g["lr"] = lr2
        m.train()
        perm = torch.randperm(x.shape[0])
        for s in range(0, x.shape[0], 100):
            i = perm[s : s + 100]
            out, a, b = m(x[i])
            loss = F.cross_entropy(out, y[i]) + alpha * (
                F.cross_entropy(a, c[i, 0]) + F.cross_entropy(b, c[i, 1])
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    with torch.no_grad():
        return (m(p.test.input)[0].argmax(1) == p.test.target).float().mean().item()


def cnnd() -> nn.Sequential:
    """Jomeau et al.'s CNNd: conv 8 (k3), ReLU, max pool 2, conv 16 (k3), ReLU, then
    256-100-200-100-10 with ReLU between the linear layers."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 100), nn.ReLU(), nn.Linear(100, 200), nn.ReLU(),
        nn.Linear(200, 100), nn.ReLU(), nn.Linear(100, 10),
    )  # fmt: skip


def run_jomeau_digit(p, seed, digit_batch=200, epochs=25):
    """Section IV: Adam lr 5e-4 (Table I), 25 epochs, MSE against the one-hot class, trained
    on the 2000 single digits; a pair is predicted by comparing the two predicted classes.
    `digit_batch` 200 is "a mini batch size of 100" pairs; 100 reads it as 100 digits."""
    torch.manual_seed(seed)
    m = cnnd()
    opt = torch.optim.Adam(m.parameters(), lr=5e-4)
    x, c = p.train.input.reshape(-1, 1, 14, 14), p.train.classes.reshape(-1)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for s in range(0, x.shape[0], digit_batch):
            i = perm[s : s + digit_batch]
            loss = F.mse_loss(m(x[i]), F.one_hot(c[i], 10).float())
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        d = m(p.test.input.reshape(-1, 1, 14, 14)).argmax(1).reshape(-1, 2)
        return ((d[:, 0] <= d[:, 1]).long() == p.test.target).float().mean().item()


class CNNaux(nn.Module):
    """Jomeau et al.'s CNNaux: per digit 3 convs (16/32/32, k2) with ReLU, max pool 2,
    800-50-50-10 (the auxiliary output); ReLU, cat, then 20-50-50-50-1."""

    def __init__(self):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(1, 16, 2), nn.ReLU(), nn.Conv2d(16, 32, 2), nn.ReLU(),
            nn.Conv2d(32, 32, 2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(800, 50), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 10),
        )  # fmt: skip
        self.comparator = nn.Sequential(
            nn.Linear(20, 50), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(),
            nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 1),
        )  # fmt: skip

    def forward(self, x):
        a, b = self.branch(x[:, 0:1]), self.branch(x[:, 1:2])
        return self.comparator(F.relu(torch.cat([a, b], 1))).squeeze(1), a, b


def run_jomeau_aux(p, seed, alpha, lr, epochs=25):
    """Section IV with Table I's learning rate: Adam, 25 epochs, batch 100 pairs, MSE of the
    one output against the 0/1 target + alpha x (MSE of each digit's 10 outputs against its
    one-hot class); predicted 1 when the output exceeds 0.5."""
    torch.manual_seed(seed)
    m = CNNaux()
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    x, y, c = p.train.input, p.train.target.float(), p.train.classes
    onehot = F.one_hot(c, 10).float()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for s in range(0, x.shape[0], 100):
            i = perm[s : s + 100]
            out, a, b = m(x[i])
            digit_loss = F.mse_loss(a, onehot[i, 0]) + F.mse_loss(b, onehot[i, 1])
            loss = F.mse_loss(out, y[i]) + alpha * digit_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return ((m(p.test.input)[0] > 0.5).long() == p.test.target).float().mean().item()


class Siamese2(nn.Module):
    """Borba et al.'s Siamese2 as section 2.2 reads: per digit conv 64 (k4), max pool 2, ReLU,
    BatchNorm; conv 8 (k4), ReLU, BatchNorm; 32 -> 64, ReLU, BatchNorm; 64 -> 10, ReLU; then
    cat(20) -> 2, ReLU. Kernels are not stated (4, as the baseline's)."""

    def __init__(self):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(1, 64, 4), nn.MaxPool2d(2), nn.ReLU(), nn.BatchNorm2d(64),
            nn.Conv2d(64, 8, 4), nn.ReLU(), nn.BatchNorm2d(8), nn.Flatten(),
            nn.Linear(32, 64), nn.ReLU(), nn.BatchNorm1d(64), nn.Linear(64, 10), nn.ReLU(),
        )  # fmt: skip
        self.out = nn.Linear(20, 2)

    def forward(self, x):
        a, b = self.branch(x[:, 0:1]), self.branch(x[:, 1:2])
        return F.relu(self.out(torch.cat([a, b], 1))), a, b


LOOPS = {
    # SGD report, section 3: SGD 9e-2 then 1e-3 after 3/5 of 50 epochs, weight decay 5e-4,
    # CE + 0.75 x (CE digit 1 + CE digit 2)
    "sgd-ws-aux": partial(
        run_ce_aux, net=Net, lr=9e-2, alpha=0.75, epochs=50, weight_decay=5e-4, lr2=1e-3, switch=30
    ),
    # Borba et al., section 3: SGD lr 1 (the grid search's "surprisingly high" optimum), target
    # and digit losses weighted equally; batch 100 and 25 epochs are not stated (the preset's)
    "borba-siamese2": partial(run_ce_aux, net=Siamese2, lr=1.0, alpha=1.0, epochs=25),
    "jomeau-digit": run_jomeau_digit,
    "jomeau-aux2": partial(run_jomeau_aux, alpha=2.0, lr=1e-3),
    "jomeau-aux40": partial(run_jomeau_aux, alpha=40.0, lr=1e-3),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=sorted(LOOPS), help="digitduel's name for the model")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--digit-batch", type=int, default=200, help="jomeau-digit: digits per batch")
    ap.add_argument("--seed", type=int, default=0, help="digitduel's base seed (data draws)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--compare", default=None, help="a digitduel results JSON with the model")
    args = ap.parse_args()
    if args.rounds < 2:
        ap.error("--rounds must be at least 2 (a std and a paired test need two rounds)")
    torch.set_num_threads(1)
    mnist = load_mnist(args.data_dir)
    loop = LOOPS[args.model]
    if args.model == "jomeau-digit":  # the one loop with a batch reading to choose
        loop = partial(loop, digit_batch=args.digit_batch)
    accs = []
    for r in range(args.rounds):
        data_seed, init_seed = round_seeds(args.seed, r)
        pairs = draw_pairs(mnist, 1000, seed=data_seed)
        accs.append(loop(pairs, init_seed))
        print(f"round {r}: {100 * accs[-1]:.2f} %", flush=True)
    print(f"plain loop: {100 * statistics.fmean(accs):.2f} +- {100 * statistics.stdev(accs):.2f} %")
    if args.compare:
        runs = json.load(open(args.compare))["runs"]
        ours = {x["round"]: x["test_accuracy"] for x in runs if x["model"] == args.model}
        paired = [(ours[r], a) for r, a in enumerate(accs) if r in ours]
        a, b = [p[0] for p in paired], [p[1] for p in paired]
        test = stats.ttest_rel(a, b)
        print(f"digitduel on the same {len(a)} rounds: {100 * statistics.fmean(a):.2f} +- "
              f"{100 * statistics.stdev(a):.2f} %; paired t-test p = {test.pvalue:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
