"""When scheduled drills may run: a random start inside a window, and dates when they must not."""

from __future__ import annotations

import random
from datetime import date

from bascule.io.escaping import quoted

MAX_WINDOW_MINUTES = 7 * 24 * 60
"""A start window of at most a week: the period of the weekly schedule drills run on; a longer window would start
a drill after the next scheduled one."""


def parse_blackout(values: list[str]) -> list[date]:
    """`2026-12-24` or `2026-12-24..2027-01-02` (inclusive); a bad value raises ValueError naming it."""
    days: list[date] = []
    for value in values:
        for part in (p.strip() for p in value.split(",") if p.strip()):
            first, _, last = part.partition("..")
            try:
                start, end = date.fromisoformat(first), date.fromisoformat(last or first)
            except ValueError:
                raise ValueError(f"--blackout: {quoted(part)} is not a date (YYYY-MM-DD) or a range (A..B)") from None
            if end < start:
                raise ValueError(f"--blackout: {quoted(part)} ends before it starts")
            days += [date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1)]
    return days


def window_delay(window_minutes: float, rng: random.Random) -> float:
    """Seconds to wait before starting: uniform over the window, so drills do not always hit the same minute."""
    if window_minutes < 0:
        raise ValueError("--window must be zero or more minutes")
    return rng.uniform(0, window_minutes * 60)
