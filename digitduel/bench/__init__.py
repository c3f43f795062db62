"""The bench: contestants x rounds, trained through an executor, written as they finish.

plan = plan_from_preset("quick", bench_overrides={"rounds": 1})
result = run_bench(plan, "r.json", on_event=print)
load_results("r.json").summary
"""

from digitduel.bench.plan import (
    BenchPlan,
    Contestant,
    ReportRow,
    plan_for_all,
    plan_for_models,
    plan_from_preset,
    round_seeds,
)
from digitduel.bench.results import BenchResult, RunRecord, load_results
from digitduel.bench.runner import run_bench

__all__ = [
    "BenchPlan",
    "BenchResult",
    "Contestant",
    "ReportRow",
    "RunRecord",
    "load_results",
    "plan_for_all",
    "plan_for_models",
    "plan_from_preset",
    "round_seeds",
    "run_bench",
]
