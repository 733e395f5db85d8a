"""The server API for users, their events and devices, and dropped events: real HTTP on
SQLite and PostgreSQL, asserting statuses, error fields and what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant, make_tenant

from tidings.testing.live import LiveServer

NOW = datetime.now(UTC)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def identify(client: httpx.Client, tenant: Tenant, **body: Any) -> int:
    r = client.post("/v1/identify", json=body, headers=tenant.write_headers())
    assert r.status_code == 200, r.text
    user_id: int = r.json()["user_id"]
    return user_id


def track(client: httpx.Client, tenant: Tenant, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post("/v1/track", json={"events": events}, headers=tenant.write_headers())
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def get(
    client: httpx.Client, tenant: Tenant, path: str, *, key: str | None = None, **params: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or tenant.server_key}"}
    return client.get(path, params=params, headers=headers)


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()


def error(r: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["field"] == field, err
    return err


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["data"]]


def user_row(sql: sa.Engine, user_id: int) -> dict[str, Any] | None:
    with sql.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM users WHERE id = :u"), {"u": user_id}).first()
    return dict(row._mapping) if row else None


def count(sql: sa.Engine, table: str, **where: Any) -> int:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "1 = 1"
    with sql.connect() as conn:
        return int(
            conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE {clause}"), where
            ).scalar_one()
        )


# --- listing -----------------------------------------------------------------------------


def test_walking_every_page_of_120_users_sees_each_once_in_id_order(
    live: LiveServer, client: httpx.Client, tenant: Tenant
) -> None:
    made = [identify(client, tenant, external_id=f"walker-{i:03d}") for i in range(120)]
    other = make_tenant(live)
    identify(client, other, external_id="walker-elsewhere")

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = ok(get(client, tenant, "/v1/users", **params))
        assert len(page["data"]) <= 7
        seen.extend(ids(page))
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 18  # 17 full pages of 7, then 1
    assert seen == sorted(made)
    assert len(set(seen)) == 120

    first = ok(get(client, tenant, "/v1/users"))
    assert len(first["data"]) == 50  # the default page size
    everything = ok(get(client, tenant, "/v1/users", limit=500))
    assert ids(everything) == sorted(made)
    assert everything["next_cursor"] is None


def test_list_items_carry_the_whole_user_with_anonymous_ids(
    client: httpx.Client, tenant: Tenant
) -> None:
    uid = identify(client, tenant, anonymous_id="anon-1", attributes={"plan": "pro"})
    assert identify(client, tenant, anonymous_id="anon-1", external_id="ada") == uid
    identify(client, tenant, anonymous_id="anon-2", external_id="ada", locale="en-GB")

    (item,) = ok(get(client, tenant, "/v1/users"))["data"]
    assert item["id"] == uid
    assert item["external_id"] == "ada"
    assert item["anonymous_ids"] == ["anon-1", "anon-2"]
    assert item["attributes"] == {"plan": "pro"}
    assert item["locale"] == "en-GB"
    assert set(item) >= {"consent", "location", "first_seen_at", "last_seen_at", "last_values"}


def test_filters_by_ids_attributes_search_and_times(client: httpx.Client, tenant: Tenant) -> None:
    ada = identify(
        client,
        tenant,
        external_id="ada",
        anonymous_id="a-device",
        attributes={"plan": "pro", "seats": 3, "beta": True, "tags": ["x", "y"]},
    )
    bob = identify(
        client,
        tenant,
        external_id="bob",
        attributes={"plan": "free", "seats": 10, "beta": False, "tags": ["y"]},
    )
    cy = identify(
        client,
        tenant,
        external_id="cy_100%",
        attributes={"plan": "pro", "renews": "2026-05-01T10:00:00+02:00"},
    )
    track(
        client,
        tenant,
        [
            {"name": "open", "external_id": "ada", "timestamp": iso(NOW - timedelta(days=10))},
            {"name": "open", "external_id": "bob", "timestamp": iso(NOW - timedelta(days=1))},
        ],
    )

    def users(**params: Any) -> list[int]:
        return ids(ok(get(client, tenant, "/v1/users", **params)))

    assert users(external_id="bob") == [bob]
    assert users(anonymous_id="a-device") == [ada]
    assert users(anonymous_id="nobody") == []
    assert users(**{"attr.plan": "pro"}) == [ada, cy]
    assert users(**{"attr.plan": "pro", "attr.seats": "3"}) == [ada]
    assert users(**{"attr.seats": "10.0"}) == [bob]
    assert users(**{"attr.beta": "true"}) == [ada]
    assert users(**{"attr.beta": "FALSE"}) == [bob]
    assert users(**{"attr.tags": "y"}) == [ada, bob]
    assert users(**{"attr.tags": "x"}) == [ada]
    assert users(**{"attr.renews": "2026-05-01T08:00:00Z"}) == [cy]
    assert users(q="b") == [bob]
    assert users(q="DEVICE") == [ada]
    assert users(q="100%") == [cy]  # % is literal, not a wildcard
    assert users(q="%") == [cy]
    assert users(seen_after=iso(NOW - timedelta(days=5))) == [bob]
    assert users(seen_before=iso(NOW - timedelta(days=5))) == [ada]
    cy_created = ok(get(client, tenant, f"/v1/users/{cy}"))["created_at"]
    assert cy in users(created_after=cy_created)
    assert users(created_after=iso(NOW + timedelta(days=1))) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"attr.nope": "x"}, "attr.nope"),
        ({"attr.seats": "three"}, "attr.seats"),
        ({"attr.seats": "nan"}, "attr.seats"),
        ({"attr.beta": "yes"}, "attr.beta"),
        ({"attr.renews": "tomorrow"}, "attr.renews"),
        ({"seen_after": "2026-01-01T00:00:00"}, "seen_after"),
        ({"created_after": "last week"}, "created_after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"cursor": "bm90IG91cnM"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_a_422_naming_the_query_field(
    client: httpx.Client, tenant: Tenant, params: dict[str, str], field: str
) -> None:
    identify(
        client,
        tenant,
        external_id="ada",
        attributes={"seats": 3, "beta": True, "renews": "2026-05-01T10:00:00Z"},
    )
    error(get(client, tenant, "/v1/users", **params), 422, field)


def test_a_cursor_from_another_list_is_refused(client: httpx.Client, tenant: Tenant) -> None:
    uid = identify(client, tenant, external_id="ada")
    track(client, tenant, [{"name": f"e{i}", "external_id": "ada"} for i in range(3)])
    events = ok(get(client, tenant, f"/v1/users/{uid}/events", limit=1))
    assert events["next_cursor"]
    err = error(get(client, tenant, "/v1/users", cursor=events["next_cursor"]), 422, "cursor")
    assert err["code"] == "invalid_cursor"


# --- one user ----------------------------------------------------------------------------


def test_get_shows_the_profile_with_its_aggregates(client: httpx.Client, tenant: Tenant) -> None:
    uid = identify(
        client,
        tenant,
        external_id="ada",
        attributes={"plan": "pro"},
        consent={"push": True},
        location={"country": "ir", "city": "Tehran"},
        timezone="Asia/Tehran",
    )
    two = (NOW - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    five = (NOW - timedelta(days=5)).replace(hour=12, minute=0, second=0, microsecond=0)
    old = NOW - timedelta(days=40)
    track(
        client,
        tenant,
        [
            {"name": "purchase", "external_id": "ada", "timestamp": iso(five)},
            {"name": "purchase", "external_id": "ada", "timestamp": iso(two)},
            {"name": "purchase", "external_id": "ada", "timestamp": iso(two + timedelta(hours=1))},
            {"name": "$session_start", "external_id": "ada", "timestamp": iso(two)},
            {"name": "$session_start", "external_id": "ada", "timestamp": iso(old)},
        ],
    )

    user = ok(get(client, tenant, f"/v1/users/{uid}"))
    assert user["id"] == uid
    assert user["external_id"] == "ada"
    assert user["attributes"] == {"plan": "pro"}
    assert user["consent"] == {"push": True}
    assert user["location"] == {"country": "IR", "city": "Tehran"}
    assert user["timezone"] == "Asia/Tehran"
    assert user["session_count"] == 2
    assert datetime.fromisoformat(user["first_seen_at"]) == old
    assert datetime.fromisoformat(user["last_seen_at"]) == two + timedelta(hours=1)
    assert user["events"] == [
        {
            "name": "purchase",
            "count": 3,
            "first_at": user["events"][0]["first_at"],
            "last_at": user["events"][0]["last_at"],
        },
        {
            "name": "$session_start",
            "count": 2,
            "first_at": user["events"][1]["first_at"],
            "last_at": user["events"][1]["last_at"],
        },
    ]
    assert datetime.fromisoformat(user["events"][0]["first_at"]) == five
    assert datetime.fromisoformat(user["events"][0]["last_at"]) == two + timedelta(hours=1)
    daily = user["daily"]
    assert daily["days"] == 30
    assert daily["counts"] == {
        "purchase": {two.date().isoformat(): 2, five.date().isoformat(): 1},
        "$session_start": {two.date().isoformat(): 1},  # the 40-day-old one is outside
    }


def test_patch_changes_typed_attributes_and_facts(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    uid = identify(
        client,
        tenant,
        external_id="ada",
        attributes={"plan": "free", "seats": 1, "old": "x"},
        locale="en-GB",
        consent={"push": True, "email": True},
        location={"latitude": 35.7, "longitude": 51.4, "city": "Tehran"},
    )
    r = client.patch(
        f"/v1/users/{uid}",
        json={
            "attributes": {"plan": "pro", "seats": 5, "old": None, "since": "2026-01-01T00:00Z"},
            "timezone": "Europe/Berlin",
            "consent": {"email": False, "push": None, "inapp": True},
            "location": {"country": "de", "city": "Berlin"},
        },
        headers=tenant.server_headers(),
    )
    out = ok(r)
    assert out["attributes"] == {"plan": "pro", "seats": 5, "since": "2026-01-01T00:00:00.000Z"}
    assert out["locale"] == "en-GB"  # left out: kept
    assert out["timezone"] == "Europe/Berlin"
    assert out["consent"] == {"email": False, "inapp": True}
    assert out["location"] == {"country": "DE", "city": "Berlin"}  # replaced whole

    row = user_row(sql, uid)
    assert row is not None
    assert (row["timezone"], row["country"], row["city"], row["latitude"]) == (
        "Europe/Berlin",
        "DE",
        "Berlin",
        None,
    )
    assert count(sql, "attribute_definitions", app_id=tenant.app_id, name="since") == 1

    out = ok(
        client.patch(
            f"/v1/users/{uid}",
            json={"locale": None, "location": None},
            headers=tenant.server_headers(),
        )
    )
    assert out["locale"] is None
    assert out["location"] is None
    assert ok(get(client, tenant, f"/v1/users/{uid}"))["attributes"]["plan"] == "pro"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attributes": {"seats": "ten"}, "locale": "fr-FR"}, "attributes.seats"),
        ({"attributes": {"plan": 3}}, "attributes.plan"),
        ({"attributes": {"bad name": 1}}, "attributes.bad name"),
        ({"attributes": {"fresh": {"nested": 1}}}, "attributes.fresh"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"locale": "not a locale"}, "locale"),
        ({"consent": {"carrier_pigeon": True}}, "consent"),
        ({"location": {"latitude": 100, "longitude": 0}}, "location.latitude"),
        ({"external_id": "someone-else"}, "external_id"),
    ],
)
def test_a_bad_patch_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, body: dict[str, Any], field: str
) -> None:
    uid = identify(client, tenant, external_id="ada", attributes={"seats": 3, "plan": "pro"})
    before = user_row(sql, uid)
    definitions = count(sql, "attribute_definitions", app_id=tenant.app_id)

    r = client.patch(f"/v1/users/{uid}", json=body, headers=tenant.server_headers())
    error(r, 422, field)
    assert user_row(sql, uid) == before
    assert count(sql, "attribute_definitions", app_id=tenant.app_id) == definitions


def test_delete_removes_the_user_and_everything_about_them(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    uid = identify(client, tenant, external_id="ada", anonymous_id="anon-ada")
    keep = identify(client, tenant, external_id="bob")
    track(client, tenant, [{"name": "open", "external_id": "ada"}])
    r = client.delete(f"/v1/users/{uid}", headers=tenant.server_headers())
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert user_row(sql, uid) is None
    for table in ("events", "anonymous_ids", "event_daily_counts", "user_event_stats"):
        assert count(sql, table, user_id=uid) == 0
    assert user_row(sql, keep) is not None
    error(get(client, tenant, f"/v1/users/{uid}"), 404, "user_id")
    error(client.delete(f"/v1/users/{uid}", headers=tenant.server_headers()), 404, "user_id")


# --- a user's events and devices, dropped events -----------------------------------------


def test_a_users_events_come_newest_first_page_by_page_with_filters(
    client: httpx.Client, tenant: Tenant
) -> None:
    uid = identify(client, tenant, external_id="ada")
    identify(client, tenant, external_id="bob")
    base = NOW - timedelta(days=3)
    sent = [
        {
            "name": "view" if i % 3 else "purchase",
            "external_id": "ada",
            # Pairs share a timestamp: ties are broken by id, never dropped or repeated.
            "timestamp": iso(base + timedelta(minutes=i // 2)),
            "message_id": f"m-{i}",
            "properties": {"i": i},
        }
        for i in range(25)
    ]
    track(client, tenant, sent)
    track(client, tenant, [{"name": "view", "external_id": "bob"}])

    walked: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = ok(get(client, tenant, f"/v1/users/{uid}/events", **params))
        walked.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(walked) == 25
    assert len({e["message_id"] for e in walked}) == 25
    order = [(e["timestamp"], e["id"]) for e in walked]
    assert order == sorted(order, reverse=True)
    assert walked[0]["properties"] == {"i": 24}
    assert set(walked[0]) == {
        "id",
        "message_id",
        "name",
        "properties",
        "timestamp",
        "received_at",
        "device_id",
    }

    purchases = ok(get(client, tenant, f"/v1/users/{uid}/events", name="purchase", limit=500))
    assert sorted(e["properties"]["i"] for e in purchases["data"]) == [
        0,
        3,
        6,
        9,
        12,
        15,
        18,
        21,
        24,
    ]
    window = ok(
        get(
            client,
            tenant,
            f"/v1/users/{uid}/events",
            since=iso(base + timedelta(minutes=2)),
            until=iso(base + timedelta(minutes=4)),
        )
    )
    assert sorted(e["properties"]["i"] for e in window["data"]) == [4, 5, 6, 7]
    error(get(client, tenant, f"/v1/users/{uid}/events", since="yesterday"), 422, "since")


def test_a_users_devices_are_listed(client: httpx.Client, tenant: Tenant) -> None:
    uid = identify(client, tenant, external_id="ada")
    for n, platform in enumerate(("ios", "web", "android")):
        r = client.post(
            "/v1/devices",
            json={"external_id": "ada", "device_id": f"d-{n}", "platform": platform},
            headers=tenant.write_headers(),
        )
        assert r.status_code == 200, r.text
    client.post(
        "/v1/devices",
        json={"external_id": "bob", "device_id": "d-bob", "platform": "web"},
        headers=tenant.write_headers(),
    )
    page = ok(get(client, tenant, f"/v1/users/{uid}/devices", limit=2))
    assert [d["device_id"] for d in page["data"]] == ["d-0", "d-1"]
    rest = ok(get(client, tenant, f"/v1/users/{uid}/devices", cursor=page["next_cursor"]))
    assert [(d["device_id"], d["platform"]) for d in rest["data"]] == [("d-2", "android")]
    assert rest["next_cursor"] is None
    assert all(d["user_id"] == uid for d in page["data"] + rest["data"])


def test_dropped_events_show_why_newest_first_and_only_this_apps(
    live: LiveServer, client: httpx.Client, tenant: Tenant
) -> None:
    other = make_tenant(live)
    track(client, other, [{"name": "", "external_id": "x"}])
    out = track(
        client,
        tenant,
        [
            {"name": "", "external_id": "ada"},
            {"name": "ok", "external_id": "ada"},
            {"name": "late", "external_id": "ada", "timestamp": "next tuesday"},
        ],
    )
    assert out["rejected"] == 2
    track(client, tenant, [{"name": "x", "external_id": "ada", "surprise": 1}])

    page = ok(get(client, tenant, "/v1/dropped-events", limit=2))
    assert len(page["data"]) == 2
    rest = ok(get(client, tenant, "/v1/dropped-events", cursor=page["next_cursor"]))
    dropped = page["data"] + rest["data"]
    assert rest["next_cursor"] is None
    assert len(dropped) == 3
    order = [(d["received_at"], d["id"]) for d in dropped]
    assert order == sorted(order, reverse=True)
    newest = dropped[0]
    assert newest["code"] == "invalid"
    assert newest["field"] == "events[0].surprise"
    assert '"surprise":1' in newest["excerpt"]
    by_field = {d["field"]: d for d in dropped}
    assert by_field["events[2].timestamp"]["code"] == "invalid_timestamp"
    assert "next tuesday" in by_field["events[2].timestamp"]["excerpt"]
    assert by_field["events[0].name"]["message"]
    only = ok(get(client, tenant, "/v1/dropped-events", code="invalid_timestamp"))
    assert [d["field"] for d in only["data"]] == ["events[2].timestamp"]


# --- who may call what -------------------------------------------------------------------


def server_calls(user_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/v1/users/{user_id}", None),
        ("PATCH", f"/v1/users/{user_id}", {"attributes": {"plan": "stolen"}}),
        ("GET", f"/v1/users/{user_id}/events", None),
        ("GET", f"/v1/users/{user_id}/devices", None),
        ("GET", f"/v1/users/{user_id}/export", None),
        ("POST", f"/v1/users/{user_id}/erase", None),
        ("DELETE", f"/v1/users/{user_id}", None),
    ]


def test_another_apps_user_answers_exactly_like_a_missing_one(
    live: LiveServer, client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    victim_app = make_tenant(live)
    victim = identify(client, victim_app, external_id="victim", attributes={"plan": "pro"})
    track(client, victim_app, [{"name": "open", "external_id": "victim"}])
    before = user_row(sql, victim)
    missing = 2**31 - 1

    for method, path, body in server_calls(victim):
        foreign = client.request(method, path, json=body, headers=tenant.server_headers())
        absent = client.request(
            method,
            path.replace(str(victim), str(missing)),
            json=body,
            headers=tenant.server_headers(),
        )
        assert foreign.status_code == 404, (method, path, foreign.text)
        assert foreign.json() == absent.json(), (method, path)
        assert foreign.json()["error"]["field"] == "user_id"
    missing_body = get(client, tenant, f"/v1/users/{missing}").json()
    assert missing_body == {
        "error": {"code": "not_found", "message": "user not found", "field": "user_id"}
    }
    for impossible in (0, -1, 2**31, 2**63, 10**30):
        r = get(client, tenant, f"/v1/users/{impossible}/events")
        assert r.status_code == 404, r.text
        assert r.json() == missing_body

    assert user_row(sql, victim) == before
    assert count(sql, "events", user_id=victim) == 1
    assert ids(ok(get(client, tenant, "/v1/users", external_id="victim"))) == []


def test_a_read_only_key_reads_but_cannot_change_or_erase(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    uid = identify(client, tenant, external_id="ada", attributes={"plan": "pro"})
    before = user_row(sql, uid)
    for method, path, body in server_calls(uid):
        r = client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {tenant.read_key}"}
        )
        if method == "GET":
            assert r.status_code == 200, (path, r.text)
        else:
            error(r, 403, "authorization")
    assert user_row(sql, uid) == before


def test_a_write_key_never_reaches_the_server_api(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    uid = identify(client, tenant, external_id="ada")
    before = user_row(sql, uid)
    calls = [*server_calls(uid), ("GET", "/v1/users", None), ("GET", "/v1/dropped-events", None)]
    for method, path, body in calls:
        r = client.request(method, path, json=body, headers=tenant.write_headers())
        assert error(r, 403, "authorization")["code"] == "wrong_key_type"
        r = client.request(method, path, json=body)
        error(r, 401, "authorization")
        r = client.request(method, path, json=body, headers={"Authorization": "Bearer sk_nope"})
        error(r, 401, "authorization")
    assert user_row(sql, uid) == before
