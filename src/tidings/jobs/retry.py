"""The retry policy, a pure function: when a failed job runs again, or that it is dead.

Backoff is exponential with full jitter (a uniform draw in `[0, min(cap, base·2^(n-1))]`,
so a crowd of failures spreads out instead of retrying in lock-step). A `Retry-After`
from the far side is a floor: the job never runs again before it. After `max_attempts`
attempts, or on a permanent failure, the job is dead and keeps the reason.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff parameters in seconds; `max_retry_after` bounds a hostile `Retry-After`."""

    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    max_retry_after_seconds: float = 86400.0

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError("need 0 < base_seconds <= cap_seconds")


@dataclass(frozen=True)
class Retry:
    """Run again at `at` (`delay` seconds after the failure)."""

    at: datetime
    delay: float
    reason: str


@dataclass(frozen=True)
class Dead:
    """Give up; `reason` says why (it ends up on the job row)."""

    reason: str


def backoff_ceiling(policy: RetryPolicy, attempt: int) -> float:
    """The largest delay the jitter may draw after failed attempt number `attempt` (1-based)."""
    if attempt < 1:
        raise ValueError("attempt numbers start at 1")
    # Compare exponents rather than computing 2**attempt, which overflows floats eventually.
    if attempt - 1 >= 1024:
        return policy.cap_seconds
    return min(policy.cap_seconds, policy.base_seconds * 2.0 ** (attempt - 1))


def decide(
    policy: RetryPolicy,
    *,
    attempt: int,
    max_attempts: int,
    now: datetime,
    rng: random.Random,
    reason: str,
    retry_after: float | None = None,
    permanent: bool = False,
) -> Retry | Dead:
    """What happens after attempt number `attempt` of `max_attempts` failed with `reason`."""
    if permanent:
        return Dead(reason)
    if attempt >= max_attempts:
        return Dead(f"gave up after {attempt} attempts: {reason}")
    delay = rng.uniform(0.0, backoff_ceiling(policy, attempt))
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), policy.max_retry_after_seconds))
    return Retry(at=now + timedelta(seconds=delay), delay=delay, reason=reason)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from an HTTP `Retry-After` (delta-seconds or HTTP-date); None if absent
    or unreadable. A date in the past means "now" (0)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - now).total_seconds())
