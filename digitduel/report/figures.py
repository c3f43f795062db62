"""The figures' numbers, computed once from results files: every renderer draws these.

`digitduel plot` (terminal and files), `digitduel export --format html` and the TUI's results
screen all take their series from here, so a curve or a box cannot differ between them. Pure
Python over `bench.results.BenchResult`: no plotting library is imported.

Conventions, stated once:
- accuracies are percent here (fractions in the file);
- curves: the line is the mean over a contestant's rounds that ended "ok"; the accuracy band
  is +-1 sample std (clipped to 0-100%), the loss band min-max (a loss band must stay
  positive on a log axis);
- boxes: quartiles by the "inclusive" method (numpy's default linear interpolation), whiskers
  at the furthest round within 1.5 IQR of the box (Tukey), every round drawn as a point;
- time: training wall time per run (`wall_time_s`), mean and sample std over the runs that
  did not fail (the bench summary's `time_mean_s`);
- sweep: a `tune` result's mean +- std validation accuracy per grid point.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitduel.bench.results import BenchResult, load_results
from digitduel.errors import DigitduelError

KINDS = ("curves", "box", "time", "sweep")


@dataclass(frozen=True)
class Source:
    """One results file and the name its contestants carry when several files share a figure."""

    result: BenchResult
    name: str  # the file's stem (or the result's name when not read from a file)

    @property
    def device(self) -> str:
        env = self.result.environment
        return env.gpu or env.device_name or env.device


def load_sources(paths: list[str | Path]) -> list[Source]:
    """Read results files with the schema's own loader (a bad file is one clear line)."""
    if not paths:
        raise DigitduelError("no results file given", code=2)
    return [Source(load_results(p), Path(p).stem) for p in paths]


def source_of(result: BenchResult) -> Source:
    return Source(result, result.name)


def series_label(label: str, source: Source, several: bool) -> str:
    """The contestant's label, with its file's name when several files share a figure."""
    return f"{label} [{source.name}]" if several else label


# ---- curves -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Mean over rounds per epoch, with a band; x is the epoch number (1-based)."""

    epochs: list[int]
    mean: list[float]
    lo: list[float]
    hi: list[float]


@dataclass(frozen=True)
class Curves:
    label: str
    rounds: int  # rounds that ended "ok" and entered the means
    loss: Band  # train loss, band min-max
    accuracy: Band  # held-out accuracy %, band +-1 std


def _per_epoch(runs: list, value) -> dict[int, list[float]]:
    """epoch -> the values of every run at that epoch (None values skipped)."""
    out: dict[int, list[float]] = {}
    for run in runs:
        for rec in run.epochs:
            v = value(rec)
            if v is not None and math.isfinite(v):
                out.setdefault(rec.epoch, []).append(v)
    return out


def _band(per_epoch: dict[int, list[float]], spread: str) -> Band:
    epochs = sorted(per_epoch)
    means = [statistics.fmean(per_epoch[e]) for e in epochs]
    if spread == "minmax":
        lo = [min(per_epoch[e]) for e in epochs]
        hi = [max(per_epoch[e]) for e in epochs]
    else:  # accuracy: a band past 0 or 100% would draw impossible values, so it stops there
        sd = [statistics.stdev(per_epoch[e]) if len(per_epoch[e]) > 1 else 0.0 for e in epochs]
        lo = [max(0.0, m - s) for m, s in zip(means, sd, strict=True)]
        hi = [min(100.0, m + s) for m, s in zip(means, sd, strict=True)]
    return Band(epochs, means, lo, hi)


def has_epochs(result: BenchResult) -> bool:
    return any(run.epochs for run in result.runs)


