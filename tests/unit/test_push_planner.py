"""The pure push planner: consent, holdout, quiet hours in the user's zone, budget, local
send moments and recurring periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tidings.push import planner
from tidings.push.planner import Budget, Recipient, Rules

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # a Tuesday
RULES = Rules(campaign_id=7, variants=(("a", 1),), quiet_hours=(22, 8))
YES = {"push": True}


def who(
    uid: int = 1,
    tz: str | None = "UTC",
    consent: dict[str, bool] = YES,
    recent: tuple[datetime, ...] | list[datetime] = (),
) -> Recipient:
    return Recipient(uid, consent, tz, tuple(recent))


def test_no_opt_in_is_suppressed_with_the_reason() -> None:
    for consent in ({}, {"push": False}, {"inapp": True}):
        d = planner.decide(who(consent=consent), RULES, NOW, NOW)
        assert (d.status, d.reason) == ("suppressed", "no_consent")


def test_the_holdout_gets_nothing_and_assignment_is_stable() -> None:
    rules = Rules(campaign_id=7, variants=(("a", 1),), control_weight=1)
    arms = [planner.decide(who(uid), rules, NOW, NOW) for uid in range(1, 400)]
    control = [d for d in arms if d.variant == "control"]
    assert 120 < len(control) < 280
    assert all(d.reason == "control" for d in control)
    assert arms == [planner.decide(who(uid), rules, NOW, NOW) for uid in range(1, 400)]


def test_quiet_hours_hold_until_they_end_in_the_users_zone() -> None:
    # 12:00 UTC is 23:00 in Sydney (AEDT, +11): held until 08:00 there, 21:00 UTC.
    d = planner.decide(who(tz="Australia/Sydney"), RULES, NOW, NOW)
    assert d.status == "queued"
    assert d.send_at == datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    # 12:00 UTC is 08:00 in New York (EDT since March 8): the quiet hours just ended.
    assert planner.decide(who(tz="America/New_York"), RULES, NOW, NOW).send_at == NOW
    # 07:59 in New York is still quiet.
    early = NOW - timedelta(minutes=1)
    assert planner.decide(who(tz="America/New_York"), RULES, early, early).send_at == NOW
    # An unknown zone is UTC.
    assert planner.decide(who(tz="Mars/Base"), RULES, NOW, NOW).send_at == NOW


def test_quiet_hours_that_do_not_wrap() -> None:
    rules = Rules(campaign_id=7, variants=(("a", 1),), quiet_hours=(9, 17))
    d = planner.decide(who(), rules, NOW, NOW)
    assert d.send_at == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
    assert planner.decide(who(), Rules(7, (("a", 1),), quiet_hours=None), NOW, NOW).send_at == NOW


def test_the_budget_counts_every_channel_in_the_last_day() -> None:
    rules = Rules(
        7, (("a", 1),), quiet_hours=None, budget=Budget(max_per_day=2, min_gap_seconds=60)
    )
    two = [NOW - timedelta(hours=3), NOW - timedelta(hours=5)]
    assert planner.decide(who(recent=two), rules, NOW, NOW).reason == "budget"
    old = [NOW - timedelta(hours=25), NOW - timedelta(hours=30)]
    assert planner.decide(who(recent=old), rules, NOW, NOW).status == "queued"
    gap = [NOW - timedelta(seconds=30)]
    assert planner.decide(who(recent=gap), rules, NOW, NOW).reason == "budget"
    exempt = Rules(7, (("a", 1),), quiet_hours=None, budget=Budget(1, 0), exempt_from_budget=True)
    assert planner.decide(who(recent=two), exempt, NOW, NOW).status == "queued"


def test_local_time_is_each_users_wall_clock() -> None:
    nine = time(9, 0)
    tokyo = planner.wanted_moment("local_time", timezone="Asia/Tokyo", now=NOW, at_time=nine)
    assert tokyo == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)  # 09:00 JST tomorrow
    ny = planner.wanted_moment("local_time", timezone="America/New_York", now=NOW, at_time=nine)
    assert ny == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 08:00 there now: 09:00 EDT today
    day = date(2026, 3, 10)
    past = planner.wanted_moment("local_time", timezone="UTC", now=NOW, at_time=nine, on_day=day)
    assert past == NOW  # that day's 09:00 passed: send now
    assert planner.wanted_moment("now", timezone="Asia/Tokyo", now=NOW) == NOW


def test_a_missing_dst_hour_moves_forward() -> None:
    # 02:30 does not exist in New York on 2026-03-08.
    moment = planner.local_moment(date(2026, 3, 8), time(2, 30), planner.zone("America/New_York"))
    assert moment == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_recurring_periods() -> None:
    first = planner.first_period("day", None, NOW)
    assert first == date(2026, 3, 10)  # UTC-12 is still on the 10th
    assert planner.next_period("day", first) == date(2026, 3, 11)
    monday = planner.first_period("week", 0, NOW)
    assert monday == date(2026, 3, 16)
    assert monday.weekday() == 0
    assert planner.next_period("week", monday) == date(2026, 3, 23)
    # The plan of a day starts before the first zone (UTC+14) reaches the time.
    starts = planner.period_starts(date(2026, 3, 11), time(9, 0))
    assert starts == datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
    tz = "Pacific/Honolulu"
    late = planner.wanted_moment(
        "recurring", timezone=tz, now=NOW, at_time=time(9, 0), on_day=date(2026, 3, 10)
    )
    assert late == datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
    missed = planner.wanted_moment(
        "recurring", timezone="Asia/Tokyo", now=NOW, at_time=time(9, 0), on_day=date(2026, 3, 10)
    )
    assert missed is None


@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
    tz=st.sampled_from(["UTC", "Asia/Kolkata", "America/Los_Angeles", "Australia/Lord_Howe"]),
)
def test_a_held_moment_is_never_inside_quiet_hours_nor_before_wanted(
    hour: int, minute: int, start: int, end: int, tz: str
) -> None:
    wanted = datetime(2026, 10, 4, hour, minute, tzinfo=UTC)
    zone = planner.zone(tz)
    held = planner.after_quiet_hours(wanted, zone, (start, end))
    assert held >= wanted
    assert held - wanted <= timedelta(hours=25)
    assert not planner.in_quiet_hours(held, zone, (start, end))


def test_once_a_winner_is_picked_every_new_send_goes_to_it() -> None:
    rules = Rules(campaign_id=9, variants=(("a", 1), ("b", 1)), control_weight=1)
    before = {uid: planner.variant(rules, uid) for uid in range(300)}
    assert set(before.values()) == {"a", "b", "control"}
    won = Rules(campaign_id=9, variants=(("a", 1), ("b", 1)), control_weight=1, winner="b")
    assert {planner.variant(won, uid) for uid in range(300)} == {"b"}
    d = planner.decide(who(uid=next(u for u, a in before.items() if a == "control")), won, NOW, NOW)
    assert (d.status, d.variant) == ("queued", "b")
