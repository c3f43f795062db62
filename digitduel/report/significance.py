"""Statistics for `digitduel compare`: is contestant B really better than contestant A?

Pairing is decided from the results themselves, not assumed: two runs are paired when they
trained and tested on the same data draw, i.e. the same round of the same data (same source,
same number of pairs, same per-round data seed). Every contestant of one bench shares its
rounds' draws, and so do two benches run with the same base seed on the same data. Anything
else is compared as independent samples (Welch). See `report.stats` for the tests.
"""

from __future__ import annotations

from typing import Any

from digitduel.report.stats import TestResult, compare_rounds, fmt_p


def rounds_of(result: Any, label: str) -> dict[int, float]:
    """Test accuracy in percent per round index, over the rounds of `label` that ended ok."""
    return {
        run.round: 100.0 * run.test_accuracy
        for run in result.runs
        if run.model == label and run.status == "ok" and run.test_accuracy is not None
    }


def _draws(result: Any, label: str) -> dict[int, int]:
    return {run.round: run.data_seed for run in result.runs if run.model == label}


def share_draws(result_a: Any, label_a: str, result_b: Any, label_b: str) -> bool:
    """True when every round both contestants finished used the same data draw."""
    if result_a is not result_b:
        # `description` names the digits (source, path, how many): as `compare` decides.
        same_data = (
            result_a.data.description == result_b.data.description
            and result_a.data.n_pairs == result_b.data.n_pairs
            # a cross-validation validates on folds of the train draw, not on its test pairs
            and result_a.bench.folds == result_b.bench.folds
        )
        if not same_data:
            return False
    da, db = _draws(result_a, label_a), _draws(result_b, label_b)
    shared = set(da) & set(db)
    return bool(shared) and all(da[r] == db[r] for r in shared)


def compare_contestants(
    result_a: Any, label_a: str, result_b: Any | None = None, label_b: str | None = None
) -> TestResult:
    """B against A (diff = B - A, percent): paired on shared draws, Welch otherwise.

    `result_b` defaults to `result_a` (two contestants of one file), `label_b` to `label_a`
    (the same contestant in two files).
    """
    result_b = result_a if result_b is None else result_b
    label_b = label_a if label_b is None else label_b
    paired = share_draws(result_a, label_a, result_b, label_b)
    return compare_rounds(
        rounds_of(result_a, label_a), rounds_of(result_b, label_b), same_draws=paired
    )


def describe(t: TestResult) -> str:
    """One short cell: '+1.23 (paired p=0.004, better)'."""
    if t.p is None:
        return f"{t.diff:+.2f} (n/a: too few rounds)" if t.diff == t.diff else "n/a"
    return f"{t.diff:+.2f} ({t.test} p={fmt_p(t.p)}, {t.verdict})"
