"""The statistics behind `reproduce` and `compare`: checked against scipy and known values."""

from __future__ import annotations

import math
import random

import pytest

from digitduel.report.stats import (
    Summary,
    compare_rounds,
    kendall_tau,
    paired,
    ranking_agreement,
    ranks,
    verdict_for,
    welch,
    welch_samples,
)

stats = pytest.importorskip("scipy.stats")


def test_welch_matches_the_scipy_documentation_example():
    # scipy.stats.ttest_ind_from_stats docs: 15.0 +- sqrt(87.5) (13) vs 12.0 +- sqrt(39) (11).
    r = welch(Summary(12.0, math.sqrt(39.0), 11), Summary(15.0, math.sqrt(87.5), 13))
    assert r.test == "welch"
    assert r.diff == pytest.approx(3.0)
    assert r.t == pytest.approx(0.9358461935556048)
    assert r.df == pytest.approx(20.9846, abs=1e-4)  # Welch-Satterthwaite, not 22
    assert r.p == pytest.approx(0.35999818693244234)
    assert r.verdict == "consistent"


@pytest.mark.parametrize("seed", range(5))
def test_welch_agrees_with_scipy_on_random_summaries(seed):
    rng = random.Random(seed)
    a = Summary(rng.uniform(80, 99), rng.uniform(0.1, 3), rng.randint(2, 20))
    b = Summary(rng.uniform(80, 99), rng.uniform(0.1, 3), rng.randint(2, 20))
    ref = stats.ttest_ind_from_stats(b.mean, b.std, b.n, a.mean, a.std, a.n, equal_var=False)
    r = welch(a, b)
    assert r.t == pytest.approx(ref.statistic)
    assert r.p == pytest.approx(ref.pvalue)


def test_a_clear_gap_is_better_or_worse_by_its_sign():
    report = Summary(97.91, 0.36, 15)
    ours_low = Summary(95.0, 0.5, 15)
    worse = welch(report, ours_low)
    assert worse.verdict == "worse" and worse.diff < 0 and worse.p < 1e-6
    better = welch(ours_low, report)
    assert better.verdict == "better" and better.diff > 0


def test_a_difference_inside_the_spread_is_consistent():
    r = welch(Summary(80.2, 1.9, 10), Summary(81.0, 2.1, 10))
    assert r.verdict == "consistent" and r.p > 0.05


def test_one_round_cannot_be_tested():
    r = welch(Summary(80.2, 1.9, 10), Summary(81.0, 0.0, 1))
    assert r.p is None and r.verdict == "n/a" and r.diff == pytest.approx(0.8)


def test_zero_spread_on_both_sides():
    # The Jomeau table prints train accuracy 100 +- 0: equal means agree, any gap does not.
    assert welch(Summary(100, 0, 10), Summary(100, 0, 10)).verdict == "consistent"
    r = welch(Summary(100, 0, 10), Summary(99.9, 0, 10))
    assert r.verdict == "worse" and r.p == 0.0


def test_zero_spread_on_one_side_uses_the_other():
    r = welch(Summary(100, 0, 10), Summary(99.5, 0.3, 10))
    ref = stats.ttest_1samp([99.5 + 0.3 * z for z in _unit_sample(10)], 100)
    assert r.df == pytest.approx(9)
    assert r.p == pytest.approx(ref.pvalue)


def _unit_sample(n):
    # n values with mean 0 and sample std exactly 1.
    raw = [float(i) for i in range(n)]
    s = Summary.of(raw)
    return [(v - s.mean) / s.std for v in raw]


def test_summary_uses_the_sample_std():
    s = Summary.of([1.0, 2.0, 3.0, 4.0])
    assert s.mean == 2.5 and s.n == 4
    assert s.std == pytest.approx(stats.tstd([1.0, 2.0, 3.0, 4.0]))  # ddof=1


def test_paired_matches_scipy_ttest_rel():
    a = [97.1, 96.8, 97.5, 97.0, 96.9, 97.3]
    b = [97.6, 97.0, 97.9, 97.4, 97.5, 97.4]
    ref = stats.ttest_rel(b, a)
    r = paired(a, b)
    assert r.test == "paired" and r.df == 5
    assert r.t == pytest.approx(ref.statistic) and r.p == pytest.approx(ref.pvalue)
    assert r.verdict == "better"


def test_pairing_finds_a_gap_that_welch_misses():
    # Both contestants ride the same round-to-round noise; b is always 0.3 ahead.
    noise = [0.0, 2.0, -1.5, 1.0, -2.0, 0.5, 1.5, -0.5]
    a = [90 + e for e in noise]
    b = [90.3 + e + 0.05 * (-1) ** i for i, e in enumerate(noise)]
    assert welch_samples(a, b).verdict == "consistent"
    assert paired(a, b).verdict == "better"


def test_paired_needs_equal_rounds():
    with pytest.raises(ValueError):
        paired([1.0, 2.0], [1.0])


def test_compare_rounds_pairs_shared_rounds_only_when_asked():
    a = {0: 90.0, 1: 92.0, 2: 91.0}
    b = {0: 90.5, 1: 92.4, 2: 91.6, 3: 80.0}
    assert compare_rounds(a, b, same_draws=True).test == "paired"
    assert compare_rounds(a, b, same_draws=False).test == "welch"
    assert compare_rounds({0: 90.0}, {0: 91.0}, same_draws=True).verdict == "n/a"
    assert compare_rounds({}, b, same_draws=True).verdict == "n/a"


def test_verdict_threshold_is_inclusive_at_alpha():
    assert verdict_for(1.0, 0.05) == "consistent"
    assert verdict_for(1.0, 0.0499) == "better"
    assert verdict_for(-1.0, 0.0499) == "worse"
    assert verdict_for(1.0, None) == "n/a"


@pytest.mark.parametrize(
    "x,y",
    [
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]),
        ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]),
        (
            [97.8, 97.6, 97.2, 96.4, 84.6, 83.5, 80.2, 79.6],
            [97.5, 97.7, 96.9, 95.0, 85.0, 84.0, 79.0, 80.1],
        ),
        ([1, 2, 2, 3], [1, 3, 2, 2]),  # ties on both sides: tau-b
    ],
)
def test_kendall_tau_matches_scipy(x, y):
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


def test_kendall_tau_undefined_cases():
    assert kendall_tau([1.0], [2.0]) is None
    assert kendall_tau([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None


def test_ranking_agreement_and_ranks():
    theirs = {"a": 97.0, "b": 90.0, "c": 80.0, "only-theirs": 50.0}
    ours = {"a": 96.0, "b": 81.0, "c": 85.0}
    assert ranking_agreement(theirs, ours) == pytest.approx(1 / 3)
    assert ranks(ours) == {"a": 1, "c": 2, "b": 3}
    assert ranks({"x": 1.0, "y": 1.0, "z": 0.5}) == {"x": 1, "y": 1, "z": 3}
