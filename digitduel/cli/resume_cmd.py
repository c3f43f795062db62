"""`digitduel resume FILE`, and `--resume` from the results file alone.

A results file stores the whole plan of its bench (bench.resume.plan_from_results), so
continuing it needs nothing else. Options given beside it may change how it runs (executor,
jobs, offline) and `-r/--rounds` may grow it; anything else that decides a run's result must
agree with the stored plan, or the resume is refused naming the option (exit 2): runs under
two settings in one file would make one mean of unlike things.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from digitduel.cli.main import app
from digitduel.cli.run_options import (
    ModelFiles,
    ModelName,
    RunOptions,
    load_model_files,
    run_and_report,
    setting_help,
)
from digitduel.errors import ConfigError

# How many and how, never what one run computes: these may change on a resume.
FREE = ("rounds", "executor", "jobs", "ray_address", "gpus_per_job")


def stored_plan(run: RunOptions, result: Any = None, **own: Any) -> Any:
    """The plan stored in `run.out` (`result`: that file, already loaded), with the rounds,
    executor and jobs given; refuses any other setting given (flags, `own` command flags,
    `--set`) that the plan does not have."""
    from digitduel.bench.plan import make_bench_settings
    from digitduel.bench.resume import plan_from_results

    out = run.out
    if out is None or not Path(out).exists():
        raise ConfigError(f"nothing to resume: {out} does not exist (give the results file)")
    plan = plan_from_results(out if result is None else result, path=out)
    given, names = run.settings(**own), run.flag_names(**own)
    for key, value in given.items():
        if key in FREE:
            continue
        differing = [v for v in _stored_values(plan, key) if v != value]
        if differing:
            _refuse(names[key], value, differing[0], out)
    if run.data_dir is not None:
        wanted = run.data_source()["data_dir"]
        if plan.data_dir is None or Path(plan.data_dir).resolve() != Path(wanted):
            _refuse("--data-dir", wanted, plan.data_dir or "the default data", out)
    free = {k: given[k] for k in FREE if k in given}
    bench = make_bench_settings(plan.bench.model_dump(), free, where="flags")
    return plan.model_copy(update={"bench": bench, "offline": plan.offline or run.offline})


def _stored_values(plan: Any, key: str) -> list[Any]:
    from digitduel.settings import BENCH_KEYS

    if key in BENCH_KEYS:
        return [getattr(plan.bench, key)]
    return [getattr(c.settings, key) for c in plan.contestants]


def _refuse(flag: str, value: Any, stored: Any, out: Path) -> None:
    raise ConfigError(
        f"{flag} {value} differs from the plan stored in {out} ({stored}): a resume continues "
        "that plan (only -r/--rounds and how it runs: --executor, -j/--jobs, ray's options "
        "may change); drop the option "
        "or write a new --out"
    )


@app.command()
def resume(
    file: Path = typer.Argument(
        ..., metavar="FILE", help="The results file of a cancelled or killed bench."
    ),
    rounds: int | None = typer.Option(
        None, "--rounds", "-r", metavar="INT", help="Grow the bench to this many rounds."
    ),
    executor: str | None = typer.Option(
        None, "--executor", metavar="NAME", help=setting_help("executor", "the stored one")
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", metavar="INT", help=setting_help("jobs", "the stored one")
    ),
    offline: bool = typer.Option(False, "--offline", metavar="", help="Never download the data."),
    as_json: bool = typer.Option(
        False, "--json", metavar="", help="Print only the summary JSON on stdout."
    ),
    model_files: ModelFiles = None,
    name: ModelName = None,
) -> None:
    """Continue a bench, tune or reproduce run from its results file alone: the runs it
    lacks are run with the plan stored in the file, and the file is completed."""
    stored = _start_workers_early(file, executor, jobs)  # before anything imports torch
    # User models load from where the results file says they came from (bench.resume); a
    # --model-file given here is loaded first (a module the file did not record, say).
    load_model_files(model_files, name)
    run = RunOptions(
        rounds=rounds, executor=executor, jobs=jobs, offline=offline, out=file, resume=True,
        as_json=as_json,
    )  # fmt: skip
    run_and_report(stored_plan(run, stored), run)


def _start_workers_early(file: Path, executor: str | None, jobs: int | None) -> Any:
    """Read the results file, and start the forkserver now if its bench (with the executor
    and jobs given) will use worker processes (digitduel.bench.forkserver). Returns the file
    read, for `stored_plan`; None where it does not read (stored_plan then says why)."""
    from digitduel.bench.forkserver import start_early
    from digitduel.bench.results import load_results

    try:
        result = load_results(file)
    except Exception:  # noqa: BLE001 - stored_plan reports it in one line
        return None
    bench = result.bench
    start_early(executor or bench.executor, bench.device, jobs or bench.jobs)
    return result
