"""The retry policy: backoff schedule, jitter bounds, Retry-After as a floor, dead after max."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tidings.jobs.retry import (
    Dead,
    Retry,
    RetryPolicy,
    backoff_ceiling,
    decide,
    parse_retry_after,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=2.0, cap_seconds=60.0)


def test_ceiling_doubles_per_attempt_up_to_the_cap() -> None:
    assert [backoff_ceiling(POLICY, n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff_ceiling(POLICY, 5000) == 60.0
    with pytest.raises(ValueError, match="start at 1"):
        backoff_ceiling(POLICY, 0)


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 9])
def test_full_jitter_stays_within_zero_and_the_ceiling(attempt: int) -> None:
    rng = random.Random(7)
    delays = []
    for _ in range(2000):
        out = decide(POLICY, attempt=attempt, max_attempts=10, now=NOW, rng=rng, reason="x")
        assert isinstance(out, Retry)
        assert out.at == NOW + timedelta(seconds=out.delay)
        delays.append(out.delay)
    ceiling = backoff_ceiling(POLICY, attempt)
    assert min(delays) >= 0.0
    assert max(delays) <= ceiling
    # Full jitter spreads over the whole range, not just near the top.
    assert min(delays) < ceiling * 0.1
    assert max(delays) > ceiling * 0.9


def test_same_seed_same_schedule() -> None:
    def schedule(seed: int) -> list[float]:
        rng = random.Random(seed)
        outs = [
            decide(POLICY, attempt=n, max_attempts=10, now=NOW, rng=rng, reason="x")
            for n in range(1, 6)
        ]
        return [o.delay for o in outs if isinstance(o, Retry)]

    assert schedule(42) == schedule(42)
    assert schedule(42) != schedule(43)


def test_retry_after_is_a_floor() -> None:
    rng = random.Random(1)
    for _ in range(200):
        out = decide(
            POLICY, attempt=1, max_attempts=5, now=NOW, rng=rng, reason="429", retry_after=30
        )
        assert isinstance(out, Retry)
        assert out.delay == 30.0
    # Longer than the cap is still honoured (the far side asked), up to the hostile bound.
    out = decide(POLICY, attempt=1, max_attempts=5, now=NOW, rng=rng, reason="503", retry_after=600)
    assert isinstance(out, Retry)
    assert out.at == NOW + timedelta(seconds=600)
    out = decide(
        POLICY, attempt=1, max_attempts=5, now=NOW, rng=rng, reason="503", retry_after=10**9
    )
    assert isinstance(out, Retry)
    assert out.delay == POLICY.max_retry_after_seconds


def test_dead_after_max_attempts_with_the_reason() -> None:
    rng = random.Random(3)
    assert isinstance(
        decide(POLICY, attempt=2, max_attempts=3, now=NOW, rng=rng, reason="boom"), Retry
    )
    out = decide(POLICY, attempt=3, max_attempts=3, now=NOW, rng=rng, reason="boom")
    assert out == Dead("gave up after 3 attempts: boom")


def test_permanent_failure_is_dead_at_once() -> None:
    out = decide(
        POLICY,
        attempt=1,
        max_attempts=10,
        now=NOW,
        rng=random.Random(0),
        reason="invalid token",
        permanent=True,
    )
    assert out == Dead("invalid token")


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 0 ", NOW) == 0.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", NOW) == 90.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("-5", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="base_seconds"):
        RetryPolicy(base_seconds=0)
    with pytest.raises(ValueError, match="base_seconds"):
        RetryPolicy(base_seconds=10, cap_seconds=5)
