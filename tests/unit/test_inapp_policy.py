"""The pure in-app decision: caps, re-eligibility, completion, display hours, budget,
priority and variants, with time given as an argument."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from tidings.inapp.decide import decide, verdict
from tidings.inapp.model import Budget, Return, Shown, Spec
from tidings.inapp.policy import variant

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NO_BUDGET = Budget(None, None, 0)


def spec(cid: int = 1, **kw: object) -> Spec:
    return Spec(campaign_id=cid, format=str(kw.pop("format", "modal")), status="active", **kw)  # type: ignore[arg-type]


def shown(cid: int, n: int, ago: timedelta, **kw: object) -> Shown:
    return Shown(cid, n, "in_app", NOW - ago, **kw)  # type: ignore[arg-type]


def why(s: Spec, history: list[Shown] = [], budget: Budget = NO_BUDGET, **kw: object) -> str:  # noqa: B006
    v = verdict(
        s,
        user_id=7,
        in_audience=bool(kw.get("in_audience", True)),
        history=history,
        session_id=str(kw.get("session", "s1")),
        budget=budget,
        timezone=kw.get("tz"),  # type: ignore[arg-type]
        now=NOW,
    )
    return v.reason


def test_schedule_and_audience() -> None:
    assert why(spec()) == "eligible"
    assert why(Spec(1, "modal", "paused")) == "not_active"
    assert why(spec(starts_at=NOW + timedelta(hours=1))) == "not_started"
    assert why(spec(ends_at=NOW)) == "ended"
    assert why(spec(), in_audience=False) == "audience"


def test_cap_per_window_and_lifetime() -> None:
    weekly = spec(max_impressions=2, per_days=7)
    assert why(weekly, [shown(1, 1, timedelta(days=1))]) == "eligible"
    two = [shown(1, 1, timedelta(days=1)), shown(1, 2, timedelta(days=2))]
    assert why(weekly, two) == "capped"
    old = [shown(1, 1, timedelta(days=8)), shown(1, 2, timedelta(days=9))]
    assert why(weekly, old) == "eligible"
    assert why(spec(), [shown(1, 1, timedelta(days=400))]) == "capped"
    # Other campaigns' showings do not count against this one's cap.
    assert why(spec(), [shown(2, 1, timedelta(days=1))]) == "eligible"


def test_reeligible_after() -> None:
    s = spec(max_impressions=10, reeligible_after_days=3)
    assert why(s, [shown(1, 1, timedelta(days=2))]) == "not_yet_reeligible"
    assert why(s, [shown(1, 1, timedelta(days=3))]) == "eligible"


def test_completion_aware_return() -> None:
    s = spec(format="survey", until_completed=Return(after_days=7, max_returns=2))
    dismissed = [shown(1, 1, timedelta(days=2), dismissed_at=NOW)]
    assert why(s, dismissed) == "not_yet_reeligible"
    assert why(s, [shown(1, 1, timedelta(days=8), dismissed_at=NOW)]) == "eligible"
    answered = [shown(1, 1, timedelta(days=30), completed_at=NOW - timedelta(days=30))]
    assert why(s, answered) == "completed"
    three = [shown(1, n, timedelta(days=10 * n)) for n in (1, 2, 3)]
    assert why(s, three) == "returns_exhausted"


def test_display_hours_in_user_local_time() -> None:
    # 12:00 UTC is 15:30 in Tehran and 07:00 in New York.
    s = spec(display_hours=(9, 21))
    assert why(s, tz="Asia/Tehran") == "eligible"
    assert why(s, tz="America/New_York") == "outside_display_hours"
    night = spec(display_hours=(22, 6))
    assert why(night, tz="America/New_York") == "outside_display_hours"
    assert why(night, tz="Asia/Tokyo") == "outside_display_hours"  # 21:00
    assert why(night, tz="Pacific/Auckland") == "eligible"  # 01:00, the window wraps
    assert why(s, tz=None) == "eligible"  # unknown timezone: UTC


def test_budget_session_day_gap_and_exemption() -> None:
    b = Budget(max_inapp_per_session=1, max_per_day=3, min_gap_seconds=30)
    this_session = [shown(2, 1, timedelta(minutes=5), session_id="s1")]
    assert why(spec(), this_session, b) == "budget_session"
    assert why(spec(), this_session, b, session="s2") == "eligible"
    three_today = [shown(i, 1, timedelta(hours=i), session_id=f"x{i}") for i in (2, 3, 4)]
    assert why(spec(), three_today, b) == "budget_day"
    recent = [shown(2, 1, timedelta(seconds=10), session_id="x")]
    assert why(spec(), recent, b) == "budget_gap"
    assert why(spec(exempt_from_budget=True), three_today + this_session, b) == "eligible"


def test_priority_order_and_one_budget_for_many() -> None:
    specs = [spec(1, priority=10), spec(2, priority=500), spec(3, priority=100), spec(4)]
    audience = {1: True, 2: True, 3: True, 4: False}
    out = decide(
        specs,
        audience,
        user_id=7,
        history=[],
        session_id="s",
        budget=Budget(),
        timezone=None,
        now=NOW,
    )
    assert [v.campaign_id for v in out] == [2, 3, 1]
    assert [v.occurrence for v in out] == [1, 1, 1]
    spent = [shown(9, 1, timedelta(minutes=1), session_id="s")]
    out = decide(
        [*specs, spec(5, exempt_from_budget=True)],
        {**audience, 5: True},
        user_id=7,
        history=spent,
        session_id="s",
        budget=Budget(),
        timezone=None,
        now=NOW,
    )
    assert [v.campaign_id for v in out] == [5]


def test_variants_are_deterministic_and_weighted() -> None:
    s = spec(variants=(("a", 1), ("b", 1)), control_weight=2)
    picks = Counter(variant(s, uid) for uid in range(1, 4001))
    assert set(picks) == {"a", "b", "control"}
    assert 1700 < picks["control"] < 2300
    assert all(variant(s, uid) == variant(s, uid) for uid in range(1, 50))
    held = next(uid for uid in range(1, 100) if variant(s, uid) == "control")
    v = verdict(
        s,
        user_id=held,
        in_audience=True,
        history=[],
        session_id=None,
        budget=NO_BUDGET,
        timezone=None,
        now=NOW,
    )
    assert (v.eligible, v.reason, v.variant) == (False, "control", "control")


def test_next_occurrence_counts_past_showings() -> None:
    s = spec(max_impressions=5)
    v = verdict(
        s,
        user_id=1,
        in_audience=True,
        history=[shown(1, 1, timedelta(days=1)), shown(1, 2, timedelta(hours=1))],
        session_id=None,
        budget=NO_BUDGET,
        timezone=None,
        now=NOW,
    )
    assert v.eligible
    assert v.occurrence == 3


def test_limit_keeps_the_top_and_every_exempt_notice() -> None:
    specs = [spec(i, priority=i, max_impressions=1) for i in range(1, 31)]
    specs.append(spec(99, priority=0, exempt_from_budget=True))
    out = decide(
        specs,
        {s.campaign_id: True for s in specs},
        user_id=7,
        history=[],
        session_id="s",
        budget=NO_BUDGET,
        timezone=None,
        now=NOW,
        limit=5,
    )
    assert [v.campaign_id for v in out] == [30, 29, 28, 27, 26, 99]
