"""The pure-Python Student-t tail that replaced scipy: closed forms, tables, and scipy itself
where it happens to be installed."""

from __future__ import annotations

import math
import random

import pytest

from digitduel.report.student_t import incomplete_beta, two_sided_p


@pytest.mark.parametrize("t", [0.0, 1e-8, 0.3, 1.0, 2.5, 12.0, 400.0])
def test_closed_forms_for_one_and_two_degrees_of_freedom(t):
    # df = 1 is the Cauchy distribution; df = 2 has an algebraic tail.
    assert two_sided_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), rel=1e-12)
    assert two_sided_p(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-10, abs=1e-15)


@pytest.mark.parametrize(
    ("t", "df", "p"),
    # Two-sided critical values from any t table: the p-values the verdicts hinge on.
    [
        (2.228138851986, 10, 0.05),
        (2.093024054408, 19, 0.05),
        (2.860934606465, 19, 0.01),
        (1.959963984540, 1e9, 0.05),
        (3.169272672617, 10, 0.01),
    ],
)
def test_table_values(t, df, p):
    assert two_sided_p(t, df) == pytest.approx(p, rel=1e-4)
    assert two_sided_p(-t, df) == two_sided_p(t, df)


def test_edges():
    assert two_sided_p(0.0, 7) == 1.0
    assert two_sided_p(math.inf, 7) == 0.0
    assert 0 < two_sided_p(1e-7, 5000) <= 1.0
    assert incomplete_beta(2.0, 3.0, 0.0) == 0.0 and incomplete_beta(2.0, 3.0, 1.0) == 1.0
    with pytest.raises(ValueError):
        two_sided_p(1.0, 0)


def test_agrees_with_scipy_where_installed():
    special = pytest.importorskip("scipy.special")
    rng = random.Random(0)
    for _ in range(2000):
        df = rng.choice([rng.uniform(0.5, 3), rng.uniform(1, 40), rng.uniform(40, 5000)])
        t = rng.choice([rng.uniform(0, 3), rng.uniform(0, 50), 10 ** rng.uniform(-6, 2)])
        assert two_sided_p(t, df) == pytest.approx(2 * special.stdtr(df, -t), rel=1e-9)