def curves(sources: list[Source]) -> list[Curves]:
    """Per contestant of every file: mean train loss and held-out accuracy per epoch."""
    missing = [s.name for s in sources if not has_epochs(s.result)]
    if missing:
        raise DigitduelError(
            f"no per-epoch data in {', '.join(missing)}: curves need a results file whose runs "
            "kept their epochs (try --kind box or time)"
        )
    several = len(sources) > 1
    out = []
    for src in sources:
        for c in src.result.contestants:
            ok = [r for r in src.result.runs if r.model == c.label and r.status == "ok"]
            if not any(r.epochs for r in ok):
                continue
            loss = _per_epoch(
                ok, lambda e: e.train_loss if e.train_loss and e.train_loss > 0 else None
            )
            acc = _per_epoch(
                ok, lambda e: None if e.test_accuracy is None else 100 * e.test_accuracy
            )
            out.append(
                Curves(
                    series_label(c.label, src, several),
                    len(ok),
                    _band(loss, "minmax"),
                    _band(acc, "std"),
                )
            )
    return out


def held_out(sources: list[Source]) -> str:
    """'test', or 'val' when every file is a cross-validation (what the accuracy measured)."""
    kinds = {s.result.bench.held_out for s in sources}
    return kinds.pop() if len(kinds) == 1 else "test/val"


