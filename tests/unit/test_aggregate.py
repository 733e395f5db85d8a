"""Folding stored events into profile deltas (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tidings.profiles.aggregate import SESSION_START, StoredEvent, fold

T0 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


def ev(user: int, name: str, minutes: int, **props: object) -> StoredEvent:
    return StoredEvent(user, name, T0 + timedelta(minutes=minutes), dict(props))


def test_daily_counts_split_on_the_utc_day() -> None:
    deltas = fold([ev(1, "open", 0), ev(1, "open", 20), ev(1, "open", 40), ev(2, "open", 0)])
    assert deltas.daily == {
        (1, "open", date(2026, 3, 1)): 2,
        (1, "open", date(2026, 3, 2)): 1,
        (2, "open", date(2026, 3, 1)): 1,
    }


def test_stats_keep_count_first_and_last_whatever_the_order() -> None:
    deltas = fold([ev(1, "buy", 50), ev(1, "buy", -10), ev(1, "buy", 5)])
    stat = deltas.stats[(1, "buy")]
    assert (stat.count, stat.first_at, stat.last_at) == (
        3,
        T0 - timedelta(minutes=10),
        T0 + timedelta(minutes=50),
    )


def test_users_first_and_last_seen_and_sessions() -> None:
    deltas = fold([ev(1, SESSION_START, 5), ev(1, "buy", 1), ev(1, SESSION_START, 9)])
    user = deltas.users[1]
    assert user.first_seen == T0 + timedelta(minutes=1)
    assert user.last_seen == T0 + timedelta(minutes=9)
    assert user.sessions == 2


def test_last_values_keep_the_latest_by_event_time_not_arrival() -> None:
    events = [ev(1, "buy", 10, plan="pro"), ev(1, "buy", 5, plan="free", seats=3)]
    deltas = fold(events, ["plan", "seats", "absent"])
    values = {k: v for k, (_, v) in deltas.users[1].last_values.items()}
    assert values == {"plan": "pro", "seats": 3}


def test_untracked_properties_are_not_kept() -> None:
    deltas = fold([ev(1, "buy", 0, plan="pro")])
    assert deltas.users[1].last_values == {}


def test_nothing_folds_to_nothing() -> None:
    deltas = fold([])
    assert (deltas.daily, deltas.stats, deltas.users) == ({}, {}, {})


events_st = st.lists(
    st.builds(
        StoredEvent,
        user_id=st.integers(1, 3),
        name=st.sampled_from(["open", "buy", SESSION_START]),
        timestamp=st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 10), timezones=st.just(UTC)
        ),
        properties=st.just({}),
    ),
    max_size=40,
)


@given(events=events_st, split=st.integers(0, 40))
def test_folding_in_two_batches_adds_up_to_folding_once(
    events: list[StoredEvent], split: int
) -> None:
    """Property: ingesting a stream in any two batches gives the same totals."""
    whole = fold(events)
    a, b = fold(events[:split]), fold(events[split:])
    daily = dict(a.daily)
    for key, count in b.daily.items():
        daily[key] = daily.get(key, 0) + count
    assert daily == whole.daily
    for key, stat in whole.stats.items():
        parts = [d.stats[key] for d in (a, b) if key in d.stats]
        assert stat.count == sum(p.count for p in parts)
        assert stat.first_at == min(p.first_at for p in parts)
        assert stat.last_at == max(p.last_at for p in parts)
    for uid, user in whole.users.items():
        parts_u = [d.users[uid] for d in (a, b) if uid in d.users]
        assert user.sessions == sum(p.sessions for p in parts_u)
    assert sum(whole.daily.values()) == len(events)


def test_merge_into_rekeys_stand_ins_and_combines_two_that_name_one_user() -> None:
    from tidings.profiles.aggregate import ProfileDeltas, merge_into

    t1 = datetime(2026, 3, 1, 10, tzinfo=UTC)
    t2 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    t3 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    by_ext = fold(
        [
            StoredEvent("ext:x", "buy", t2, {"plan": "pro"}),
            StoredEvent("ext:x", "$session_start", t2, {}),
        ],
        ["plan"],
    )
    by_anon = fold(
        [StoredEvent("anon:a", "buy", t1, {"plan": "free"}), StoredEvent("anon:a", "buy", t3, {})],
        ["plan"],
    )
    acc = ProfileDeltas.empty()
    merge_into(acc, by_ext, {"ext:x": 7})
    merge_into(acc, by_anon, {"anon:a": 7})
    assert acc.daily == {
        (7, "buy", t1.date()): 2,
        (7, "$session_start", t1.date()): 1,
        (7, "buy", t3.date()): 1,
    }
    assert (acc.stats[(7, "buy")].first_at, acc.stats[(7, "buy")].last_at) == (t1, t3)
    assert acc.stats[(7, "buy")].count == 3
    user = acc.users[7]
    assert (user.first_seen, user.last_seen, user.sessions) == (t1, t3, 1)
    assert user.last_values["plan"] == (t2, "pro")  # the later value wins, whoever sent it
    # The parts are untouched: merging copies.
    assert by_ext.stats[("ext:x", "buy")].count == 1


def test_merging_equals_folding_everything_at_once() -> None:
    from tidings.profiles.aggregate import ProfileDeltas, merge_into

    base = datetime(2026, 5, 1, tzinfo=UTC)
    events = [
        StoredEvent(who, name, base + timedelta(hours=h), {"v": h})
        for h, (who, name) in enumerate(
            [("a", "x"), ("b", "x"), ("a", "y"), ("c", "x"), ("b", "y"), ("a", "x")] * 5
        )
    ]
    user_of = {"a": 1, "b": 1, "c": 2}
    whole = fold(
        [StoredEvent(user_of[e.user_id], e.name, e.timestamp, e.properties) for e in events], ["v"]
    )
    acc = ProfileDeltas.empty()
    for part in (events[:7], events[7:19], events[19:]):
        merge_into(acc, fold(part, ["v"]), user_of)
    assert acc.daily == whole.daily
    assert {k: (s.first_at, s.last_at, s.count) for k, s in acc.stats.items()} == {
        k: (s.first_at, s.last_at, s.count) for k, s in whole.stats.items()
    }
    assert {
        k: (u.first_seen, u.last_seen, u.sessions, u.last_values) for k, u in acc.users.items()
    } == {k: (u.first_seen, u.last_seen, u.sessions, u.last_values) for k, u in whole.users.items()}
