"""In-app through real HTTP: decisions, interactions, caps, the attention budget, inbox,
and the scenarios of issue 5."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from tests.conftest import Tenant

from tidings.db import table_of
from tidings.deliveries.models import Delivery

deliveries = table_of(Delivery)
OK = {"id": "ok", "label": "OK", "action": {"type": "close"}}


def identify(client: httpx.Client, tenant: Tenant, external_id: str, **body: Any) -> int:
    r = client.post(
        "/v1/identify", json={"external_id": external_id, **body}, headers=tenant.write_headers()
    )
    assert r.status_code == 200, r.text
    user_id: int = r.json()["user_id"]
    return user_id


def track(client: httpx.Client, tenant: Tenant, external_id: str, *events: dict[str, Any]) -> None:
    r = client.post(
        "/v1/track",
        json={"external_id": external_id, "events": list(events)},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 200, r.text


def launch(client: httpx.Client, tenant: Tenant, content: dict[str, Any], **extra: Any) -> int:
    """Create and activate a campaign; `content` is locale → message (or one message)."""
    if "format" in content:
        content = {"en": content}
    body = {"name": extra.pop("name", "c"), "variants": [{"key": "a", "content": content}], **extra}
    h = tenant.server_headers()
    r = client.post("/v1/campaigns", json=body, headers=h)
    assert r.status_code == 201, r.text
    cid: int = r.json()["id"]
    r = client.post(f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    return cid


def budget(client: httpx.Client, tenant: Tenant, **limits: Any) -> None:
    r = client.put("/v1/attention-budget", json=limits, headers=tenant.server_headers())
    assert r.status_code == 200, r.text


def decide(
    client: httpx.Client, tenant: Tenant, external_id: str, session: str = "s1", **extra: Any
) -> dict[str, Any]:
    r = client.post(
        "/v1/inapp/decide",
        json={"external_id": external_id, "session_id": session, **extra},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def shown_ids(decision: dict[str, Any]) -> list[int]:
    return [m["campaign_id"] for m in decision["messages"]]


def interact(
    client: httpx.Client,
    tenant: Tenant,
    external_id: str,
    *items: dict[str, Any],
    session: str = "s1",
) -> list[dict[str, Any]]:
    r = client.post(
        "/v1/inapp/interactions",
        json={"external_id": external_id, "session_id": session, "interactions": list(items)},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def seen(cid: int, occurrence: int = 1) -> dict[str, Any]:
    return {"type": "impression", "campaign_id": cid, "occurrence": occurrence}


def rows(sql: sa.Engine, user_id: int) -> list[Any]:
    with sql.connect() as c:
        return list(
            c.execute(
                sa.select(deliveries)
                .where(deliveries.c.user_id == user_id)
                .order_by(deliveries.c.campaign_id, deliveries.c.occurrence)
            )
        )


def test_upgrade_modal_for_heavy_trial_users_rendered_and_localized(
    client: httpx.Client, tenant: Tenant
) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    identify(client, tenant, "ana", attributes={"plan": "trial", "seats": 3}, locale="fa-IR")
    identify(client, tenant, "bob", attributes={"plan": "trial", "seats": 3})
    identify(client, tenant, "cy", attributes={"plan": "pro", "seats": 50})
    for who in ("ana", "cy"):
        track(client, tenant, who, *[{"name": "export"}] * 5)
    track(client, tenant, "bob", {"name": "export"})
    upgrade = {
        "en": {
            "format": "modal",
            "title": "You used all {{ user.seats }} seats of {{ user.plan }}",
            "buttons": [OK],
        },
        "fa": {
            "format": "modal",
            "title": "{{ user.seats }} صندلی {{ user.plan }}",
            "direction": "rtl",
            "buttons": [OK],
        },
    }
    audience = {
        "and": [
            {"attribute": "plan", "op": "eq", "value": "trial"},
            {"event": "export", "op": "gte", "value": 5, "within_days": 30},
        ]
    }
    trigger = {
        "type": "event",
        "event": "limit_hit",
        "delay_seconds": 2,
        "where": [{"property": "feature", "op": "eq", "value": "export"}],
    }
    cid = launch(
        client, tenant, upgrade, audience=audience, trigger=trigger, controls={"priority": 900}
    )
    ana = decide(client, tenant, "ana")
    assert shown_ids(ana) == [cid]
    message = ana["messages"][0]
    assert message["locale"] == "fa"
    assert message["content"]["title"] == "3 صندلی trial"
    assert message["content"]["direction"] == "rtl"
    assert message["trigger"]["event"] == "limit_hit"
    assert message["trigger"]["where"][0]["property"] == "feature"
    assert message["display"] == {"delay_seconds": 2, "only_on_pages": [], "blocking": True}
    assert message["occurrence"] == 1
    assert message["variant"] == "a"
    en = decide(client, tenant, "ana", locale="de-DE")["messages"][0]
    assert en["locale"] == "en"
    assert en["content"]["title"] == "You used all 3 seats of trial"
    assert decide(client, tenant, "bob")["messages"] == []
    assert decide(client, tenant, "cy")["messages"] == []
    nobody = decide(client, tenant, "nobody")
    assert nobody["user_id"] is None
    assert nobody["messages"] == []


def test_impressions_are_idempotent_and_caps_hold_across_tabs(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    uid = identify(client, tenant, "ana")
    cid = launch(
        client,
        tenant,
        {"format": "modal", "title": "Tip", "buttons": [OK]},
        controls={"frequency": {"max_impressions": 1}},
    )
    tab1 = decide(client, tenant, "ana")
    tab2 = decide(client, tenant, "ana")
    assert shown_ids(tab1) == shown_ids(tab2) == [cid]
    assert interact(client, tenant, "ana", seen(cid)) == [{"status": "recorded", "reason": None}]
    # The second tab reports the same showing: counted once.
    assert interact(client, tenant, "ana", seen(cid))[0]["status"] == "duplicate"
    # A stale client asking for a second showing is refused by the cap.
    assert interact(client, tenant, "ana", seen(cid, 2)) == [
        {"status": "refused", "reason": "capped"}
    ]
    assert decide(client, tenant, "ana")["messages"] == []
    results = interact(
        client,
        tenant,
        "ana",
        {"type": "click", "campaign_id": cid, "button_id": "ok"},
        {"type": "click", "campaign_id": cid, "button_id": "ok"},
        {"type": "dismiss", "campaign_id": cid},
        {"type": "click", "campaign_id": 999999},
        {"type": "dismiss", "campaign_id": cid, "occurrence": 5},
    )
    assert [r["status"] for r in results] == [
        "recorded",
        "duplicate",
        "recorded",
        "refused",
        "refused",
    ]
    assert results[3]["reason"] == "unknown_campaign"
    assert results[4]["reason"] == "no_impression"
    [row] = rows(sql, uid)
    assert (row.campaign_id, row.occurrence, row.channel, row.device_key) == (cid, 1, "in_app", 0)
    assert row.status == "clicked"
    assert row.variant == "a"
    assert row.session_id == "s1"
    assert row.displayed_at is not None
    assert row.clicked_at is not None
    assert row.dismissed_at is not None
    assert row.data == {"clicks": ["ok"]}


def test_interactions_validate(client: httpx.Client, tenant: Tenant) -> None:
    identify(client, tenant, "ana")
    r = client.post(
        "/v1/inapp/interactions",
        json={"external_id": "ana", "interactions": [{"type": "answer", "campaign_id": 1}]},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "interactions[0]"
    r = client.post(
        "/v1/inapp/interactions",
        json={"external_id": "ghost", "interactions": [{"type": "click", "campaign_id": 1}]},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "external_id"
    r = client.post("/v1/inapp/decide", json={"session_id": "s"}, headers=tenant.write_headers())
    assert r.status_code == 422
    r = client.post("/v1/inapp/decide", json={"external_id": "ana", "session_id": "s"})
    assert r.status_code == 401


def test_attention_budget_holds_when_five_campaigns_compete(
    client: httpx.Client, tenant: Tenant
) -> None:
    budget(client, tenant, max_inapp_per_session=1, max_per_day=3, min_gap_seconds=0)
    identify(client, tenant, "ana")
    ids = [
        launch(
            client,
            tenant,
            {"format": "modal", "title": f"#{p}", "buttons": [OK]},
            controls={"priority": p, "frequency": {"max_impressions": 5}},
        )
        for p in (10, 50, 30, 20, 40)
    ]
    outage = launch(
        client,
        tenant,
        {"format": "banner", "body": "We are down"},
        controls={
            "priority": 1000,
            "exempt_from_budget": True,
            "frequency": {"max_impressions": 100},
        },
    )
    first = decide(client, tenant, "ana", "s1")
    assert shown_ids(first) == [outage, ids[1], ids[4], ids[2], ids[3], ids[0]]
    # The SDK shows them one after another; the server lets only the budget through. The
    # exempt notice is never held back, but it was shown, so it spends the session's one.
    results = interact(
        client, tenant, "ana", *[seen(m["campaign_id"], m["occurrence"]) for m in first["messages"]]
    )
    assert [r["status"] for r in results] == ["recorded"] + ["refused"] * 5
    assert {r["reason"] for r in results[1:]} == {"budget_session"}
    again = decide(client, tenant, "ana", "s1")
    assert shown_ids(again) == [outage]  # the exempt notice (cap 100) only
    assert again["budget"]["shown_this_session"] == 1
    for session in ("s2", "s3"):
        top = decide(client, tenant, "ana", session)["messages"][1]
        assert (
            interact(
                client, tenant, "ana", seen(top["campaign_id"], top["occurrence"]), session=session
            )[0]["status"]
            == "recorded"
        )
    # Three messages today (exempt ones count too): the day is spent.
    later = decide(client, tenant, "ana", "s4")
    assert shown_ids(later) == [outage]
    assert later["budget"]["shown_today"] == 3


def test_nps_survey_exactly_once_for_seven_day_streakers(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    now = datetime.now(UTC)
    daily = [
        {"name": "$session_start", "timestamp": (now - timedelta(days=d)).isoformat()}
        for d in range(7)
    ]
    for who in ("ana", "bob"):
        identify(client, tenant, who)
        track(client, tenant, who, *daily)
    identify(client, tenant, "cy")
    track(client, tenant, "cy", *daily[:5])
    survey = {
        "format": "survey",
        "questions": [
            {"id": "nps", "kind": "nps", "prompt": "How likely are you to recommend us?"}
        ],
        "thank_you": {"title": "Thanks!"},
    }
    cid = launch(
        client,
        tenant,
        survey,
        audience={"event": "$session_start", "op": "streak", "value": 7},
        controls={"until_completed": {"return_after_days": 0, "max_returns": 3}},
    )
    assert shown_ids(decide(client, tenant, "ana")) == [cid]
    assert shown_ids(decide(client, tenant, "bob")) == [cid]
    assert decide(client, tenant, "cy")["messages"] == []
    answer = {"type": "answer", "campaign_id": cid, "answers": {"nps": 9}}
    assert [r["status"] for r in interact(client, tenant, "ana", seen(cid), answer)] == [
        "recorded",
        "recorded",
    ]
    assert decide(client, tenant, "ana", "s2")["messages"] == []  # answered: never again
    # bob dismisses without answering: it may come back (return_after_days 0), as
    # occurrence 2.
    interact(client, tenant, "bob", seen(cid), {"type": "dismiss", "campaign_id": cid})
    back = decide(client, tenant, "bob", "s2")["messages"]
    assert [(m["campaign_id"], m["occurrence"]) for m in back] == [(cid, 2)]
    with sql.connect() as c:
        answered = c.execute(
            sa.select(deliveries.c.data).where(
                deliveries.c.campaign_id == cid, deliveries.c.completed_at.is_not(None)
            )
        ).all()
    assert [r.data for r in answered] == [{"answers": {"nps": 9}}]


def test_signed_up_today_carousel_on_mobile_tour_on_desktop(
    client: httpx.Client, tenant: Tenant
) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    for who, platform in (("mo", "ios"), ("de", "desktop")):
        identify(client, tenant, who)
        r = client.post(
            "/v1/devices",
            json={"external_id": who, "device_id": f"d-{who}", "platform": platform},
            headers=tenant.write_headers(),
        )
        assert r.status_code in (200, 201), r.text
    new = {"attribute": "$created_at", "op": "less_than_days_ago", "value": 1}

    def on(*platforms: str) -> dict[str, Any]:
        return {
            "device": "any",
            "where": [{"field": "platform", "op": "in", "value": list(platforms)}],
        }

    carousel = launch(
        client,
        tenant,
        {"format": "carousel", "pages": [{"title": "Welcome"}, {"title": "Swipe"}]},
        audience={"and": [new, on("ios", "android")]},
    )
    tour = launch(
        client,
        tenant,
        {
            "format": "tour",
            "steps": [{"anchor": {"selector": "#sidebar"}, "body": "Your projects"}],
        },
        audience={"and": [new, on("desktop", "web")]},
        trigger={"type": "page_view", "url": "/app/*"},
    )
    assert shown_ids(decide(client, tenant, "mo")) == [carousel]
    got = decide(client, tenant, "de")["messages"]
    assert [m["campaign_id"] for m in got] == [tour]
    assert got[0]["trigger"]["url"] == "/app/*"


def test_retention_tip_for_users_who_never_used_feature(
    client: httpx.Client, tenant: Tenant
) -> None:
    for who in ("ana", "bob"):
        identify(client, tenant, who)
    track(client, tenant, "bob", {"name": "used_reports"})
    tip = launch(
        client,
        tenant,
        {"format": "slideup", "body": "Try reports, {{ user.external_id }}"},
        audience={"event": "used_reports", "op": "eq", "value": 0},
    )
    got = decide(client, tenant, "ana")["messages"]
    assert [m["campaign_id"] for m in got] == [tip]
    assert got[0]["content"]["body"] == "Try reports, ana"
    assert decide(client, tenant, "bob")["messages"] == []


def test_feature_announcement_as_inbox_post_and_modal(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    uid = identify(client, tenant, "ana")
    post = launch(
        client,
        tenant,
        {
            "format": "post",
            "title": "Exports are here",
            "body": "Hi {{ user.external_id }}",
            "pinned": True,
        },
    )
    old = launch(client, tenant, {"format": "post", "title": "Older news"})
    gone = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    launch(client, tenant, {"format": "post", "title": "Expired", "expires_at": gone})
    modal = launch(client, tenant, {"format": "modal", "title": "Exports!", "buttons": [OK]})
    assert shown_ids(decide(client, tenant, "ana")) == [modal]  # posts live in the inbox
    h = tenant.write_headers()
    inbox = client.get("/v1/inapp/inbox?external_id=ana", headers=h).json()
    assert [p["campaign_id"] for p in inbox["data"]] == [post, old]
    assert inbox["data"][0]["content"]["body"] == "Hi ana"
    assert inbox["unread"] == 2
    assert not inbox["data"][0]["read"]
    read = {"type": "inbox_read", "campaign_id": post}
    assert [r["status"] for r in interact(client, tenant, "ana", read, read)] == [
        "recorded",
        "duplicate",
    ]
    inbox = client.get("/v1/inapp/inbox?external_id=ana&limit=1", headers=h).json()
    assert inbox["unread"] == 1
    assert inbox["data"][0]["read"] is True
    assert inbox["next_cursor"] == "1"
    rest = client.get("/v1/inapp/inbox?external_id=ana&limit=1&cursor=1", headers=h).json()
    assert [p["campaign_id"] for p in rest["data"]] == [old]
    assert rest["next_cursor"] is None
    [row] = rows(sql, uid)
    assert row.read_at is not None
    assert row.displayed_at is None
    assert row.status == "delivered"
    r = client.get("/v1/inapp/inbox", headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "external_id"


def test_paused_and_scheduled_campaigns_are_not_decided(
    client: httpx.Client, tenant: Tenant
) -> None:
    identify(client, tenant, "ana")
    cid = launch(client, tenant, {"format": "modal", "title": "x", "buttons": [OK]})
    assert shown_ids(decide(client, tenant, "ana")) == [cid]
    client.post(
        f"/v1/campaigns/{cid}/transition", json={"to": "paused"}, headers=tenant.server_headers()
    )
    assert decide(client, tenant, "ana")["messages"] == []
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    h = tenant.server_headers()
    r = client.post(
        "/v1/campaigns",
        json={
            "name": "later",
            "starts_at": later,
            "variants": [{"key": "a", "content": {"en": {"format": "modal", "title": "y"}}}],
        },
        headers=h,
    )
    sid = r.json()["id"]
    r = client.post(f"/v1/campaigns/{sid}/transition", json={"to": "active"}, headers=h)
    assert r.json()["status"] == "scheduled"
    assert decide(client, tenant, "ana")["messages"] == []


def test_tour_steps_and_completion(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    uid = identify(client, tenant, "ana")
    steps = [{"anchor": {"selector": f"#s{i}"}, "body": f"Step {i}"} for i in range(3)]
    tour = launch(
        client,
        tenant,
        {"format": "tour", "steps": steps},
        controls={"until_completed": {"return_after_days": 0, "max_returns": 5}},
    )
    step = {"type": "step_seen", "campaign_id": tour}
    results = interact(
        client,
        tenant,
        "ana",
        {**step, "step": 0},
        seen(tour),
        {**step, "step": 0},
        {**step, "step": 1},
        {**step, "step": 0},
        {"type": "tour_completed", "campaign_id": tour},
        {"type": "tour_completed", "campaign_id": tour},
    )
    assert [r["status"] for r in results] == [
        "refused",
        "recorded",
        "recorded",
        "recorded",
        "duplicate",
        "recorded",
        "duplicate",
    ]
    [row] = rows(sql, uid)
    assert row.data == {"steps": [0, 1]}
    assert row.completed_at is not None
    assert decide(client, tenant, "ana", "s2")["messages"] == []  # completed: never again
    r = client.post(
        "/v1/inapp/interactions",
        json={"external_id": "ana", "interactions": [seen(tour, 2)]},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "body"
