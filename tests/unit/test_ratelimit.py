"""Token buckets: burst, refill, retry hints, and memory that stays bounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.ops.ratelimit import retry_after_header
from tidings.ops.tokenbucket import TokenBuckets


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_passes_then_the_next_request_waits_one_interval() -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=10, burst=5, now=clock)
    assert [buckets.take(b"k") for _ in range(5)] == [0.0] * 5
    assert buckets.take(b"k") == pytest.approx(0.1)


def test_tokens_refill_at_the_rate_and_never_beyond_the_burst() -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=10, burst=5, now=clock)
    for _ in range(5):
        buckets.take(b"k")
    clock.t += 0.35  # 3.5 tokens back
    assert [buckets.take(b"k") for _ in range(3)] == [0.0] * 3
    assert buckets.take(b"k") == pytest.approx(0.05)
    clock.t += 3600
    assert [buckets.take(b"k") for _ in range(5)] == [0.0] * 5
    assert buckets.take(b"k") > 0


def test_a_refused_request_costs_nothing() -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=1, burst=1, now=clock)
    assert buckets.take(b"k") == 0.0
    for _ in range(100):
        assert buckets.take(b"k") == pytest.approx(1.0)
    clock.t += 1.0
    assert buckets.take(b"k") == 0.0


def test_keys_have_separate_buckets() -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=1, burst=2, now=clock)
    assert buckets.take(b"a") == buckets.take(b"a") == 0.0
    assert buckets.take(b"a") > 0
    assert buckets.take(b"b") == 0.0


def test_idle_buckets_are_evicted_once_full_again() -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=10, burst=10, now=clock)
    for i in range(1000):
        buckets.take(str(i).encode())
    assert len(buckets) == 1000
    clock.t += 1.0  # every bucket has refilled: each is as good as a fresh one
    buckets.take(b"late")
    assert len(buckets) == 1


def test_a_flood_of_distinct_keys_stays_under_the_cap() -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=1, burst=5, now=clock, max_keys=100)
    for i in range(10_000):
        buckets.take(i.to_bytes(4, "big"))
        assert len(buckets) <= 100


def test_a_busy_key_is_not_evicted_by_idle_ones() -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=1, burst=3, now=clock)
    for _ in range(3):
        buckets.take(b"busy")
    for i in range(50):
        clock.t += 0.01
        buckets.take(i.to_bytes(2, "big"))
    assert buckets.take(b"busy") > 0  # still empty: its state survived


@given(
    rate=st.floats(0.5, 1000),
    burst=st.integers(1, 100),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeTime()
    buckets = TokenBuckets(rate=rate, burst=burst, now=clock)
    start = clock.t
    allowed = 0
    for gap in gaps:
        clock.t += gap
        wait = buckets.take(b"k")
        assert wait >= 0
        if wait == 0:
            allowed += 1
        else:
            assert wait <= 1 / rate + 1e-9
    assert allowed <= burst + rate * (clock.t - start) + 1e-6


@pytest.mark.parametrize(
    ("wait", "header"), [(0.001, b"1"), (0.999, b"1"), (1.0, b"1"), (1.01, b"2"), (7.5, b"8")]
)
def test_retry_after_is_whole_seconds_at_least_one_never_early(wait: float, header: bytes) -> None:
    assert retry_after_header(wait) == header


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBuckets(rate=0, burst=1)
