"""Checks a bench makes before it trains anything, so a problem that would fail every run,
or make a resumed file mix two protocols, is one line up front instead of a file of
"failed" runs: the data (`check_data`, exit 1) and the executor family of resumed runs
(`check_executors`, exit 2).
"""

from __future__ import annotations

from pathlib import Path

from digitduel.bench.jobs import Job
from digitduel.bench.plan import BenchPlan
from digitduel.bench.results import RunRecord
from digitduel.data import MnistData, draw_pairs, fold_split
from digitduel.data.pairs import PairData
from digitduel.errors import ConfigError, DataError


def executor_family(name: str) -> str:
    """Executors whose runs agree number for number: serial and processes run the same code
    with the same seeds (one thread each); batched stacks the rounds, other random draws."""
    return "batched" if name == "batched" else "per-run"


def check_executors(done: list[RunRecord], executor: str, out_path: Path) -> None:
    """Refuse to resume runs of one executor family with the other (unless asked)."""
    for run in done:
        if run.executor and executor_family(run.executor) != executor_family(executor):
            raise ConfigError(
                f"{out_path} holds runs of the {run.executor} executor and this bench would "
                f"use {executor} (other dropout masks and batch orders): resume with "
                f"--executor {run.executor}, or add --allow-mixed-executors"
            )


def check_data(plan: BenchPlan, mnist: MnistData, jobs: list[Job]) -> None:
    """Everything about the data that would fail every run, found before the first one:
    blank digits, and enough distinct digits for each round's pairs in each split and fold
    (the same draws the runs will make)."""
    for split, what in ((mnist.train, "train"), (mnist.test, "test")):
        if len(split) and not float(split.images.float().std()) > 0:
            raise DataError(f"the {what} digits of {mnist.describe()} are blank (no pixel varies)")
    last: tuple[int, PairData] | None = None  # jobs are round-major: one draw per round
    try:
        for job in jobs:
            if last is None or last[0] != job.data_seed:
                last = (job.data_seed, draw_pairs(mnist, plan.bench.n_pairs, seed=job.data_seed))
            pairs = last[1]
            if job.fold is not None:
                pairs = fold_split(pairs, job.fold, plan.bench.folds)
                if not pairs.std > 0:
                    raise DataError(f"fold {job.fold}'s training pairs have no pixel variance")
    except DataError as err:
        raise DataError(f"{err} ({mnist.describe()}); no run was started") from None
