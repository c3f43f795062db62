"""The Student-t tail behind every p-value: written out (no scipy in a user's install), so it is
checked against closed forms here, and against scipy where the dev extra has it."""

from __future__ import annotations

import math
import random

import pytest

from digitduel.report.stats import _two_sided_p


@pytest.mark.parametrize("t", [0.0, 1e-8, 0.3, 1.0, 2.5, 12.0, 400.0, -3.0])
def test_closed_forms_for_one_and_two_degrees_of_freedom(t):
    # df = 1 is Cauchy: P(|T| >= t) = 1 - 2 atan(t) / pi; df = 2: 1 - t / sqrt(2 + t^2).
    assert _two_sided_p(t, 1) == pytest.approx(1 - 2 * math.atan(abs(t)) / math.pi, abs=1e-12)
    assert _two_sided_p(t, 2) == pytest.approx(1 - abs(t) / math.sqrt(2 + t * t), abs=1e-12)


def test_textbook_critical_values_give_five_percent():
    # Two-sided 5% critical values of Student's t (any statistics table).
    for df, t in [(4, 2.776445), (9, 2.262157), (19, 2.093024), (60, 2.000298)]:
        assert _two_sided_p(t, df) == pytest.approx(0.05, abs=1e-6)


def test_infinite_t_and_large_df():
    assert _two_sided_p(math.inf, 3) == 0.0
    # Large df tends to the normal: P(|Z| >= 1.959964) = 0.05.
    assert _two_sided_p(1.959964, 1e7) == pytest.approx(0.05, abs=1e-6)


def test_agrees_with_scipy_everywhere_it_is_accurate():
    stdtr = pytest.importorskip("scipy.special").stdtr
    rng = random.Random(0)
    for _ in range(5000):
        df = rng.choice([1, 3, 9, 18, rng.uniform(0.5, 60), 200, 1e4])
        t = rng.choice([rng.uniform(-1, 1), rng.uniform(-10, 10), rng.uniform(-100, 100)])
        assert _two_sided_p(t, df) == pytest.approx(2 * stdtr(df, -abs(t)), abs=1e-9)
