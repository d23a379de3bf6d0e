"""How numbers enter a record: times rounded to the millisecond, scores to four decimals.

Every stage rounds with these before it hands a block on, so the same analysis gives the same
bytes (report/canonical.py then serialises the record as it is).
"""

from __future__ import annotations

TIME_DECIMALS = 3
SCORE_DECIMALS = 4


def seconds(value: float | None) -> float | None:
    """A time in seconds, rounded to the millisecond."""
    return None if value is None else round(float(value), TIME_DECIMALS)


def score(value: float | None) -> float | None:
    """A probability or score, rounded to four decimals."""
    return None if value is None else round(float(value), SCORE_DECIMALS)
