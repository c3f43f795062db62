"""Adapter between the bench's jobs and digitduel.training.batched (the R-rounds-as-one-model
trainer). It groups jobs by contestant, asks `can_batch`, trains each batchable group in one
call, and turns per-round outcomes back into the same RunOutcome and events a serial run
gives. What cannot be batched is returned for the fallback executor, with a Note saying why.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from digitduel.training.device import synchronize
from digitduel.training.events import EpochEnd, Note, RunStarted
from digitduel.training.trainer import EpochMetrics, RunOutcome


def run_batched(jobs, ctx, *, on_record, on_event, cancel) -> list[Any]:
    """Run what can be batched; return the jobs left for another executor."""
    try:
        from digitduel.training import batched
    except ImportError as err:
        on_event(
            Note(f"batched executor unavailable ({err}); using the fallback executor", "warning")
        )
        return list(jobs)
    from digitduel.models.registry import get_spec

    groups: dict[str, list[Any]] = {}
    for job in jobs:
        groups.setdefault(job.contestant.label, []).append(job)
    leftovers: list[Any] = []
    for label, group in groups.items():
        if cancel is not None and cancel.is_set():
            break
        spec = get_spec(group[0].contestant.model)
        settings = group[0].contestant.settings
        ok, reason = batched.can_batch(spec, settings)
        if not ok:
            on_event(
                Note(f"{label}: not batched ({reason}); using the fallback executor", "warning")
            )
            leftovers.extend(group)
            continue
        _train_group(batched, spec, group, ctx, on_record, on_event, cancel)
    return leftovers


def _train_group(batched, spec, group, ctx, on_record, on_event, cancel) -> None:
    settings = group[0].contestant.settings
    device = torch.device(ctx.device)
    pairs = [ctx.pairs(job.data_seed) for job in group]
    params = sum(p.numel() for p in spec.create().parameters())
    for job in group:
        on_event(RunStarted(job=job.key, model=spec.name, params=params, epochs=settings.epochs))
    history: list[list[EpochMetrics]] = [[] for _ in group]

    def on_epoch(r: int, e: Any) -> None:
        lr = settings.lr_at(e.epoch - 1)
        history[r].append(
            EpochMetrics(
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                e.test_accuracy,
                e.digit_accuracy,
                lr,
                e.elapsed_s,
            )
        )
        on_event(
            EpochEnd(
                job=group[r].key,
                epoch=e.epoch,
                epochs=e.epochs,
                train_loss=e.train_loss,
                train_accuracy=e.train_accuracy,
                test_accuracy=e.test_accuracy,
                digit_accuracy=e.digit_accuracy,
                elapsed_s=e.elapsed_s,
            )
        )

    started = time.perf_counter()
    try:
        outcomes = batched.train_batched(
            spec, settings, pairs, [job.seed for job in group], device, on_epoch, cancel
        )
    except Exception as err:  # noqa: BLE001 - a failed batch is R failed runs, the bench goes on
        message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        for job in group:
            on_record(
                job, RunOutcome(status="failed", params=params, error=message, device=str(device))
            )
        return
    synchronize(device)
    total = time.perf_counter() - started
    for job, out, epochs in zip(group, outcomes, history, strict=True):
        on_record(
            job,
            RunOutcome(
                status=out.status,
                params=out.params,
                train_accuracy=out.train_accuracy,
                test_accuracy=out.test_accuracy,
                digit_accuracy=out.digit_accuracy,
                # The rounds trained together: each run's share of the batch's time.
                wall_time_s=out.wall_time_s,
                total_time_s=total / len(group),
                epochs=epochs,
                device=str(device),
                error=out.message,
            ),
        )
