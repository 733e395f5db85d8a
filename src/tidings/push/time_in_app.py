"""Time in app after a push open (PURE): from the open to the user's last event of the
activity that continues it, i.e. events at or after the open, each no more than
`gap` after the previous one (the open counts as the first), capped at `cap`.

A session ends after 30 minutes without events, so the same gap also ends the chain
when the SDK starts a new session; an open followed by no event within `gap` is not
covered (nothing says the app was used, or that the SDK reports).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

GAP = timedelta(minutes=30)
CAP = timedelta(hours=4)


def seconds_after_open(
    opened_at: datetime,
    events: Iterable[datetime],
    *,
    gap: timedelta = GAP,
    cap: timedelta = CAP,
) -> float | None:
    """Seconds from `opened_at` to the last event of its continuing activity (at most
    `cap`); None when no event follows within `gap`. `events` may be in any order."""
    last = opened_at
    covered = False
    for at in sorted(e for e in events if e >= opened_at):
        if at - last > gap:
            break
        last = at
        covered = True
        if at - opened_at >= cap:
            break
    if not covered:
        return None
    return min(last - opened_at, cap).total_seconds()


@dataclass(frozen=True, slots=True)
class TimeInApp:
    """Median and mean seconds over the opens covered; None when none is."""

    median: float | None
    mean: float | None
    opens: int


def summarize(durations: Sequence[float | None]) -> TimeInApp:
    covered = [d for d in durations if d is not None]
    if not covered:
        return TimeInApp(None, None, 0)
    return TimeInApp(statistics.median(covered), statistics.fmean(covered), len(covered))
