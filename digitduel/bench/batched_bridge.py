"""Adapter between the bench's jobs and digitduel.training.batched (the R-rounds-as-one-model
trainer). It groups jobs by contestant, asks `can_batch`, and trains each batchable group in
one call, which emits the same events and returns the same RunOutcomes as serial runs. What
cannot be batched is returned for the fallback executor, with a Note saying why.
"""

from __future__ import annotations

from typing import Any

import torch

from digitduel.bench.jobs import JobSink
from digitduel.models.registry import get_spec
from digitduel.training import batched
from digitduel.training.events import Note
from digitduel.training.trainer import RunOutcome


def run_batched(jobs, ctx, sink: JobSink) -> list[Any]:
    """Run what can be batched; return the jobs left for another executor."""
    device = torch.device(ctx.device)
    groups: dict[str, list[Any]] = {}
    for job in jobs:
        groups.setdefault(job.contestant.label, []).append(job)
    leftovers: list[Any] = []
    for label, group in groups.items():
        if sink.cancelled():
            break
        spec = get_spec(group[0].contestant.model)
        settings = group[0].contestant.settings
        ok, reason = batched.can_batch(spec, settings, device)
        if not ok:
            sink.on_event(
                Note(f"{label}: not batched ({reason}); using the fallback executor", "warning")
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
