"""Checks a bench makes before it trains anything, so a problem that would fail every run,
or make a resumed file mix two protocols, is one line up front instead of a file of
"failed" runs: the data (`check_data`, exit 1) and the executor family of resumed runs
(`check_executors`, exit 2), judged per contestant: each run's record names the executor that
really trained it, and under `--executor batched` a contestant the batched trainer cannot take
is trained per run by the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from digitduel.bench.jobs import Job
from digitduel.bench.plan import BenchPlan, Contestant
from digitduel.bench.results import RunRecord
from digitduel.data import MnistData, draw_pairs, fold_split
from digitduel.data.pairs import PairData
from digitduel.errors import ConfigError, DataError
from digitduel.models.registry import get_spec


def executor_family(name: str) -> str:
    """Executors whose runs agree number for number: serial and processes run the same code
    with the same seeds (one thread each); batched stacks the rounds, other random draws."""
    return "batched" if name == "batched" else "per-run"


def check_executors(
    done: list[RunRecord],
    executor: str,
    out_path: Path,
    contestants: Sequence[Contestant] = (),
    device: torch.device | str = "cpu",
) -> None:
    """Refuse to resume runs of one executor family with the other (unless asked), contestant
    by contestant: the batched executor hands a contestant `can_batch` refuses to its per-run
    fallback, so that contestant's runs are per-run ones under either executor."""
    would_use = _families(done, executor, contestants, torch.device(device))
    for run in done:
        wanted = would_use.get(run.model, executor_family(executor))
        if not run.executor or executor_family(run.executor) == wanted:
            continue
        if wanted == "per-run" and executor_family(executor) == "batched":
            # Files written before runs named their real executor call the fallback's runs
            # "batched": for a contestant that cannot be batched they are per-run all the same.
            continue
        raise ConfigError(
            f"{out_path} holds runs of {run.model} by the {run.executor} executor and this "
            f"bench would train it with {executor} (other dropout masks and batch orders): "
            f"resume with --executor {run.executor}, or add --allow-mixed-executors"
        )


def _families(
    done: list[RunRecord], executor: str, contestants: Sequence[Contestant], device: torch.device
) -> dict[str, str]:
    """The executor family this bench would train each resumed contestant with (by label)."""
    if executor_family(executor) != "batched":
        return {}
    from digitduel.training.batched import can_batch

    resumed = {run.model for run in done}
    return {
        c.label: "batched" if can_batch(get_spec(c.model), c.settings, device)[0] else "per-run"
        for c in contestants
        if c.label in resumed
    }


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
