"""Is our number the report's number? Small, honest two-sample statistics.

The reports publish only mean +- std over a number of rounds, so the report-vs-ours test is
Welch's unequal-variance t-test *from summary statistics* (mean, std, n). Two contestants of
one results file saw the same data draw in each round, so there the test is the paired t-test
on per-round differences (it removes the draw-to-draw noise both share). Across two results
files nothing is shared: Welch again.

Conventions (say them once, use them everywhere):
- accuracies are in percent; `diff` is always ``ours - theirs`` (``b - a`` for compare);
- every std is the sample std (ddof=1), which is what the reports' `torch.std` /
  `np.std(ddof=1)` style tables most plausibly are; a report that printed the population std
  makes our p-values very slightly too small;
- the p-value is two-sided; the verdict is *consistent* when p >= alpha (0.05), otherwise
  *better* or *worse* by the sign of `diff`. With fewer than two rounds on a side there is no
  spread to test against and the verdict is *n/a*.

The Student-t tail comes from `student_t.py` (pure Python: scipy is not a dependency), and
agrees with `scipy.special.stdtr` in the tests. Kendall's tau-b is computed here directly
(a dozen rows at most) and checked against `scipy.stats.kendalltau` in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from digitduel.report.student_t import two_sided_p as _two_sided_p

ALPHA = 0.05

Verdict = Literal["consistent", "better", "worse", "n/a"]
TestKind = Literal["welch", "paired", "none"]


@dataclass(frozen=True)
class Summary:
    """mean +- sample std over n rounds (percent)."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summary of per-round values; std is the sample std (0 for a single value)."""
        n = len(values)
        if n == 0:
            raise ValueError("no values to summarise")
        mean = math.fsum(values) / n
        var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(mean, math.sqrt(var), n)


@dataclass(frozen=True)
class TestResult:
    """One two-sample comparison: b against a (diff = b.mean - a.mean)."""

    test: TestKind
    diff: float
    t: float | None  # t statistic (inf when both spreads are zero and the means differ)
    df: float | None  # degrees of freedom
    p: float | None  # two-sided p-value; None when untestable
    verdict: Verdict


def verdict_for(diff: float, p: float | None, alpha: float = ALPHA) -> Verdict:
    """consistent / better / worse from the sign of diff and a two-sided p-value."""
    if p is None:
        return "n/a"
    if p >= alpha:
        return "consistent"
    return "better" if diff > 0 else "worse"


def _degenerate(diff: float, test: TestKind, df: float, alpha: float) -> TestResult:
    # Zero spread on both sides: any difference at all is "significant", none is not.
    if diff == 0:
        return TestResult(test, 0.0, 0.0, df, 1.0, "consistent")
    t = math.copysign(math.inf, diff)
    return TestResult(test, diff, t, df, 0.0, verdict_for(diff, 0.0, alpha))


def welch(a: Summary, b: Summary, alpha: float = ALPHA) -> TestResult:
    """Welch's t-test of b against a from summary statistics alone.

    t = (mean_b - mean_a) / sqrt(s_a^2/n_a + s_b^2/n_b), with Welch-Satterthwaite df.
    Same numbers as ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``.
    """
    diff = b.mean - a.mean
    if a.n < 2 or b.n < 2:
        return TestResult("welch", diff, None, None, None, "n/a")
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    se2 = va + vb
    if se2 == 0:
        return _degenerate(diff, "welch", float(a.n + b.n - 2), alpha)
    df = se2**2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    t = diff / math.sqrt(se2)
    p = _two_sided_p(t, df)
    return TestResult("welch", diff, t, df, p, verdict_for(diff, p, alpha))


def welch_samples(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> TestResult:
    """Welch's t-test of per-round values b against a (independent samples)."""
    return welch(Summary.of(a), Summary.of(b), alpha)


def paired(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> TestResult:
    """Paired t-test of b against a, round by round (same data draw in each round).

    t = mean(d) / (sd(d) / sqrt(n)), d = b - a, df = n - 1. Same numbers as
    ``scipy.stats.ttest_rel(b, a)``.
    """
    if len(a) != len(b):
        raise ValueError(f"paired test needs equal rounds, got {len(a)} and {len(b)}")
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    if not diffs:
        raise ValueError("no rounds to compare")
    d = Summary.of(diffs)
    if d.n < 2:
        return TestResult("paired", d.mean, None, None, None, "n/a")
    if d.std == 0:
        return _degenerate(d.mean, "paired", float(d.n - 1), alpha)
    t = d.mean / (d.std / math.sqrt(d.n))
    p = _two_sided_p(t, d.n - 1)
    return TestResult("paired", d.mean, t, float(d.n - 1), p, verdict_for(d.mean, p, alpha))


def compare_rounds(
    a: dict[int, float], b: dict[int, float], *, same_draws: bool, alpha: float = ALPHA
) -> TestResult:
    """b against a, given per-round values keyed by round index.

    With `same_draws` (both from one bench) the rounds the two share are paired; the test
    falls back to Welch on all values when fewer than two rounds are shared.
    """
    shared = sorted(set(a) & set(b))
    if same_draws and len(shared) >= 2:
        return paired([a[r] for r in shared], [b[r] for r in shared], alpha)
    if not a or not b:  # a contestant with no finished round: nothing to test
        return TestResult("none", math.nan, None, None, None, "n/a")
    return welch_samples(list(a.values()), list(b.values()), alpha)


def fmt_p(p: float | None) -> str:
    """A p-value for a table cell: '-' when untestable, '<1e-4', else 3 decimals."""
    if p is None:
        return "-"
    if p < 1e-4:
        return "<1e-4"
    return f"{p:.3f}" if p < 0.995 else "1.00"


def rank_order(means: dict[str, float]) -> list[str]:
    """Labels from best to worst mean (ties keep the given order)."""
    return sorted(means, key=lambda k: -means[k])


def ranks(means: dict[str, float]) -> dict[str, int]:
    """1-based competition ranks, best mean first (equal means share a rank)."""
    out: dict[str, int] = {}
    for label in means:
        out[label] = 1 + sum(1 for other in means.values() if other > means[label])
    return out


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between two paired score lists (ties handled as tau-b does).

    1: same order, -1: reversed, None: undefined (fewer than two items or one side constant).
    """
    if len(x) != len(y):
        raise ValueError("kendall_tau needs two lists of equal length")
    concordant = discordant = ties_x = ties_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx = (x[i] > x[j]) - (x[i] < x[j])
            dy = (y[i] > y[j]) - (y[i] < y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx == dy:
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    if denom == 0:
        return None
    return (concordant - discordant) / denom


def ranking_agreement(theirs: dict[str, float], ours: dict[str, float]) -> float | None:
    """Kendall's tau-b between the report's means and ours, over the labels both have."""
    labels = [k for k in theirs if k in ours]
    return kendall_tau([theirs[k] for k in labels], [ours[k] for k in labels])
