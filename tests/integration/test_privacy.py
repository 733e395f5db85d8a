"""GDPR erase and export through real HTTP on SQLite and PostgreSQL: after an erase no row
in any table mentions the user; an export holds that user's data and nobody else's."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant, make_tenant

from tidings.testing.live import LiveServer

FCM_TOKEN = "dQw4w9WgXcQ:APA91bH" + "z" * 140


@dataclass
class Person:
    user_id: int
    external_id: str
    anonymous_ids: list[str]
    event_names: list[str]


def post(client: httpx.Client, path: str, key: str, body: Any) -> Any:
    r = client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()


def seed(client: httpx.Client, tenant: Tenant, tag: str) -> Person:
    """A user with two merged anonymous histories, attributes, events (with aggregates),
    a device with a push token and dropped events that quote their ids."""
    ext, anon1, anon2 = (
        f"{tag}-{uuid.uuid4().hex}",
        f"a1-{uuid.uuid4().hex}",
        f"a2-{uuid.uuid4().hex}",
    )
    names = [f"{tag}_opened", f"{tag}_bought"]
    key = tenant.write_key
    post(client, "/v1/identify", key, {"anonymous_id": anon1, "attributes": {"plan": tag}})
    post(client, "/v1/track", key, {"events": [{"name": names[0], "anonymous_id": anon2}]})
    post(client, "/v1/identify", key, {"anonymous_id": anon1, "external_id": ext})
    merged = post(client, "/v1/identify", key, {"anonymous_id": anon2, "external_id": ext})
    assert merged["merged_user_ids"], merged
    post(
        client,
        "/v1/track",
        key,
        {
            "events": [
                {"name": "$session_start", "external_id": ext},
                {"name": names[1], "external_id": ext, "properties": {"ref": ext}},
                {"name": "", "external_id": ext},  # dropped, quoting the external id
                {"name": names[0], "anonymous_id": anon1, "bogus": True},  # dropped too
            ]
        },
    )
    post(
        client,
        "/v1/devices",
        key,
        {
            "external_id": ext,
            "device_id": f"dev-{ext}",
            "platform": "android",
            "serial_number": f"SN-{tag}",
            "push": {"provider": "fcm", "address": FCM_TOKEN + tag},
        },
    )
    return Person(merged["user_id"], ext, [anon1, anon2], names)


def table_names(sql: sa.Engine) -> list[str]:
    return sorted(sa.inspect(sql).get_table_names())


def mentions(sql: sa.Engine, person: Person) -> list[str]:
    """Every (table, column) where a row still names the person, scanning the whole
    database as it is, including tables added after this test was written."""
    found: list[str] = []
    meta = sa.MetaData()
    meta.reflect(sql)
    tokens = [person.external_id, *person.anonymous_ids]
    with sql.connect() as conn:
        for table in meta.sorted_tables:
            for column in table.columns:
                holds_user = (
                    column.name == "user_id"
                    or (table.name == "users" and column.name == "id")
                    or any(fk.column.table.name == "users" for fk in column.foreign_keys)
                )
                if holds_user:
                    n = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(column == person.user_id)
                    ).scalar_one()
                    if n:
                        found.append(f"{table.name}.{column.name} = {person.user_id} ({n} rows)")
                if isinstance(column.type, sa.Integer | sa.Float | sa.Boolean | sa.Numeric):
                    continue
                text = sa.cast(column, sa.Text)
                for token in tokens:
                    n = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(table)
                        .where(text.contains(token, autoescape=True))
                    ).scalar_one()
                    if n:
                        found.append(f"{table.name}.{column.name} ~ {token!r} ({n} rows)")
    return found


def footprint(sql: sa.Engine, tenant: Tenant, person: Person) -> dict[str, Any]:
    """Everything stored about a person, for checking an erase left them untouched."""
    out: dict[str, Any] = {}
    with sql.connect() as conn:
        for table in (
            "users",
            "anonymous_ids",
            "devices",
            "events",
            "event_daily_counts",
            "user_event_stats",
        ):
            column = "id" if table == "users" else "user_id"
            rows = conn.execute(
                sa.text(f"SELECT * FROM {table} WHERE {column} = :u"), {"u": person.user_id}
            )
            out[table] = sorted(repr(tuple(r)) for r in rows)
        rows = conn.execute(
            sa.text("SELECT * FROM dropped_events WHERE app_id = :a"), {"a": tenant.app_id}
        )
        out["dropped_events"] = sorted(
            repr(tuple(r))
            for r in rows
            if any(t in r.excerpt for t in [person.external_id, *person.anonymous_ids])
        )
    return out


@pytest.mark.parametrize("how", ["erase", "delete"])
def test_erase_leaves_no_row_mentioning_the_user_in_any_table(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, how: str
) -> None:
    gone = seed(client, tenant, "gone")
    kept = seed(client, tenant, "kept")
    assert len(mentions(sql, gone)) >= 8  # the scan sees the data it must later miss
    kept_before = footprint(sql, tenant, kept)
    assert kept_before["dropped_events"], "the kept user's dropped events must exist"

    if how == "erase":
        r = client.post(f"/v1/users/{gone.user_id}/erase", headers=tenant.server_headers())
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["user_id"] == gone.user_id
        assert out["external_id"] == gone.external_id
        deleted = out["deleted"]
        assert deleted["users"] == 1
        assert deleted["anonymous_ids"] == 2
        assert deleted["events"] == 3  # one from the merged anonymous history
        assert deleted["devices"] == 1
        assert deleted["dropped_events"] == 2
        assert deleted["user_event_stats"] == 3
        assert deleted["event_daily_counts"] >= 3
    else:
        r = client.delete(f"/v1/users/{gone.user_id}", headers=tenant.server_headers())
        assert r.status_code == 204, r.text

    assert mentions(sql, gone) == []
    assert footprint(sql, tenant, kept) == kept_before
    for path in (f"/v1/users/{gone.user_id}", f"/v1/users/{gone.user_id}/export"):
        r = client.get(path, headers=tenant.server_headers())
        assert r.status_code == 404
        assert r.json()["error"]["field"] == "user_id"
    r = client.post(f"/v1/users/{gone.user_id}/erase", headers=tenant.server_headers())
    assert r.status_code == 404
    users = client.get(
        "/v1/users", params={"external_id": gone.external_id}, headers=tenant.server_headers()
    )
    assert users.json()["data"] == []


def test_erase_only_touches_the_callers_app(
    live: LiveServer, client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    other = make_tenant(live)
    theirs = seed(client, other, "theirs")
    before = footprint(sql, other, theirs)
    r = client.post(f"/v1/users/{theirs.user_id}/erase", headers=tenant.server_headers())
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "user_id"
    assert footprint(sql, other, theirs) == before


def test_a_read_only_key_cannot_erase(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    person = seed(client, tenant, "ro")
    before = footprint(sql, tenant, person)
    for method, path in (
        ("POST", f"/v1/users/{person.user_id}/erase"),
        ("DELETE", f"/v1/users/{person.user_id}"),
    ):
        r = client.request(method, path, headers={"Authorization": f"Bearer {tenant.read_key}"})
        assert r.status_code == 403, r.text
        assert r.json()["error"]["field"] == "authorization"
    assert footprint(sql, tenant, person) == before


def test_export_holds_everything_about_the_user_and_nothing_else(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    me = seed(client, tenant, "me")
    them = seed(client, tenant, "them")

    r = client.get(
        f"/v1/users/{me.user_id}/export",
        headers={"Authorization": f"Bearer {tenant.read_key}"},
    )
    assert r.status_code == 200, r.text
    text = r.text
    doc = r.json()
    assert doc["format"] == "tidings.user-export.v1"
    assert doc["app_id"] == tenant.app_id
    assert doc["user"]["id"] == me.user_id
    assert doc["user"]["external_id"] == me.external_id
    assert doc["user"]["anonymous_ids"] == me.anonymous_ids
    assert doc["user"]["attributes"] == {"plan": "me"}

    records = doc["records"]
    assert {"anonymous_ids", "devices", "events", "event_daily_counts", "user_event_stats"} <= set(
        records
    )
    assert sorted(a["anonymous_id"] for a in records["anonymous_ids"]) == sorted(me.anonymous_ids)
    assert [d["serial_number"] for d in records["devices"]] == ["SN-me"]
    assert records["devices"][0]["push_address"] == FCM_TOKEN + "me"
    assert sorted(e["name"] for e in records["events"]) == sorted(
        ["$session_start", *me.event_names]
    )
    assert {e["name"]: e["properties"] for e in records["events"]}[me.event_names[1]] == {
        "ref": me.external_id
    }
    assert sorted(s["name"] for s in records["user_event_stats"]) == sorted(
        ["$session_start", *me.event_names]
    )
    assert sum(d["count"] for d in records["event_daily_counts"]) == 3
    for table, rows in records.items():
        for row in rows:
            if "user_id" in row:
                assert row["user_id"] == me.user_id, (table, row)
    assert len(doc["dropped_events"]) == 2
    assert all(
        any(i in d["excerpt"] for i in [me.external_id, *me.anonymous_ids])
        for d in doc["dropped_events"]
    )

    for foreign in [them.external_id, *them.anonymous_ids, *them.event_names, "SN-them"]:
        assert foreign not in text, foreign
    assert json.loads(text) == doc
    with sql.connect() as conn:
        total = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE user_id = :u"), {"u": me.user_id}
        ).scalar_one()
    assert len(records["events"]) == total == 3
