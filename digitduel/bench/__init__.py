"""The bench: contestants x rounds, trained through an executor, written as they finish.

    plan = plan_from_preset("quick", bench_overrides={"rounds": 1})
    result = run_bench(plan, "r.json", on_event=print)
    load_results("r.json").summary

A new executor (a cluster, say) implements `Executor` and calls `register_executor`; it runs
`Job`s with `run_job` wherever it likes (see digitduel.bench.executors and .jobs).

Names load on first use, so `digitduel show` (results only) never imports torch.
"""

from importlib import import_module

_EXPORTS = {
    "BenchPlan": "plan",
    "Contestant": "plan",
    "ReportRow": "plan",
    "plan_for_all": "plan",
    "plan_for_models": "plan",
    "plan_from_preset": "presets",
    "round_seeds": "plan",
    "DataContext": "jobs",
    "Job": "jobs",
    "run_job": "jobs",
    "Executor": "executors",
    "register_executor": "executors",
    "BenchResult": "results",
    "RunRecord": "results",
    "load_results": "results",
    "run_bench": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"digitduel.bench.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'digitduel.bench' has no attribute {name!r}")
