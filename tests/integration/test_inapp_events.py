"""Interactions are events too: they land in the user's event stream once, and audience
rules can target them."""

from __future__ import annotations

from typing import Any

import httpx
from tests.conftest import Tenant
from tests.integration.test_inapp import OK, budget, decide, identify, interact, launch, seen

from tidings.campaigns.client_schemas import DecideOut


def events(client: httpx.Client, tenant: Tenant, user_id: int) -> list[dict[str, Any]]:
    r = client.get(f"/v1/users/{user_id}/events?limit=100", headers=tenant.server_headers())
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def test_interactions_are_events_once_and_targetable(client: httpx.Client, tenant: Tenant) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    uid = identify(client, tenant, "ana")
    modal = launch(client, tenant, {"format": "modal", "title": "Hi", "buttons": [OK]})
    batch = [
        seen(modal),
        {"type": "click", "campaign_id": modal, "button_id": "ok"},
        {"type": "dismiss", "campaign_id": modal},
    ]
    assert [r["status"] for r in interact(client, tenant, "ana", *batch)] == ["recorded"] * 3

    stored = events(client, tenant, uid)
    by_name = {e["name"]: e for e in stored}
    assert set(by_name) == {"$message_shown", "$message_clicked", "$message_dismissed"}
    assert by_name["$message_clicked"]["properties"] == {
        "campaign_id": modal,
        "occurrence": 1,
        "variant": "a",
        "format": "modal",
        "button_id": "ok",
    }

    # A retried batch is answered `duplicate` and writes no second event.
    assert [r["status"] for r in interact(client, tenant, "ana", *batch)] == ["duplicate"] * 3
    assert len(events(client, tenant, uid)) == 3
    # Refused interactions (nothing shown) are no events.
    other = launch(client, tenant, {"format": "banner", "body": "x"}, name="other")
    refused = interact(client, tenant, "ana", {"type": "click", "campaign_id": other})
    assert refused[0]["status"] == "refused"
    assert len(events(client, tenant, uid)) == 3

    # Behaviour rules read them like any event: a follow-up for users who dismissed.
    follow = launch(
        client,
        tenant,
        {"format": "slideup", "title": "Still curious?"},
        name="follow-up",
        audience={"event": "$message_dismissed", "op": "gte", "value": 1, "within_days": 7},
    )
    identify(client, tenant, "bob")
    decision = decide(client, tenant, "ana", "s2")
    # The decision is built as plain values: it still matches its documented shape.
    assert DecideOut.model_validate(decision).messages[0].display.blocking is False
    assert follow in [m["campaign_id"] for m in decision["messages"]]
    assert follow not in [m["campaign_id"] for m in decide(client, tenant, "bob", "s2")["messages"]]


def test_templates_read_the_latest_tracked_event_properties(
    client: httpx.Client, tenant: Tenant
) -> None:
    h = tenant.server_headers()
    bad = client.put("/v1/profile-properties", json={"properties": [""]}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "properties[0]"
    r = client.put("/v1/profile-properties", json={"properties": ["tier", "tier"]}, headers=h)
    assert r.status_code == 200
    assert r.json() == {"properties": ["tier"]}
    assert client.get("/v1/profile-properties", headers=h).json() == {"properties": ["tier"]}

    identify(client, tenant, "ana")
    r = client.post(
        "/v1/track",
        json={
            "external_id": "ana",
            "events": [
                {"name": "quota_hit", "properties": {"tier": "gold"}, "timestamp": 1_700_000_100},
                {"name": "quota_hit", "properties": {"tier": "silver"}, "timestamp": 1_700_000_000},
            ],
        },
        headers=tenant.write_headers(),
    )
    assert r.status_code == 200, r.text
    launch(
        client,
        tenant,
        {"format": "modal", "title": "Your {{ event.tier | default: 'free' }} quota is used"},
        trigger={"type": "event", "event": "quota_hit"},
    )
    identify(client, tenant, "bob")
    titles = {
        who: decide(client, tenant, who)["messages"][0]["content"]["title"]
        for who in ("ana", "bob")
    }
    # The newest by event time wins, whatever the order it arrived in.
    assert titles == {"ana": "Your gold quota is used", "bob": "Your free quota is used"}


def test_trigger_and_goal_filters_are_checked_on_save(client: httpx.Client, tenant: Tenant) -> None:
    def save(trigger_where: list[Any], goal_where: list[Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {
            "name": "f",
            "variants": [{"key": "a", "content": {"en": {"format": "banner", "body": "x"}}}],
            "trigger": {"type": "event", "event": "buy", "where": trigger_where},
        }
        if goal_where is not None:
            body["goal"] = {"event": "paid", "where": goal_where}
        return client.post("/v1/campaigns", json=body, headers=tenant.server_headers())

    cases = [
        ([{"property": "sku", "op": "in", "value": "a"}], None, "trigger.where[0].value"),
        (
            [{"property": "sku", "op": "regex", "value": "(unclosed"}],
            None,
            "trigger.where[0].value",
        ),
        ([{"property": "n", "op": "between", "value": [5, 1]}], None, "trigger.where[0].value"),
        (
            [],
            [{"property": "v", "op": "semver_gt", "value": "not.a.version!"}],
            "goal.where[0].value",
        ),
    ]
    for where, goal, field in cases:
        r = save(where, goal)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field, r.text
    ok = save(
        [
            {"property": "total", "op": "gte", "value": 10},
            {"property": "sku", "op": "in", "value": ["a"]},
        ],
        [{"property": "plan", "op": "eq", "value": "pro"}],
    )
    assert ok.status_code == 201, ok.text
