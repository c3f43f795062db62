"""Adapter between the bench's jobs and digitduel.training.batched (the R-rounds-as-one-model
trainer). It groups jobs by contestant, asks `can_batch`, and trains each batchable group in
one call, which emits the same events and returns the same RunOutcomes as serial runs. What
cannot be batched is returned for the fallback executor, with a Note saying why.

`run_group` is the same for one worker process of `--executor batched --jobs N` (the
processes executor's pool, digitduel.bench.processes.run_pool): one contestant's rounds as one
stack, and what cannot be batched trained there job by job, recorded as "processes" runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from digitduel.bench.jobs import DataContext, Job, JobSink
from digitduel.bench.processes import Report, Unit, run_each
from digitduel.models.registry import get_spec
from digitduel.training import batched
from digitduel.training.device import set_threads
from digitduel.training.events import Cancel, Note, OnEvent
from digitduel.training.trainer import RunOutcome

# What a worker's per-run leftovers are recorded as: they train as a processes worker's jobs
# do (the same code, one torch thread), so their figures are the processes executor's.
LEFTOVERS_EXECUTOR = "processes"


def by_contestant(jobs: list[Job]) -> dict[str, list[Job]]:
    """The jobs grouped by contestant label, in the order the contestants first appear."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.contestant.label, []).append(job)
    return groups


def run_batched(jobs, ctx, sink: JobSink) -> list[Any]:
    """Run what can be batched; return the jobs left for another executor."""
    device = torch.device(ctx.device)
    leftovers: list[Any] = []
    for label, group in by_contestant(jobs).items():
        if sink.cancelled():
            break
        spec = get_spec(group[0].contestant.model)
        settings = group[0].contestant.settings
        ok, reason = batched.can_batch(spec, settings, device)
        if not ok:
            sink.on_event(
                Note(
                    f"{label}: not batched ({reason}); the fallback trains its rounds one at a time",
                    "warning",
                )
            )
            leftovers.extend(group)
            continue
        try:
            outcomes = batched.train_batched(
                spec,
                settings,
                [ctx.job_pairs(job) for job in group],
                [job.seed for job in group],
                device,
                cancel=sink.cancel,
                jobs=[job.key for job in group],
                on_event=sink.on_event,  # RunStarted and per-epoch EpochEnd, as serial runs emit
            )
        except Exception as err:  # noqa: BLE001 - a failed batch is R failed runs, the bench goes on
            message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            outcomes = [RunOutcome(status="failed", params=0, error=message) for _ in group]
        for job, outcome in zip(group, outcomes, strict=True):
            sink.on_record(job, outcome)
    return leftovers


def run_group(
    unit: Unit, ctx: DataContext, report: Report, on_event: OnEvent, cancel: Cancel
) -> None:
    """A worker's unit of work under `batched --jobs N` (processes.RunUnit): its jobs (one
    contestant's rounds) as one stack; those `can_batch` refuses run here one by one, on one
    torch thread as the processes executor's workers run them, and are recorded as such."""
    index_of = {job.key: index for index, job in unit}
    sink = JobSink(lambda job, outcome: report(index_of[job.key], outcome), on_event, cancel)
    leftovers = run_batched([job for _, job in unit], ctx, sink)
    if not leftovers or sink.cancelled():
        return
    previous = torch.get_num_threads()
    set_threads(1)
    try:
        run_each(
            [(index_of[job.key], job) for job in leftovers],
            ctx,
            lambda index, outcome: report(index, replace(outcome, executor=LEFTOVERS_EXECUTOR)),
            on_event,
            cancel,
        )
    finally:
        set_threads(previous)
