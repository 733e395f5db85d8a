"""POST /v1/track through real HTTP: per-event verdicts, dedupe (I2, I3), clock skew (I4),
and the profile aggregates maintained with the events."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import Tenant, make_tenant

from tidings.context import AppContext
from tidings.db import table_of
from tidings.events.models import DroppedEvent, Event
from tidings.profiles.models import EventDailyCount, UserEventStat
from tidings.tenancy.models import App
from tidings.testing.live import LiveServer
from tidings.users.models import AnonymousId, User

events_t, dropped_t, users_t = table_of(Event), table_of(DroppedEvent), table_of(User)
daily_t, stats_t, anon_t = table_of(EventDailyCount), table_of(UserEventStat), table_of(AnonymousId)

# Whole past days, so nothing is near the 23 h future limit or a day boundary.
D1 = (datetime.now(UTC) - timedelta(days=5)).replace(hour=10, minute=0, second=0, microsecond=0)
D2 = D1 + timedelta(days=1)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def post(client: httpx.Client, tenant: Tenant, body: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/track", json=body, headers=tenant.write_headers())


def track(client: httpx.Client, tenant: Tenant, events: list[Any], **batch: Any) -> Any:
    r = post(client, tenant, {"events": events, **batch})
    assert r.status_code == 200, r.text
    return r.json()


def select(sql: sa.Engine, stmt: Any) -> list[sa.Row[Any]]:
    with sql.connect() as c:
        return list(c.execute(stmt))


def stored_events(sql: sa.Engine, tenant: Tenant) -> list[sa.Row[Any]]:
    return select(
        sql, sa.select(events_t).where(events_t.c.app_id == tenant.app_id).order_by(events_t.c.id)
    )


def app_users(sql: sa.Engine, tenant: Tenant) -> list[sa.Row[Any]]:
    return select(sql, sa.select(users_t).where(users_t.c.app_id == tenant.app_id))


def user_ids(sql: sa.Engine, tenant: Tenant) -> list[int]:
    return [u.id for u in app_users(sql, tenant)]


def daily_counts(sql: sa.Engine, tenant: Tenant) -> dict[tuple[int, str, date], int]:
    rows = select(sql, sa.select(daily_t).where(daily_t.c.user_id.in_(user_ids(sql, tenant))))
    return {(r.user_id, r.name, r.day): r.count for r in rows}


def event_stats(sql: sa.Engine, tenant: Tenant) -> dict[tuple[int, str], sa.Row[Any]]:
    rows = select(sql, sa.select(stats_t).where(stats_t.c.user_id.in_(user_ids(sql, tenant))))
    return {(r.user_id, r.name): r for r in rows}


def dropped(sql: sa.Engine, tenant: Tenant) -> list[sa.Row[Any]]:
    return select(
        sql,
        sa.select(dropped_t).where(dropped_t.c.app_id == tenant.app_id).order_by(dropped_t.c.id),
    )


def nothing_stored(sql: sa.Engine, tenant: Tenant) -> None:
    assert stored_events(sql, tenant) == []
    assert dropped(sql, tenant) == []
    assert app_users(sql, tenant) == []


# --- I2: each event judged on its own --------------------------------------------------------


def test_each_event_is_judged_on_its_own_and_nothing_is_half_stored(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    batch = [
        {"name": "open", "anonymous_id": "a", "message_id": "m0", "timestamp": iso(D1)},
        {"name": "", "anonymous_id": "a", "message_id": "m1"},
        {"name": "no_one", "message_id": "m2"},
        {"name": "bad_time", "anonymous_id": "ghost", "message_id": "m3", "timestamp": "noon"},
        {"name": "too_big", "anonymous_id": "a", "properties": {"blob": "x" * 33_000}},
        {"name": "buy", "anonymous_id": "a", "message_id": "m5", "timestamp": iso(D2)},
        {"name": "open", "anonymous_id": "a", "message_id": "m0", "timestamp": iso(D2)},
    ]
    out = track(client, tenant, batch)
    assert (out["accepted"], out["duplicates"], out["rejected"]) == (2, 1, 4)
    verdicts = [
        (r["index"], r["status"], r["error"] and (r["error"]["code"], r["error"]["field"]))
        for r in out["results"]
    ]
    assert verdicts == [
        (0, "accepted", None),
        (1, "rejected", ("invalid", "events[1].name")),
        (2, "rejected", ("missing_identity", "events[2].external_id")),
        (3, "rejected", ("invalid_timestamp", "events[3].timestamp")),
        (4, "rejected", ("event_too_large", "events[4]")),
        (5, "accepted", None),
        (6, "duplicate", None),
    ]
    assert all(r["error"]["message"] for r in out["results"] if r["error"])
    assert [r["message_id"] for r in out["results"] if r["status"] != "rejected"] == [
        "m0",
        "m5",
        "m0",
    ]

    stored = stored_events(sql, tenant)
    assert [(e.message_id, e.name, e.timestamp) for e in stored] == [
        ("m0", "open", D1),
        ("m5", "buy", D2),
    ]
    (user,) = app_users(sql, tenant)  # "ghost" was never created
    assert select(
        sql, sa.select(anon_t.c.anonymous_id).where(anon_t.c.app_id == tenant.app_id)
    ) == [("a",)]
    assert daily_counts(sql, tenant) == {
        (user.id, "open", D1.date()): 1,
        (user.id, "buy", D2.date()): 1,
    }
    assert set(event_stats(sql, tenant)) == {(user.id, "open"), (user.id, "buy")}
    assert (user.first_seen_at, user.last_seen_at) == (D1, D2)
    drops = dropped(sql, tenant)
    assert [(d.code, d.field) for d in drops] == [
        ("invalid", "events[1].name"),
        ("missing_identity", "events[2].external_id"),
        ("invalid_timestamp", "events[3].timestamp"),
        ("event_too_large", "events[4]"),
    ]
    assert all(d.message and len(d.excerpt) <= 1024 for d in drops)
    assert '"bad_time"' in drops[2].excerpt


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": [{"name": "e", "anonymous_id": "a"}] * 501}, "events"),
        ({"events": []}, "events"),
        ({"events": "open"}, "events"),
        ({}, "events"),
        ({"events": [{"name": "e", "anonymous_id": "a"}], "sent_at": "a while ago"}, "sent_at"),
        ({"events": [{"name": "e", "anonymous_id": "a"}], "sent_at": -1}, "sent_at"),
        ({"events": [{"name": "e", "anonymous_id": "a"}], "colour": "red"}, "colour"),
        ({"events": [{"name": "e"}], "external_id": ""}, "external_id"),
    ],
)
def test_a_bad_envelope_rejects_the_whole_request(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, body: dict[str, Any], field: str
) -> None:
    r = post(client, tenant, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    nothing_stored(sql, tenant)


def test_500_events_is_the_most_a_batch_holds(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    out = track(
        client, tenant, [{"name": "e", "message_id": f"m{i}"} for i in range(500)], anonymous_id="a"
    )
    assert out["accepted"] == 500
    assert len(stored_events(sql, tenant)) == 500


def test_the_batch_identity_applies_unless_an_event_names_its_own(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    out = track(
        client,
        tenant,
        [{"name": "e", "message_id": "1"}, {"name": "e", "message_id": "2", "external_id": "bob"}],
        external_id="alice",
        device_id="phone-1",
    )
    assert out["accepted"] == 2
    names = {u.id: u.external_id for u in app_users(sql, tenant)}
    assert [(names[e.user_id], e.device_id) for e in stored_events(sql, tenant)] == [
        ("alice", "phone-1"),
        ("bob", "phone-1"),
    ]


# --- I3: retried, reordered and concurrent batches store each event once ----------------------


def session_batch(users: int = 3, per_user: int = 20) -> list[dict[str, Any]]:
    """Events for `users` anonymous users; every fifth is a session start."""
    return [
        {
            "name": "$session_start" if i % 5 == 0 else f"screen_{i % 3}",
            "anonymous_id": f"anon-{u}",
            "message_id": f"u{u}-e{i}",
            "timestamp": iso(D1 + timedelta(minutes=i)),
        }
        for u in range(users)
        for i in range(per_user)
    ]


def assert_stored_once(sql: sa.Engine, tenant: Tenant, batch: list[dict[str, Any]]) -> None:
    stored = stored_events(sql, tenant)
    assert sorted(e.message_id for e in stored) == sorted(e["message_id"] for e in batch)
    assert sum(daily_counts(sql, tenant).values()) == len(batch)
    assert sum(s.count for s in event_stats(sql, tenant).values()) == len(batch)
    sessions = Counter(e["anonymous_id"] for e in batch if e["name"] == "$session_start")
    owners = dict(
        select(
            sql,
            sa.select(anon_t.c.user_id, anon_t.c.anonymous_id).where(
                anon_t.c.app_id == tenant.app_id
            ),
        )
    )
    assert {owners[u.id]: u.session_count for u in app_users(sql, tenant)} == sessions
    per_event = Counter((owners[e.user_id], e.name) for e in stored)
    stats = {(owners[uid], name): s.count for (uid, name), s in event_stats(sql, tenant).items()}
    assert stats == per_event


def test_a_retried_or_reordered_batch_is_stored_once(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    batch = session_batch()
    assert track(client, tenant, batch)["accepted"] == len(batch)
    again = track(client, tenant, batch)
    assert (again["accepted"], again["duplicates"]) == (0, len(batch))
    shuffled = batch[::-1]
    random.Random(7).shuffle(shuffled)
    again = track(client, tenant, shuffled)
    assert (again["accepted"], again["duplicates"]) == (0, len(batch))
    assert {r["status"] for r in again["results"]} == {"duplicate"}
    assert_stored_once(sql, tenant, batch)


def test_a_partial_retry_stores_only_the_new_events(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    batch = session_batch()
    track(client, tenant, batch[:25])
    out = track(client, tenant, batch[15:])
    assert (out["accepted"], out["duplicates"]) == (len(batch) - 25, 10)
    assert_stored_once(sql, tenant, batch)


def test_the_same_batch_sent_ten_times_at_once_is_stored_once(
    live: LiveServer, tenant: Tenant, sql: sa.Engine
) -> None:
    batch = session_batch()

    def send(seed: int) -> dict[str, Any]:
        events = list(batch)
        random.Random(seed).shuffle(events)  # some copies reordered
        with httpx.Client(base_url=live.url, timeout=60) as c:
            r = c.post("/v1/track", json={"events": events}, headers=tenant.write_headers())
        assert r.status_code == 200, r.text
        return dict(r.json())

    with ThreadPoolExecutor(10) as pool:
        outs = list(pool.map(send, range(10)))
    assert sum(o["accepted"] for o in outs) == len(batch)
    assert sum(o["duplicates"] for o in outs) == 9 * len(batch)
    assert_stored_once(sql, tenant, batch)


def test_message_ids_dedupe_within_an_app_only(
    client: httpx.Client, tenant: Tenant, live: LiveServer, sql: sa.Engine
) -> None:
    other = make_tenant(live)
    event = {"name": "open", "anonymous_id": "a", "message_id": "same"}
    assert track(client, tenant, [event])["accepted"] == 1
    assert track(client, other, [event])["accepted"] == 1
    assert len(stored_events(sql, other)) == 1


# --- I4: clock skew ---------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [timedelta(days=3), -timedelta(days=3), timedelta(hours=30)])
def test_a_skewed_client_clock_is_corrected_within_the_round_trip(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, skew: timedelta
) -> None:
    before = datetime.now(UTC)
    true_time = before - timedelta(minutes=5)
    out = track(
        client,
        tenant,
        [{"name": "open", "message_id": "m", "timestamp": iso(true_time + skew)}],
        anonymous_id="a",
        sent_at=iso(before + skew),
    )
    round_trip = datetime.now(UTC) - before
    (event,) = stored_events(sql, tenant)
    # stored = received - (sent_at - timestamp); received is within the round trip.
    assert timedelta(0) <= event.timestamp - true_time <= round_trip
    assert out["results"][0]["warnings"] == ["clock_skew_corrected"]


def test_without_sent_at_the_timestamp_is_taken_as_given(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    long_ago = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    out = track(client, tenant, [{"name": "e", "timestamp": iso(long_ago)}], anonymous_id="a")
    assert out["results"][0]["warnings"] == []
    (event,) = stored_events(sql, tenant)
    assert event.timestamp == long_ago


def test_epoch_seconds_and_milliseconds(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    seconds = int(D1.timestamp())
    millis = int(D2.timestamp() * 1000) + 250
    track(
        client,
        tenant,
        [
            {"name": "s", "message_id": "s", "timestamp": seconds},
            {"name": "ms", "message_id": "ms", "timestamp": millis},
        ],
        anonymous_id="a",
    )
    stamps = {e.message_id: e.timestamp for e in stored_events(sql, tenant)}
    assert stamps == {"s": D1, "ms": D2 + timedelta(milliseconds=250)}


def test_no_timestamp_means_when_it_was_received(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    before = datetime.now(UTC)
    track(client, tenant, [{"name": "e"}], anonymous_id="a")
    after = datetime.now(UTC)
    (event,) = stored_events(sql, tenant)
    assert before <= event.timestamp <= after
    assert event.timestamp == event.received_at


@pytest.mark.parametrize("with_sent_at", [False, True])
def test_more_than_23_hours_ahead_is_clamped_to_received_time(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, with_sent_at: bool
) -> None:
    before = datetime.now(UTC)
    batch: dict[str, Any] = {"anonymous_id": "a"}
    if with_sent_at:
        batch["sent_at"] = iso(before)  # a correct clock, and an event two days "later"
    out = track(
        client,
        tenant,
        [
            {"name": "far", "message_id": "far", "timestamp": iso(before + timedelta(days=2))},
            {"name": "near", "message_id": "near", "timestamp": iso(before + timedelta(hours=22))},
        ],
        **batch,
    )
    after = datetime.now(UTC)
    far, near = out["results"]
    assert far["warnings"] == ["timestamp_in_future_clamped"]
    assert near["warnings"] == []
    stamps = {e.message_id: e for e in stored_events(sql, tenant)}
    assert before <= stamps["far"].timestamp <= after
    assert stamps["far"].timestamp == stamps["far"].received_at
    assert stamps["near"].timestamp - before >= timedelta(hours=22) - (after - before)


# --- Profiles ---------------------------------------------------------------------------------


def test_events_build_the_profile_in_the_same_request(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    track(
        client,
        tenant,
        [
            {"name": "$session_start", "message_id": "1", "timestamp": iso(D1)},
            {"name": "open", "message_id": "2", "timestamp": iso(D1 + timedelta(minutes=1))},
            {"name": "$session_start", "message_id": "3", "timestamp": iso(D2)},
            {"name": "open", "message_id": "4", "timestamp": iso(D2 + timedelta(minutes=1))},
            {"name": "buy", "message_id": "5", "timestamp": iso(D2 + timedelta(minutes=5))},
        ],
        external_id="u1",
    )
    (user,) = app_users(sql, tenant)
    assert (user.first_seen_at, user.last_seen_at, user.session_count) == (
        D1,
        D2 + timedelta(minutes=5),
        2,
    )
    uid, d1, d2 = user.id, D1.date(), D2.date()
    assert daily_counts(sql, tenant) == {
        (uid, "$session_start", d1): 1,
        (uid, "open", d1): 1,
        (uid, "$session_start", d2): 1,
        (uid, "open", d2): 1,
        (uid, "buy", d2): 1,
    }
    opened = event_stats(sql, tenant)[(uid, "open")]
    assert (opened.count, opened.first_at, opened.last_at) == (
        2,
        D1 + timedelta(minutes=1),
        D2 + timedelta(minutes=1),
    )
    # A late-arriving older event moves first-seen back and adds to its day.
    earlier = D1 - timedelta(days=1)
    track(
        client,
        tenant,
        [{"name": "open", "message_id": "6", "timestamp": iso(earlier)}],
        external_id="u1",
    )
    (user,) = app_users(sql, tenant)
    assert (user.first_seen_at, user.last_seen_at, user.session_count) == (
        earlier,
        D2 + timedelta(minutes=5),
        2,
    )
    opened = event_stats(sql, tenant)[(uid, "open")]
    assert (opened.count, opened.first_at) == (3, earlier)
    assert daily_counts(sql, tenant)[(uid, "open", earlier.date())] == 1


def set_profile_properties(live: LiveServer, tenant: Tenant, names: list[str]) -> None:
    async def _set(ctx: AppContext) -> None:
        async with ctx.db.write() as s:
            await s.execute(
                sa.update(App)
                .where(App.id == tenant.app_id)
                .values(settings={"profile_properties": names})
            )

    live.call(_set)


def test_chosen_properties_keep_their_last_value(
    client: httpx.Client, live: LiveServer, tenant: Tenant, sql: sa.Engine
) -> None:
    set_profile_properties(live, tenant, ["plan", "seats"])
    track(
        client,
        tenant,
        [
            {"name": "buy", "timestamp": iso(D2), "properties": {"plan": "pro", "coupon": "X"}},
            {"name": "buy", "timestamp": iso(D1), "properties": {"plan": "free", "seats": 3}},
        ],
        external_id="u1",
    )
    (user,) = app_users(sql, tenant)
    # The latest by event time wins within a batch; untracked properties are not kept.
    assert user.last_values == {"plan": "pro", "seats": 3}
    track(
        client,
        tenant,
        [
            {
                "name": "upgrade",
                "timestamp": iso(D2 + timedelta(hours=1)),
                "properties": {"seats": 10},
            }
        ],
        external_id="u1",
    )
    (user,) = app_users(sql, tenant)
    assert user.last_values == {"plan": "pro", "seats": 10}


def test_a_late_older_event_does_not_overwrite_a_newer_last_value(
    client: httpx.Client, live: LiveServer, tenant: Tenant, sql: sa.Engine
) -> None:
    set_profile_properties(live, tenant, ["plan"])
    track(
        client,
        tenant,
        [{"name": "buy", "timestamp": iso(D2), "properties": {"plan": "pro"}}],
        external_id="u1",
    )
    track(
        client,
        tenant,
        [{"name": "buy", "timestamp": iso(D1), "properties": {"plan": "free"}}],
        external_id="u1",
    )
    (user,) = app_users(sql, tenant)
    assert user.last_values == {"plan": "pro"}


# --- Property: what is stored is exactly what was accepted ------------------------------------

valid_event = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["open", "buy", "$session_start"]),
        "anonymous_id": st.sampled_from(["a", "b", "c"]),
        "timestamp": st.integers(0, 10_000).map(lambda m: iso(D1 + timedelta(minutes=m))),
    },
    optional={"message_id": st.sampled_from([f"m{i}" for i in range(12)])},
)
invalid_event = st.one_of(
    valid_event.map(lambda e: {**e, "name": ""}),
    valid_event.map(lambda e: {k: v for k, v in e.items() if k != "anonymous_id"}),
    valid_event.map(lambda e: {**e, "timestamp": "not a time"}),
    valid_event.map(lambda e: {**e, "properties": ["not", "an", "object"]}),
    valid_event.map(lambda e: {**e, "unexpected": True}),
    st.sampled_from([None, 7, "open", [], {}]),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(st.one_of(valid_event, invalid_event), min_size=1, max_size=30))
def test_stored_is_exactly_what_was_accepted(
    live: LiveServer, client: httpx.Client, sql: sa.Engine, batch: list[Any]
) -> None:
    tenant = make_tenant(live)
    out = track(client, tenant, batch)
    results = out["results"]
    assert [r["index"] for r in results] == list(range(len(batch)))
    accepted = [r["message_id"] for r in results if r["status"] == "accepted"]
    stored = stored_events(sql, tenant)
    assert sorted(e.message_id for e in stored) == sorted(accepted)
    assert len(set(accepted)) == len(accepted)
    assert [d.field for d in dropped(sql, tenant)] == [
        r["error"]["field"] for r in results if r["status"] == "rejected"
    ]
    assert sum(daily_counts(sql, tenant).values()) == len(accepted)
    for r in results:
        if r["status"] == "duplicate":
            assert r["message_id"] in accepted
