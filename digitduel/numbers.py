"""Numbers over rounds, said once for the engine and for every screen.

- `mean_std`: the mean and the *sample* std (ddof=1, as the reports' `torch.std`) of per-round
  values. Below two values there is no spread to speak of, so the std is None (never a
  misleading 0): the results file, the tables, the TUI and `reproduce` all show the mean alone.
- `pct` / `MISSING`: how a number reads on screen. Fractions become percent with two
  decimals, a std follows as `± s`, a round count as `(n)`, and a number that does not exist
  is `-` (plain ASCII: it reads the same in a pipe, a log or Markdown).
- `round_label`: rounds as a user reads them, counted from 1 ("round 1") everywhere text is
  shown; the results file's `round` field stays the 0-based index (round_label(0) == "round 1").
- `middle_ellipsis`: a long path or name made to fit a width by cutting its middle, so both
  the start (where) and the end (which file) stay readable.

Pure Python, no imports from digitduel: the engine (bench summaries) and the report/TUI
layers both use it without depending on each other.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

MISSING = "-"  # a number that does not exist (no finished round, untestable, not timed)
PLUS_MINUS = "±"
ELLIPSIS = "…"


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """(mean, sample std) of `values`; (None, None) when empty, std None below two values."""
    if not values:
        return None, None
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) >= 2 else None)


def pct(
    mean: float | None,
    std: float | None = None,
    n: int | None = None,
    *,
    scale: float = 100.0,
    digits: int = 2,
) -> str:
    """A mean (fractions by default; `scale=1` for values already in percent) as
    `97.31 ± 0.42 (10)`: the std only when there is one, the round count only when given."""
    if mean is None or math.isnan(mean):
        return MISSING
    text = f"{scale * mean:.{digits}f}"
    if std is not None:
        text += f" {PLUS_MINUS} {scale * std:.{digits}f}"
    if n is not None:
        text += f" ({n})"
    return text


def round_label(index: int, rounds: int | None = None) -> str:
    """A 0-based round index as a user reads it: `round 1`, or `round 1/4` given the total."""
    text = f"round {index + 1}"
    return f"{text}/{rounds}" if rounds else text


def middle_ellipsis(text: str, width: int) -> str:
    """`text` within `width` characters: unchanged when it fits, else its start and end kept
    around a `…` (the end gets the extra character: a file name matters more than its
    folder). Never wider than `width`; a width below 2 leaves only the ellipsis."""
    if len(text) <= width:
        return text
    if width < 2:
        return ELLIPSIS[: max(width, 0)]
    keep = width - 1
    head = keep // 2
    tail = keep - head
    return f"{text[:head]}{ELLIPSIS}{text[-tail:]}"
