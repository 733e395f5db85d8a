"""Event time (pure): parse client timestamps, correct clock skew, clamp the future.

Segment's rule: timestamp = received_at - (sent_at - timestamp). A client whose clock is
days off still gets its events placed correctly, within the transit time of the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

FUTURE_LIMIT = timedelta(hours=23)
SKEW_WARNING = timedelta(minutes=1)
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
MS_THRESHOLD = 1e11


class TimeError(ValueError):
    """A timestamp that cannot be read."""


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text or epoch seconds/milliseconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TimeError("datetimes need a timezone (e.g. a trailing Z)")
        return value.astimezone(UTC)
    if isinstance(value, bool):
        raise TimeError("expected an ISO-8601 string or an epoch number")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise TimeError("epoch numbers must be finite and non-negative")
        seconds = value / 1000 if value > MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise TimeError("epoch number out of range") from exc
    if isinstance(value, str):
        try:
            # 3.11+ reads a trailing "Z" itself; RFC 3339 allows a lowercase one too.
            parsed = datetime.fromisoformat(value[:-1] + "Z" if value.endswith("z") else value)
        except ValueError as exc:
            raise TimeError("not an ISO-8601 datetime") from exc
        if parsed.tzinfo is None:
            raise TimeError("ISO-8601 datetimes need a zone (e.g. a trailing Z)")
        return parsed.astimezone(UTC)
    raise TimeError("expected an ISO-8601 string or an epoch number")


@dataclass(frozen=True)
class Placed:
    timestamp: datetime
    warnings: tuple[str, ...]


def place(timestamp: datetime | None, sent_at: datetime | None, received_at: datetime) -> Placed:
    """Where an event goes on the server's clock, with the warnings it earned."""
    warnings: list[str] = []
    if timestamp is None:
        ts = received_at
    elif sent_at is not None:
        skew = sent_at - received_at
        if abs(skew) > SKEW_WARNING:
            warnings.append("clock_skew_corrected")
        ts = received_at - (sent_at - timestamp)
    else:
        ts = timestamp
    if ts > received_at + FUTURE_LIMIT:
        warnings.append("timestamp_in_future_clamped")
        ts = received_at
    return Placed(ts, tuple(warnings))
