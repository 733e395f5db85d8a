"""POST /v1/identify through real HTTP: claims, merges, typed attributes, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant

from tidings.db import table_of
from tidings.devices.models import Device
from tidings.events.models import Event
from tidings.profiles.models import EventDailyCount, UserEventStat
from tidings.users.models import AnonymousId, AttributeDefinition, User

users, anon_ids, events = table_of(User), table_of(AnonymousId), table_of(Event)
daily, stats, devices = table_of(EventDailyCount), table_of(UserEventStat), table_of(Device)
definitions = table_of(AttributeDefinition)

DAY = (datetime.now(UTC) - timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)


def at(minutes: int) -> str:
    return (DAY + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def identify(client: httpx.Client, tenant: Tenant, **body: Any) -> httpx.Response:
    return client.post("/v1/identify", json=body, headers=tenant.write_headers())


def track(client: httpx.Client, tenant: Tenant, events_: list[dict[str, Any]], **batch: Any) -> Any:
    r = client.post("/v1/track", json={"events": events_, **batch}, headers=tenant.write_headers())
    assert r.status_code == 200, r.text
    return r.json()


def app_users(sql: sa.Engine, tenant: Tenant) -> list[sa.Row[Any]]:
    with sql.connect() as c:
        return list(c.execute(sa.select(users).where(users.c.app_id == tenant.app_id)))


def one_user(sql: sa.Engine, user_id: int) -> sa.Row[Any]:
    with sql.connect() as c:
        return c.execute(sa.select(users).where(users.c.id == user_id)).one()


def select_all(sql: sa.Engine, stmt: Any) -> list[sa.Row[Any]]:
    with sql.connect() as c:
        return list(c.execute(stmt))


def test_identify_claims_the_anonymous_user(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    r = identify(client, tenant, anonymous_id="anon-1")
    assert r.status_code == 200, r.text
    anon_user = r.json()["user_id"]
    assert r.json()["external_id"] is None
    r = identify(client, tenant, external_id="u1", anonymous_id="anon-1")
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": anon_user, "external_id": "u1", "merged_user_ids": []}
    (user,) = app_users(sql, tenant)
    assert (user.id, user.external_id) == (anon_user, "u1")
    owners = select_all(sql, sa.select(anon_ids).where(anon_ids.c.app_id == tenant.app_id))
    assert [(o.anonymous_id, o.user_id) for o in owners] == [("anon-1", anon_user)]


def test_identify_is_idempotent(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    first = identify(client, tenant, external_id="u1", anonymous_id="a")
    again = identify(client, tenant, external_id="u1", anonymous_id="a")
    assert first.json() == again.json()
    assert len(app_users(sql, tenant)) == 1


def test_identify_merges_a_second_anonymous_history(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    known = identify(
        client, tenant, external_id="u1", anonymous_id="phone", attributes={"plan": "pro"}
    ).json()["user_id"]
    track(
        client,
        tenant,
        [
            {"name": "$session_start", "timestamp": at(30), "message_id": "k1"},
            {"name": "open", "timestamp": at(31), "message_id": "k2"},
        ],
        external_id="u1",
    )
    # The same person browses anonymously on a laptop.
    laptop = identify(
        client,
        tenant,
        anonymous_id="laptop",
        attributes={"plan": "free", "colour": "blue"},
        locale="fa-IR",
    ).json()["user_id"]
    track(
        client,
        tenant,
        [
            {"name": "$session_start", "timestamp": at(0), "message_id": "a1"},
            {"name": "open", "timestamp": at(1), "message_id": "a2"},
            {"name": "$session_start", "timestamp": at(60), "message_id": "a3"},
            {"name": "open", "timestamp": at(61), "message_id": "a4"},
        ],
        anonymous_id="laptop",
    )
    device = client.post(
        "/v1/devices",
        json={"anonymous_id": "laptop", "device_id": "laptop-1", "platform": "desktop"},
        headers=tenant.write_headers(),
    )
    assert device.status_code == 200, device.text
    assert laptop != known
    laptop_seen = one_user(sql, laptop).last_seen_at  # registering the device touched it
    assert laptop_seen > DAY + timedelta(minutes=61)

    r = identify(client, tenant, external_id="u1", anonymous_id="laptop")
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": known, "external_id": "u1", "merged_user_ids": [laptop]}

    (user,) = app_users(sql, tenant)
    assert user.id == known
    assert user.session_count == 3  # 1 + 2: sessions add up
    assert user.attributes == {"plan": "pro", "colour": "blue"}  # the identified user's win
    assert user.locale == "fa-IR"  # gaps are filled from the anonymous history
    assert user.first_seen_at == DAY
    assert user.last_seen_at == laptop_seen
    stored = select_all(sql, sa.select(events).where(events.c.app_id == tenant.app_id))
    assert len(stored) == 6
    assert {e.user_id for e in stored} == {known}
    counts = select_all(sql, sa.select(daily).where(daily.c.user_id.in_([known, laptop])))
    assert {(c.user_id, c.name, c.day, c.count) for c in counts} == {
        (known, "$session_start", DAY.date(), 3),
        (known, "open", DAY.date(), 3),
    }
    totals = select_all(sql, sa.select(stats).where(stats.c.user_id.in_([known, laptop])))
    assert {(t.user_id, t.name, t.count, t.first_at, t.last_at) for t in totals} == {
        (known, "$session_start", 3, DAY, DAY + timedelta(minutes=60)),
        (known, "open", 3, DAY + timedelta(minutes=1), DAY + timedelta(minutes=61)),
    }
    (dev,) = select_all(sql, sa.select(devices).where(devices.c.app_id == tenant.app_id))
    assert dev.user_id == known
    owners = select_all(sql, sa.select(anon_ids).where(anon_ids.c.app_id == tenant.app_id))
    assert {(o.anonymous_id, o.user_id) for o in owners} == {("phone", known), ("laptop", known)}


def test_an_anonymous_id_owned_by_another_known_user_is_not_merged(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    alice = identify(client, tenant, external_id="alice", anonymous_id="shared-tablet").json()
    track(client, tenant, [{"name": "open", "message_id": "m1"}], external_id="alice")
    r = identify(client, tenant, external_id="bob", anonymous_id="shared-tablet")
    assert r.status_code == 200, r.text
    bob = r.json()
    assert bob["user_id"] != alice["user_id"]
    assert bob["merged_user_ids"] == []
    assert {(u.id, u.external_id) for u in app_users(sql, tenant)} == {
        (alice["user_id"], "alice"),
        (bob["user_id"], "bob"),
    }
    (event,) = select_all(sql, sa.select(events).where(events.c.app_id == tenant.app_id))
    assert event.user_id == alice["user_id"]
    (owner,) = select_all(sql, sa.select(anon_ids).where(anon_ids.c.app_id == tenant.app_id))
    assert owner.user_id == alice["user_id"]


def test_typed_attributes_are_normalized_and_declared(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    r = identify(
        client,
        tenant,
        external_id="u1",
        attributes={
            "seats": 12,
            "ratio": 0.25,
            "beta": True,
            "trial_ends": "2026-01-31T12:30:00+03:30",
            "tags": ["vip", "early"],
            "plan": "pro",
        },
    )
    assert r.status_code == 200, r.text
    user = one_user(sql, r.json()["user_id"])
    assert user.attributes == {
        "seats": 12,
        "ratio": 0.25,
        "beta": True,
        "trial_ends": "2026-01-31T09:00:00.000Z",
        "tags": ["vip", "early"],
        "plan": "pro",
    }
    declared = select_all(sql, sa.select(definitions).where(definitions.c.app_id == tenant.app_id))
    assert {(d.name, d.type) for d in declared} == {
        ("seats", "number"),
        ("ratio", "number"),
        ("beta", "boolean"),
        ("trial_ends", "datetime"),
        ("tags", "list"),
        ("plan", "string"),
    }


def test_a_type_mismatch_rejects_the_whole_request(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    uid = identify(client, tenant, external_id="u1", attributes={"seats": 3}).json()["user_id"]
    before = one_user(sql, uid)
    r = identify(
        client,
        tenant,
        external_id="u1",
        attributes={"plan": "pro", "seats": "many"},
        locale="de-DE",
        consent={"push": True},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "attributes.seats"
    assert r.json()["error"]["code"] == "attribute_type_mismatch"
    after = one_user(sql, uid)
    assert after.attributes == {"seats": 3}
    assert (after.locale, after.consent, after.updated_at) == (None, {}, before.updated_at)
    declared = select_all(
        sql, sa.select(definitions.c.name).where(definitions.c.app_id == tenant.app_id)
    )
    assert [d.name for d in declared] == ["seats"]  # "plan" was not declared either


def test_a_type_declared_by_one_user_binds_the_others(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    assert identify(client, tenant, external_id="u1", attributes={"beta": True}).is_success
    r = identify(client, tenant, external_id="u2", attributes={"beta": "yes"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "attributes.beta"
    assert [u.external_id for u in app_users(sql, tenant)] == ["u1"]


def test_null_unsets_an_attribute(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    uid = identify(client, tenant, external_id="u1", attributes={"plan": "pro", "seats": 2}).json()[
        "user_id"
    ]
    r = identify(client, tenant, external_id="u1", attributes={"plan": None})
    assert r.status_code == 200, r.text
    assert one_user(sql, uid).attributes == {"seats": 2}
    # The declared type outlives the value: "plan" is still a string.
    r = identify(client, tenant, external_id="u1", attributes={"plan": 5})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "attributes.plan"


def test_locale_timezone_consent_and_location_are_stored(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    r = identify(
        client,
        tenant,
        external_id="u1",
        locale="pt-BR",
        timezone="America/Sao_Paulo",
        consent={"push": True, "email": False},
        location={"country": "br", "city": "Recife", "latitude": -8.05, "longitude": -34.9},
    )
    assert r.status_code == 200, r.text
    user = one_user(sql, r.json()["user_id"])
    assert (user.locale, user.timezone, user.consent) == (
        "pt-BR",
        "America/Sao_Paulo",
        {"push": True, "email": False},
    )
    assert (user.country, user.city, user.latitude, user.longitude) == (
        "BR",
        "Recife",
        -8.05,
        -34.9,
    )
    r = identify(client, tenant, external_id="u1", consent={"inapp": True})
    assert one_user(sql, r.json()["user_id"]).consent == {
        "push": True,
        "email": False,
        "inapp": True,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "u1", "locale": "english please"}, "locale"),
        ({"external_id": "u1", "locale": "e"}, "locale"),
        ({"external_id": "u1", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"external_id": "u1", "timezone": "+03:30"}, "timezone"),
        ({"external_id": "u1", "consent": {"telepathy": True}}, "consent"),
        ({"external_id": "u1", "consent": {"push": "maybe"}}, "consent.push"),
        ({"external_id": "u1", "location": {"latitude": 10}}, "location"),
        ({"external_id": "u1", "location": {"country": "Iran"}}, "location.country"),
        ({"external_id": "u1", "attributes": {"bad name": 1}}, "attributes.bad name"),
        ({"external_id": "u1", "attributes": {"nested": {"a": 1}}}, "attributes.nested"),
        ({"external_id": "u1", "attributes": []}, "attributes"),
        ({"external_id": "u1", "traits": {"plan": "pro"}}, "traits"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 256}, "external_id"),
        ({"external_id": 42}, "external_id"),
        ({"attributes": {"plan": "pro"}}, "external_id"),
        ({}, "external_id"),
    ],
)
def test_bad_identify_bodies_are_refused_naming_the_field(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, body: dict[str, Any], field: str
) -> None:
    r = identify(client, tenant, **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert app_users(sql, tenant) == []
    assert (
        select_all(sql, sa.select(definitions).where(definitions.c.app_id == tenant.app_id)) == []
    )


def test_identify_needs_a_key(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    r = client.post("/v1/identify", json={"external_id": "u1"})
    assert r.status_code == 401
    assert r.json()["error"]["field"] == "authorization"
    r = client.post(
        "/v1/identify",
        json={"external_id": "u1"},
        headers={"Authorization": "Bearer tdw_not_a_real_key"},
    )
    assert r.status_code == 401
    assert app_users(sql, tenant) == []
