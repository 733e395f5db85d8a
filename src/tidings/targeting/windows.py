"""Time windows every evaluator shares.

Daily counts are per UTC day, so "in the last D days" means UTC days from
today - (D - 1) to today, today included, and "on each of the last N days" means every
one of those N days. Relative dates ("more than 7 days ago") compare exact instants with
`now` - days x 24 h. Datetime attributes are text `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), so
they compare as text in Python and SQL alike.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$", re.ASCII
)


def day_window(now: datetime, days: int) -> tuple[date, date]:
    """(first day, today) of the last `days` UTC days, today included."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=days - 1), today


def days_ago(now: datetime, days: float) -> datetime:
    """The instant `days` x 24 h before `now`."""
    return now - timedelta(days=days)


def datetime_text(moment: datetime) -> str:
    """A moment in the attribute text form (UTC, milliseconds, `Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_moment(text: str) -> datetime | None:
    """An ISO-8601 datetime with a zone (or `Z`) as aware UTC, or None if it is not one."""
    if not isinstance(text, str) or not DATETIME_RE.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)
