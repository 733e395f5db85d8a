"""Segments through real HTTP: save (validated), estimate, export, explain, freshness."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant, make_tenant

from tidings.db import table_of
from tidings.segments.models import Segment
from tidings.testing.live import LiveServer

segments = table_of(Segment)

PRO_BUYERS = {
    "and": [
        {"attribute": "plan", "op": "eq", "value": "pro"},
        {"event": "purchase", "op": "gte", "value": 2, "within_days": 30},
    ]
}


def identify(client: httpx.Client, tenant: Tenant, external_id: str, **body: Any) -> int:
    r = client.post(
        "/v1/identify", json={"external_id": external_id, **body}, headers=tenant.write_headers()
    )
    assert r.status_code == 200, r.text
    user_id: int = r.json()["user_id"]
    return user_id


def track(client: httpx.Client, tenant: Tenant, external_id: str, *names: str) -> None:
    r = client.post(
        "/v1/track",
        json={"external_id": external_id, "events": [{"name": n} for n in names]},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == len(names)


def create(client: httpx.Client, tenant: Tenant, name: str, rule: Any) -> httpx.Response:
    return client.post(
        "/v1/segments",
        json={"name": name, "rule": rule},
        headers=tenant.server_headers(),
    )


def created(client: httpx.Client, tenant: Tenant, name: str, rule: Any) -> dict[str, Any]:
    r = create(client, tenant, name, rule)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def stored(sql: sa.Engine, tenant: Tenant) -> list[sa.Row[Any]]:
    with sql.connect() as c:
        return list(
            c.execute(
                sa.select(segments)
                .where(segments.c.app_id == tenant.app_id)
                .order_by(segments.c.id)
            )
        )


def read_headers(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.read_key}"}


@pytest.fixture
def shop(client: httpx.Client, tenant: Tenant) -> dict[str, int]:
    """Three users: ana (pro, 2 purchases), bob (pro, 1 purchase), cy (free, 3 purchases)."""
    ids = {
        "ana": identify(client, tenant, "ana", attributes={"plan": "pro", "age": 31}),
        "bob": identify(client, tenant, "bob", attributes={"plan": "pro", "age": 17}),
        "cy": identify(client, tenant, "cy", attributes={"plan": "free", "age": 40}),
    }
    track(client, tenant, "ana", "purchase", "purchase")
    track(client, tenant, "bob", "purchase")
    track(client, tenant, "cy", "purchase", "purchase", "purchase")
    return ids


def test_create_stores_the_normalized_rule(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, shop: dict[str, int]
) -> None:
    body = created(client, tenant, "Pro buyers", PRO_BUYERS)
    assert body["version"] == 1
    assert body["rule"]["and"][0]["type"] == "string"  # filled from the declared type
    [row] = stored(sql, tenant)
    assert (row.id, row.name, row.version) == (body["id"], "Pro buyers", 1)
    assert row.rule == body["rule"]
    r = client.get(f"/v1/segments/{body['id']}", headers=read_headers(tenant))
    assert r.status_code == 200
    assert r.json() == body


@pytest.mark.parametrize(
    ("rule", "field", "code"),
    [
        (
            {
                "and": [
                    {"attribute": "plan", "op": "eq", "value": "pro"},
                    {"attribute": "plan", "op": "bigger"},
                ]
            },
            "rule.and[1].op",
            "unknown_operator",
        ),
        ({"attribute": "plan", "op": "gt", "value": "a"}, "rule.op", "type_mismatch"),
        (
            {"or": [{"attribute": "age", "op": "gte", "value": "18"}]},
            "rule.or[0].value",
            "type_mismatch",
        ),
        ({"attribute": "plan", "op": "regex", "value": "(a|aa)*$"}, "rule.value", "bad_regex"),
        ({"not": {"segment": 999999}}, "rule.not.segment", "unknown_segment"),
        (
            {"attribute": "plan", "op": "eq", "value": "pro", "extra": 1},
            "rule.extra",
            "unknown_key",
        ),
        ({"plan": "pro"}, "rule", "unknown_condition"),
        (
            {"event": "purchase", "op": "streak", "value": 3, "within_days": 7},
            "rule.within_days",
            "invalid_rule",
        ),
    ],
)
def test_an_invalid_rule_is_a_422_naming_the_node_and_nothing_is_stored(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    shop: dict[str, int],
    rule: Any,
    field: str,
    code: str,
) -> None:
    r = create(client, tenant, "bad", rule)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert stored(sql, tenant) == []
    r = client.post("/v1/rules/validate", json={"rule": rule}, headers=read_headers(tenant))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == field


def test_a_segment_cycle_is_rejected_and_leaves_the_segment_unchanged(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    a = created(client, tenant, "A", {"consent": "push"})
    b = created(client, tenant, "B", {"and": [{"segment": a["id"]}, {"consent": "email"}]})
    c = created(client, tenant, "C", {"or": [{"segment": b["id"]}]})
    before = stored(sql, tenant)
    r = client.patch(
        f"/v1/segments/{a['id']}",
        json={"rule": {"not": {"segment": c["id"]}}},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["field"], error["code"]) == ("rule.not.segment", "segment_cycle")
    assert f"{a['id']} → {c['id']} → {b['id']} → {a['id']}" in error["message"]
    r = client.patch(
        f"/v1/segments/{a['id']}",
        json={"rule": {"segment": a["id"]}},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "segment_cycle"
    assert stored(sql, tenant) == before


def test_duplicate_names_conflict(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    created(client, tenant, "Everyone", {"and": []})
    r = create(client, tenant, "Everyone", {"or": []})
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "name"
    assert [row.rule for row in stored(sql, tenant)] == [{"and": []}]


def test_update_validates_and_bumps_the_version(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, shop: dict[str, int]
) -> None:
    seg = created(client, tenant, "Adults", {"attribute": "age", "op": "gte", "value": 18})
    r = client.patch(
        f"/v1/segments/{seg['id']}",
        json={"rule": {"attribute": "age", "op": "gte", "value": 21}, "description": "21+"},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["description"]) == (2, "21+")
    [row] = stored(sql, tenant)
    assert (row.version, row.rule["value"]) == (2, 21)


def test_list_pages_with_a_cursor(client: httpx.Client, tenant: Tenant) -> None:
    ids = [created(client, tenant, f"s{i}", {"and": []})["id"] for i in range(3)]
    r = client.get("/v1/segments", params={"limit": 2}, headers=read_headers(tenant))
    assert r.status_code == 200
    first = r.json()
    assert [s["id"] for s in first["data"]] == ids[:2]
    r = client.get(
        "/v1/segments",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=read_headers(tenant),
    )
    assert [s["id"] for s in r.json()["data"]] == ids[2:]
    assert r.json()["next_cursor"] is None
    r = client.get("/v1/segments", params={"cursor": "x"}, headers=read_headers(tenant))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "cursor"


def test_estimate_counts_and_samples_members(
    client: httpx.Client, tenant: Tenant, shop: dict[str, int]
) -> None:
    seg = created(client, tenant, "Pro buyers", PRO_BUYERS)
    r = client.post(
        f"/v1/segments/{seg['id']}/estimate", json={"sample_size": 5}, headers=read_headers(tenant)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 1
    assert body["sample"] == [{"id": shop["ana"], "external_id": "ana"}]
    everyone = created(client, tenant, "Everyone", {"and": []})
    r = client.post(f"/v1/segments/{everyone['id']}/estimate", headers=read_headers(tenant))
    assert r.json()["count"] == 3
    assert {m["external_id"] for m in r.json()["sample"]} == {"ana", "bob", "cy"}


def test_members_export_pages_and_streams(
    client: httpx.Client, tenant: Tenant, shop: dict[str, int]
) -> None:
    seg = created(client, tenant, "Buyers", {"event": "purchase", "op": "gte", "value": 1})
    got: list[int] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = client.get(
            f"/v1/segments/{seg['id']}/members", params=params, headers=read_headers(tenant)
        )
        assert r.status_code == 200, r.text
        got += [m["id"] for m in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert got == sorted(shop.values())
    r = client.get(
        f"/v1/segments/{seg['id']}/members",
        params={"format": "ndjson"},
        headers=read_headers(tenant),
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in r.text.splitlines()]
    assert lines == [{"id": shop[n], "external_id": n} for n in sorted(shop, key=shop.__getitem__)]


def test_explain_shows_each_node_and_the_values_it_read(
    client: httpx.Client, tenant: Tenant, shop: dict[str, int]
) -> None:
    seg = created(client, tenant, "Pro buyers", PRO_BUYERS)
    r = client.get(
        f"/v1/segments/{seg['id']}/explain",
        params={"external_id": "bob"},
        headers=read_headers(tenant),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["user_id"], body["result"]) == (shop["bob"], False)
    plan, purchases = body["tree"]["children"]
    assert (plan["path"], plan["result"], plan["read"]["value"]) == ("rule.and[0]", True, "pro")
    assert (purchases["result"], purchases["read"]["count"]) == (False, 1)
    assert "purchase: 1 times in the last 30 days" in purchases["reason"]
    assert "needs ≥ 2" in purchases["reason"]
    r = client.get(
        f"/v1/segments/{seg['id']}/explain",
        params={"user_id": shop["ana"]},
        headers=read_headers(tenant),
    )
    assert r.json()["result"] is True


def test_membership_reflects_an_event_as_soon_as_it_is_tracked(
    client: httpx.Client, tenant: Tenant, shop: dict[str, int]
) -> None:
    seg = created(client, tenant, "Pro buyers", PRO_BUYERS)
    url = f"/v1/segments/{seg['id']}"
    assert (
        client.get(
            f"{url}/explain", params={"external_id": "bob"}, headers=read_headers(tenant)
        ).json()["result"]
        is False
    )
    track(client, tenant, "bob", "purchase")
    r = client.get(f"{url}/explain", params={"external_id": "bob"}, headers=read_headers(tenant))
    assert r.json()["result"] is True
    r = client.post(f"{url}/estimate", headers=read_headers(tenant))
    assert r.json()["count"] == 2


def test_segment_references_are_inlined_and_explained(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, shop: dict[str, int]
) -> None:
    pro = created(client, tenant, "Pro", {"attribute": "plan", "op": "eq", "value": "pro"})
    adults = created(
        client,
        tenant,
        "Pro adults",
        {"and": [{"segment": pro["id"]}, {"attribute": "age", "op": "gte", "value": 18}]},
    )
    r = client.post(f"/v1/segments/{adults['id']}/estimate", headers=read_headers(tenant))
    assert r.json()["count"] == 1
    # Changing the referenced segment changes the referring one at once.
    r = client.patch(
        f"/v1/segments/{pro['id']}",
        json={"rule": {"attribute": "plan", "op": "in", "value": ["pro", "free"]}},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200
    r = client.post(f"/v1/segments/{adults['id']}/estimate", headers=read_headers(tenant))
    assert r.json()["count"] == 2
    r = client.get(
        f"/v1/segments/{adults['id']}/explain",
        params={"external_id": "cy"},
        headers=read_headers(tenant),
    )
    ref = r.json()["tree"]["children"][0]
    assert (ref["kind"], ref["segment"], ref["result"]) == ("segment", pro["id"], True)
    # A referenced segment cannot be deleted; an unreferenced one can.
    r = client.delete(f"/v1/segments/{pro['id']}", headers=tenant.server_headers())
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "segment_id"
    assert len(stored(sql, tenant)) == 2
    assert (
        client.delete(f"/v1/segments/{adults['id']}", headers=tenant.server_headers()).status_code
        == 204
    )
    assert (
        client.delete(f"/v1/segments/{pro['id']}", headers=tenant.server_headers()).status_code
        == 204
    )
    assert stored(sql, tenant) == []


def test_unsaved_rules_validate_estimate_and_explain(
    client: httpx.Client, tenant: Tenant, shop: dict[str, int]
) -> None:
    rule = {
        "and": [
            {"attribute": "age", "op": "between", "value": [18, 35]},
            {"attribute": "signup", "op": "more_than_days_ago", "value": 7},
        ]
    }
    r = client.post("/v1/rules/validate", json={"rule": rule}, headers=read_headers(tenant))
    assert r.status_code == 200, r.text
    assert [c["type"] for c in r.json()["rule"]["and"]] == ["number", "datetime"]
    r = client.post(
        "/v1/rules/estimate",
        json={"rule": {"attribute": "age", "op": "lt", "value": 18}},
        headers=read_headers(tenant),
    )
    assert (r.json()["count"], r.json()["sample"][0]["external_id"]) == (1, "bob")
    r = client.post(
        "/v1/rules/explain",
        json={"rule": {"attribute": "age", "op": "lt", "value": 18}, "external_id": "ana"},
        headers=read_headers(tenant),
    )
    assert r.status_code == 200
    assert (r.json()["result"], r.json()["tree"]["read"]["value"]) == (False, 31)
    r = client.post(
        "/v1/rules/explain",
        json={"rule": {"and": []}, "user_id": 987654321},
        headers=read_headers(tenant),
    )
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "user_id"
    r = client.post("/v1/rules/explain", json={"rule": {"and": []}}, headers=read_headers(tenant))
    assert r.status_code == 422


def test_access_is_checked(
    client: httpx.Client, live: LiveServer, tenant: Tenant, sql: sa.Engine
) -> None:
    seg = created(client, tenant, "Everyone", {"and": []})
    r = client.post(
        "/v1/segments", json={"name": "x", "rule": {"and": []}}, headers=read_headers(tenant)
    )
    assert r.status_code == 403
    assert r.json()["error"]["field"] == "authorization"
    r = client.get("/v1/segments", headers=tenant.write_headers())
    assert r.status_code == 403
    assert client.get("/v1/segments").status_code == 401
    other = make_tenant(live)
    for method, path in [
        ("GET", f"/v1/segments/{seg['id']}"),
        ("POST", f"/v1/segments/{seg['id']}/estimate"),
        ("GET", f"/v1/segments/{seg['id']}/members"),
        ("DELETE", f"/v1/segments/{seg['id']}"),
    ]:
        r = client.request(method, path, headers=other.server_headers())
        assert r.status_code == 404, (method, path)
        assert r.json()["error"]["field"] == "segment_id"
    # The other app's users are not this app's: explain cannot reach them.
    identify(client, other, "stranger")
    r = client.get(
        f"/v1/segments/{seg['id']}/explain",
        params={"external_id": "stranger"},
        headers=read_headers(tenant),
    )
    assert r.status_code == 404
    assert len(stored(sql, tenant)) == 1
