"""Event time: parsing client timestamps, clock-skew correction, clamping (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.events.timing import FUTURE_LIMIT, TimeError, parse_time, place

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T13:30:00+03:30", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00.250Z", datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        (1772359200, datetime(2026, 3, 1, 10, tzinfo=UTC)),  # epoch seconds
        (1772359200.5, datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        (1772359200000, datetime(2026, 3, 1, 10, tzinfo=UTC)),  # epoch milliseconds
        (1772359200250, datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_time_reads_iso_and_epoch_seconds_and_milliseconds(
    raw: object, expected: datetime | None
) -> None:
    assert parse_time(raw) == expected


def test_parse_time_returns_utc() -> None:
    parsed = parse_time("2026-03-01T13:30:00+03:30")
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)
    aware = datetime(2026, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=3, minutes=30)))
    assert parse_time(aware) == datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        "2026-03-01T10:00:00",  # no zone: ambiguous
        "yesterday",
        "",
        True,
        -1,
        float("nan"),
        float("inf"),
        1e300,
        [2026],
        datetime(2026, 3, 1),  # naive
    ],
)
def test_unreadable_times_raise(raw: object) -> None:
    with pytest.raises(TimeError):
        parse_time(raw)


def test_no_timestamp_means_received_now() -> None:
    assert place(None, None, NOW).timestamp == NOW
    assert place(None, NOW - timedelta(days=3), NOW).timestamp == NOW


def test_without_sent_at_the_timestamp_is_taken_as_given() -> None:
    ts = NOW - timedelta(days=2)
    placed = place(ts, None, NOW)
    assert placed.timestamp == ts
    assert placed.warnings == ()


@pytest.mark.parametrize("skew", [timedelta(days=3), -timedelta(days=3), timedelta(hours=30)])
def test_skew_is_corrected_from_sent_at(skew: timedelta) -> None:
    # The event happened 5 minutes before sending, on a clock `skew` off.
    true_time = NOW - timedelta(minutes=5)
    placed = place(true_time + skew, NOW + skew, NOW)
    assert placed.timestamp == true_time
    assert "clock_skew_corrected" in placed.warnings
    assert "timestamp_in_future_clamped" not in placed.warnings


def test_small_skew_corrects_silently() -> None:
    placed = place(NOW - timedelta(seconds=10), NOW + timedelta(seconds=20), NOW)
    assert placed.timestamp == NOW - timedelta(seconds=30)
    assert placed.warnings == ()


def test_far_future_is_clamped_with_a_warning() -> None:
    placed = place(NOW + FUTURE_LIMIT + timedelta(seconds=1), None, NOW)
    assert placed.timestamp == NOW
    assert placed.warnings == ("timestamp_in_future_clamped",)


def test_up_to_23_hours_ahead_is_kept() -> None:
    placed = place(NOW + FUTURE_LIMIT, None, NOW)
    assert placed.timestamp == NOW + FUTURE_LIMIT
    assert placed.warnings == ()


aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    true_time=aware,
    skew=st.timedeltas(min_value=-timedelta(days=400), max_value=timedelta(days=400)),
    lag=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=7)),
    transit=st.timedeltas(min_value=timedelta(0), max_value=timedelta(seconds=30)),
)
def test_correction_error_is_at_most_the_transit_time(
    true_time: datetime, skew: timedelta, lag: timedelta, transit: timedelta
) -> None:
    """Whatever the client's clock says, the placed time is off by no more than transit."""
    sent_true = true_time + lag
    received = sent_true + transit
    placed = place(true_time + skew, sent_true + skew, received)
    assert abs(placed.timestamp - true_time) <= transit
    assert placed.timestamp <= received + FUTURE_LIMIT


@given(ts=aware, sent=st.none() | aware, received=aware)
def test_a_placed_time_is_never_more_than_23_hours_ahead(
    ts: datetime, sent: datetime | None, received: datetime
) -> None:
    placed = place(ts, sent, received)
    assert placed.timestamp <= received + FUTURE_LIMIT
    assert placed.timestamp.tzinfo is not None
