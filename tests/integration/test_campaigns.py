"""Campaigns through real HTTP: save (validated, errors name the field), lifecycle, CRUD."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from tests.conftest import Tenant, make_tenant

from tidings.campaigns.models import Campaign
from tidings.db import table_of
from tidings.testing.live import LiveServer

campaigns = table_of(Campaign)


def modal(title: str = "Hi {{ user.name | default: 'there' }}", **extra: Any) -> dict[str, Any]:
    return {
        "format": "modal",
        "title": title,
        "body": "Welcome",
        "buttons": [{"id": "ok", "label": "OK", "action": {"type": "close"}}],
        **extra,
    }


def campaign(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Welcome",
        "variants": [{"key": "a", "content": {"en": modal()}}],
        **extra,
    }


def post(client: httpx.Client, tenant: Tenant, body: dict[str, Any]) -> httpx.Response:
    return client.post("/v1/campaigns", json=body, headers=tenant.server_headers())


def created(client: httpx.Client, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    r = post(client, tenant, body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def invalid(r: httpx.Response, field: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["field"] == field, error
    return error


def test_create_stores_a_normalized_draft(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    body = campaign(
        audience={"attribute": "plan", "op": "eq", "value": "trial"},
        trigger={
            "type": "event",
            "event": "limit_hit",
            "where": [{"property": "feature", "op": "eq", "value": "export"}],
        },
        controls={"priority": 500, "frequency": {"max_impressions": 2, "per_days": 7}},
    )
    out = created(client, tenant, body)
    assert out["status"] == "draft"
    assert out["format"] == "modal"
    assert out["version"] == 1
    assert out["trigger"]["event"] == "limit_hit"
    assert out["variants"][0]["content"]["en"]["direction"] == "auto"
    with sql.connect() as c:
        row = c.execute(sa.select(campaigns).where(campaigns.c.id == out["id"])).one()
    assert row.app_id == tenant.app_id
    assert row.controls["priority"] == 500
    assert row.audience["attribute"] == "plan"
    got = client.get(f"/v1/campaigns/{out['id']}", headers=tenant.server_headers())
    assert got.status_code == 200
    assert got.json()["id"] == out["id"]


def test_validation_names_the_field(client: httpx.Client, tenant: Tenant) -> None:
    bad_button = modal(buttons=[{"id": "go", "label": "Go", "action": {"type": "open_url"}}])
    invalid(
        post(client, tenant, campaign(variants=[{"key": "a", "content": {"en": bad_button}}])),
        "variants[0].content.en.buttons[0].action",
    )
    err = invalid(
        post(
            client,
            tenant,
            campaign(variants=[{"key": "a", "content": {"en": modal("Hi {{ customer.name }}")}}]),
        ),
        "variants[0].content.en.title",
    )
    assert "customer" in err["message"]
    invalid(
        post(
            client,
            tenant,
            campaign(variants=[{"key": "a", "content": {"en": modal("Hi {% if %}")}}]),
        ),
        "variants[0].content.en.title",
    )
    invalid(
        post(
            client,
            tenant,
            campaign(variants=[{"key": "a", "default_locale": "fa", "content": {"en": modal()}}]),
        ),
        "variants[0].content",
    )
    invalid(
        post(
            client,
            tenant,
            campaign(variants=[{"key": "a", "weight": 0, "content": {"en": modal()}}]),
        ),
        "variants",
    )
    err = invalid(
        post(client, tenant, campaign(audience={"attribute": "plan", "op": "bogus"})),
        "audience.op",
    )
    carousel = {"format": "carousel", "pages": [{"title": "one"}]}
    invalid(
        post(client, tenant, campaign(variants=[{"key": "a", "content": {"en": carousel}}])),
        "variants[0].content.en.pages",
    )
    mixed = {"en": modal(), "fa": {"format": "banner", "body": "سلام"}}
    invalid(
        post(client, tenant, campaign(variants=[{"key": "a", "content": mixed}])),
        "variants[0].content.fa.format",
    )
    invalid(post(client, tenant, campaign(trigger={"type": "page_view"})), "trigger")
    invalid(
        post(
            client,
            tenant,
            campaign(starts_at="2030-01-02T00:00:00Z", ends_at="2030-01-01T00:00:00Z"),
        ),
        "ends_at",
    )
    invalid(post(client, tenant, campaign(segment_id=999999)), "segment_id")
    naive = {"format": "post", "title": "t", "expires_at": "2030-01-01T00:00:00"}
    invalid(
        post(client, tenant, campaign(variants=[{"key": "a", "content": {"en": naive}}])),
        "variants[0].content.en.expires_at",
    )


def test_html_is_sanitized_on_save(client: httpx.Client, tenant: Tenant) -> None:
    html = {"format": "html", "html": '<p onclick="steal()">Hi<script>alert(1)</script></p>'}
    out = created(client, tenant, campaign(variants=[{"key": "a", "content": {"en": html}}]))
    stored = out["variants"][0]["content"]["en"]["html"]
    assert "script" not in stored
    assert "onclick" not in stored
    assert stored == "<p>Hi</p>"


def test_every_format_saves(client: httpx.Client, tenant: Tenant) -> None:
    button = {"id": "b", "label": "Go", "action": {"type": "open_url", "url": "https://x.io"}}
    formats = [
        modal(),
        {"format": "banner", "position": "bottom", "body": "Down for maintenance"},
        {"format": "slideup", "body": "Tip", "buttons": [button]},
        {"format": "fullscreen", "title": "Big", "image_url": "https://x.io/a.png"},
        {"format": "carousel", "pages": [{"title": "1"}, {"title": "2"}]},
        {
            "format": "tour",
            "steps": [
                {"anchor": {"selector": "#nav"}, "body": "Menu"},
                {"anchor": {"screen": "home"}, "body": "Home", "placement": "top"},
            ],
        },
        {
            "format": "survey",
            "questions": [
                {"id": "nps", "kind": "nps", "prompt": "How likely…?"},
                {"id": "why", "kind": "multi_choice", "prompt": "Why?", "options": ["a", "b"]},
                {"id": "more", "kind": "text", "prompt": "Anything else?", "required": False},
            ],
            "thank_you": {"title": "Thanks!"},
        },
        {
            "format": "post",
            "title": "New: exports",
            "cta": button,
            "pinned": True,
            "theme": {"accent": "#ff0066", "radius": 8, "dark": "dark"},
            "author": {"name": "Sara"},
            "direction": "rtl",
        },
    ]
    for content in formats:
        out = created(client, tenant, campaign(variants=[{"key": "a", "content": {"en": content}}]))
        assert out["format"] == content["format"]


def test_lifecycle(client: httpx.Client, tenant: Tenant) -> None:
    cid = created(client, tenant, campaign())["id"]
    h = tenant.server_headers()

    def move(to: str) -> httpx.Response:
        return client.post(f"/v1/campaigns/{cid}/transition", json={"to": to}, headers=h)

    r = move("paused")
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "to"
    assert move("active").json()["status"] == "active"
    assert move("paused").json()["status"] == "paused"
    assert move("active").json()["status"] == "active"
    r = client.patch(f"/v1/campaigns/{cid}", json={"name": "Welcome v2"}, headers=h)
    assert r.status_code == 200
    assert r.json()["version"] == 2
    r = client.delete(f"/v1/campaigns/{cid}", headers=h)
    assert r.status_code == 409
    assert move("completed").json()["status"] == "completed"
    r = client.patch(f"/v1/campaigns/{cid}", json={"name": "late"}, headers=h)
    assert r.status_code == 409
    assert move("archived").json()["status"] == "archived"
    assert move("active").status_code == 409


def test_activation_before_start_schedules(client: httpx.Client, tenant: Tenant) -> None:
    cid = created(client, tenant, campaign(starts_at="2099-01-01T00:00:00Z"))["id"]
    r = client.post(
        f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=tenant.server_headers()
    )
    assert r.json()["status"] == "scheduled"


def test_access(client: httpx.Client, tenant: Tenant, live: LiveServer) -> None:
    cid = created(client, tenant, campaign())["id"]
    r = client.post("/v1/campaigns", json=campaign(), headers=tenant.write_headers())
    assert r.status_code == 403
    ro = {"Authorization": f"Bearer {tenant.read_key}"}
    assert client.post("/v1/campaigns", json=campaign(), headers=ro).status_code == 403
    assert client.get(f"/v1/campaigns/{cid}", headers=ro).status_code == 200
    r = client.get("/v1/campaigns/999999", headers=ro)
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "campaign_id"
    listed = client.get("/v1/campaigns?status=draft", headers=ro).json()
    assert [c["id"] for c in listed["data"]] == [cid]
    other = make_tenant(live)
    r = client.get(f"/v1/campaigns/{cid}", headers=other.server_headers())
    assert r.status_code == 404
    assert client.get("/v1/campaigns", headers=other.server_headers()).json()["data"] == []


def test_draft_delete(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    cid = created(client, tenant, campaign())["id"]
    r = client.delete(f"/v1/campaigns/{cid}", headers=tenant.server_headers())
    assert r.status_code == 204
    with sql.connect() as c:
        assert c.execute(sa.select(campaigns).where(campaigns.c.id == cid)).first() is None


def test_a_segment_a_campaign_targets_cannot_be_deleted(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    # A rule may only use declared attributes: identifying a user declares `plan`.
    client.post(
        "/v1/identify",
        json={"external_id": "u", "attributes": {"plan": "pro"}},
        headers=tenant.write_headers(),
    )
    seg = client.post(
        "/v1/segments",
        json={"name": "pros", "rule": {"attribute": "plan", "op": "eq", "value": "pro"}},
        headers=tenant.server_headers(),
    )
    assert seg.status_code == 201, seg.text
    segment_id = seg.json()["id"]
    made = created(client, tenant, campaign(segment_id=segment_id))

    r = client.delete(f"/v1/segments/{segment_id}", headers=tenant.server_headers())
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "segment_id"
    assert r.json()["error"]["code"] == "segment_in_use"
    with sql.connect() as conn:
        kept = conn.execute(
            sa.text("SELECT count(*) FROM segments WHERE id = :s"), {"s": segment_id}
        ).scalar_one()
        still = conn.execute(
            sa.select(table_of(Campaign).c.segment_id).where(table_of(Campaign).c.id == made["id"])
        ).scalar_one()
    assert (kept, still) == (1, segment_id)
