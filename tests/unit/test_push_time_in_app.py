"""Time in app after a push open: the pure chain rule and its summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tidings.push.time_in_app import CAP, GAP, TimeInApp, seconds_after_open, summarize

OPEN = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return OPEN + timedelta(minutes=minutes)


def test_activity_runs_to_the_last_event_within_the_gap() -> None:
    events = [at(1), at(5), at(20), at(45)]
    assert seconds_after_open(OPEN, events) == 45 * 60


def test_a_gap_longer_than_30_minutes_ends_the_activity() -> None:
    assert seconds_after_open(OPEN, [at(10), at(41), at(50)]) == 10 * 60


def test_exactly_30_minutes_apart_still_continues() -> None:
    assert seconds_after_open(OPEN, [at(30), at(60)]) == 60 * 60


def test_no_event_after_the_open_within_the_gap_is_not_covered() -> None:
    assert seconds_after_open(OPEN, []) is None
    assert seconds_after_open(OPEN, [at(31)]) is None
    assert seconds_after_open(OPEN, [at(-5), at(-1)]) is None  # before the open


def test_events_before_the_open_are_ignored_and_order_does_not_matter() -> None:
    assert seconds_after_open(OPEN, [at(12), at(-3), at(4)]) == 12 * 60


def test_an_event_at_the_open_counts_as_zero_seconds() -> None:
    assert seconds_after_open(OPEN, [OPEN]) == 0.0


def test_long_activity_is_capped_at_four_hours() -> None:
    every_20_min = [at(20 * n) for n in range(1, 30)]  # nearly 10 hours of use
    assert seconds_after_open(OPEN, every_20_min) == CAP.total_seconds()


def test_summary_covers_only_opens_followed_by_activity() -> None:
    assert summarize([60.0, None, 180.0, 600.0]) == TimeInApp(180.0, 280.0, 3)
    assert summarize([None, None]) == TimeInApp(None, None, 0)
    assert summarize([]) == TimeInApp(None, None, 0)


@given(st.lists(st.integers(min_value=-600, max_value=600), max_size=40))
def test_the_figure_is_an_event_moment_within_bounds(offsets: list[int]) -> None:
    events = [at(m) for m in offsets]
    got = seconds_after_open(OPEN, events)
    after = sorted(e for e in events if e >= OPEN)
    if not after or after[0] - OPEN > GAP:
        assert got is None
        return
    assert got is not None
    assert 0 <= got <= CAP.total_seconds()
    # Below the cap the figure ends on an event the user actually sent.
    if got < CAP.total_seconds():
        assert OPEN + timedelta(seconds=got) in after
