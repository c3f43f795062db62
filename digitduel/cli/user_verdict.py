"""After a bench with user models: each against the best built-in contestant, paired.

`bench --model-file mine.py -m mine -m sgd-ws-aux` then ends with the verdict a user came
for (is mine better than the reports' best?), the same paired t-test `compare` prints.
"""

from __future__ import annotations

import math
from typing import Any


def user_verdict(result: Any, console: Any) -> dict[str, Any]:
    """`run_and_report`'s `extra`: print (console not None) the user models against the best
    built-in of the bench; return the same for the summary JSON (empty without user models)."""
    from digitduel.report.significance import compare_contestants

    users = set(result.models or {})
    finished = [s for s in result.summary if s.test_mean is not None]
    mine = [s.label for s in finished if s.model_name in users]
    theirs = [s for s in finished if s.model_name not in users]
    if not mine or not theirs:
        return {}
    best = max(theirs, key=lambda s: s.test_mean).label
    if console is not None:
        from digitduel.report.tables import within_table

        console.print(within_table(result, [best, *mine], "your models"))
    verdicts = []
    for label in mine:
        t = compare_contestants(result, best, result, label)
        diff = t.diff if math.isfinite(t.diff) else None  # JSON has no NaN
        verdicts.append(
            {
                "label": label,
                "reference": best,
                "diff": diff,
                "p": t.p,
                "test": t.test,
                "verdict": t.verdict,
            }
        )
    return {"user_models": verdicts}