# ---- box --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    label: str
    values: list[float]  # accuracy % of each ok round, in round order
    q1: float
    median: float
    q3: float
    whisker_lo: float
    whisker_hi: float
    mean: float
    std: float  # sample std; 0 for a single round
    report: tuple[float, float | None] | None = None  # the report's (mean, std), percent


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Q1, median, Q3 by linear interpolation (numpy's default), any n >= 1."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def box_of(label: str, values: list[float], report=None) -> Box:
    q1, med, q3 = quartiles(values)
    reach = 1.5 * (q3 - q1)
    inside = [v for v in values if q1 - reach <= v <= q3 + reach]
    return Box(
        label,
        list(values),
        q1,
        med,
        q3,
        min(inside),
        max(inside),
        statistics.fmean(values),
        statistics.stdev(values) if len(values) > 1 else 0.0,
        report,
    )


def _report_rows(result: BenchResult) -> dict[str, tuple[float, float | None]]:
    """The report's published test accuracy per label, as `digitduel reproduce` reads it."""
    if not result.report:
        return {}
    from digitduel.report.reproduce import reproduction_from_results

    rows = reproduction_from_results(result).rows
    return {
        r.label: (r.theirs.mean, r.theirs.std if r.theirs.n else None) for r in rows if r.theirs
    }


def boxes(sources: list[Source]) -> list[Box]:
    """Held-out accuracy of every ok round per contestant; the report's number where known."""
    several = len(sources) > 1
    out = []
    for src in sources:
        report = _report_rows(src.result)
        for c in src.result.contestants:
            runs = sorted(
                (r for r in src.result.runs if r.model == c.label and r.status == "ok"),
                key=lambda r: r.round,
            )
            values = [100 * r.test_accuracy for r in runs if r.test_accuracy is not None]
            if values:
                label = series_label(c.label, src, several)
                out.append(box_of(label, values, report.get(c.label)))
    if not out:
        raise DigitduelError("no finished round with an accuracy in these results: nothing to plot")
    return out


# ---- time -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeBar:
    label: str  # the contestant
    group: str  # the file and its device: "cpu-run (AMD EPYC)"
    mean: float
    std: float
    lo: float
    hi: float
    n: int


def time_bars(sources: list[Source]) -> list[TimeBar]:
    """Training wall time per run, per contestant and file (files side by side)."""
    out = []
    for src in sources:
        group = f"{src.name} ({src.device})"
        for c in src.result.contestants:
            times = [
                r.wall_time_s
                for r in src.result.runs
                if r.model == c.label and r.status != "failed"
            ]
            if times:
                sd = statistics.stdev(times) if len(times) > 1 else 0.0
                out.append(
                    TimeBar(
                        c.label,
                        group,
                        statistics.fmean(times),
                        sd,
                        min(times),
                        max(times),
                        len(times),
                    )
                )
    if not out:
        raise DigitduelError("no run with a wall time in these results: nothing to plot")
    return out


# ---- sweep ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepLine:
    label: str  # the model, and the other swept settings' values when the grid has two keys
    x: list[float]
    mean: list[float]
    std: list[float]
    n: list[int]


@dataclass
class Sweep:
    key: str  # the swept training setting (the x axis)
    lines: list[SweepLine]
    references: list[tuple[str, float, float]] = field(default_factory=list)  # label, mean, std
    held_out: str = "val"

    @property
    def xs(self) -> list[float]:
        return sorted({x for line in self.lines for x in line.x})

    @property
    def x_scale(self) -> str:
        """'log' for a log-spaced grid, 'symlog' when it also holds 0, else 'linear'."""
        positive = [x for x in self.xs if x > 0]
        if len(positive) < 3 or positive[-1] / positive[0] < 10:
            return "linear"
        ratios = [b / a for a, b in zip(positive, positive[1:], strict=False)]
        gaps = [b - a for a, b in zip(positive, positive[1:], strict=False)]
        log_spaced = max(ratios) / min(ratios) < max(gaps) / min(gaps)
        if not log_spaced:
            return "linear"
        return "log" if len(positive) == len(self.xs) else "symlog"


def varying_keys(result: BenchResult) -> list[str]:
    """A search's swept settings: the numeric training settings whose value differs between
    contestants of one model (a `tune` grid's keys); none for a bench of several models."""
    dumps = [c.settings.model_dump() for c in result.contestants]
    if len(dumps) < 2 or len({c.model for c in result.contestants}) > 1:
        return []
    keys = [k for k in dumps[0] if any(d[k] != dumps[0][k] for d in dumps[1:])]
    return [k for k in keys if all(isinstance(d[k], int | float) for d in dumps)]


def _sweep_lines(src: Source, key: str, several: bool) -> list[SweepLine]:
    others = [k for k in varying_keys(src.result) if k != key]
    summary = {s.label: s for s in src.result.summary}
    groups: dict[str, list[tuple[float, Any]]] = {}
    for c in src.result.contestants:
        s = summary.get(c.label)
        if s is None or s.test_mean is None:
            continue
        settings = c.settings.model_dump()
        name = " ".join([c.model] + [f"{k}={settings[k]:g}" for k in others])
        groups.setdefault(series_label(name, src, several), []).append((float(settings[key]), s))
    lines = []
    for label, points in groups.items():
        points.sort(key=lambda p: p[0])
        lines.append(
            SweepLine(
                label,
                [p[0] for p in points],
                [100 * p[1].test_mean for p in points],
                [100 * (p[1].test_std or 0.0) for p in points],
                [p[1].ok for p in points],
            )
        )
    return lines


def sweep(sources: list[Source]) -> Sweep:
    """The first file's grid against its first varying setting; later files that vary the
    same setting add lines, the others add reference lines (their best contestant: the
    no-aux and digit-only models of Jomeau et al.'s fig. 2)."""
    first = sources[0]
    keys = varying_keys(first.result)
    if not keys:
        raise DigitduelError(
            f"{first.name} is not a search (one model, a numeric setting varied): sweep needs a "
            "`digitduel tune` result first"
        )
    key = keys[0]
    several = len(sources) > 1
    result = Sweep(key, [], held_out=held_out(sources))
    for src in sources:
        if key in varying_keys(src.result):
            result.lines += _sweep_lines(src, key, several)
            continue
        scored = [s for s in src.result.summary if s.test_mean is not None]
        if scored:
            best = max(scored, key=lambda s: s.test_mean)
            label = f"{best.label} [{src.name}]" if several else best.label
            result.references.append((label, 100 * best.test_mean, 100 * (best.test_std or 0.0)))
    return result


def applicable_kinds(sources: list[Source]) -> list[str]:
    """The figure kinds these files can draw (`--kind all`, the HTML export)."""
    kinds = []
    if all(has_epochs(s.result) for s in sources):
        kinds.append("curves")
    kinds += ["box", "time"]
    if varying_keys(sources[0].result):
        kinds.append("sweep")
    return kinds
