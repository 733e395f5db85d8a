"""The live stream (SSE) and explain, through real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from tests.conftest import Tenant
from tests.integration.test_inapp import OK, budget, decide, identify, interact, launch, seen


def read_events(lines: Iterator[str], wanted: int, out: list[tuple[str, Any]]) -> None:
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, orjson.loads(line[6:])))
            if len(out) >= wanted:
                return


def test_outage_banner_reaches_every_connected_user(
    client: httpx.Client, tenant: Tenant, live: Any
) -> None:
    for who in ("ana", "bob"):
        identify(client, tenant, who)
    h = tenant.server_headers()
    r = client.post(
        "/v1/campaigns",
        json={
            "name": "outage",
            "variants": [{"key": "a", "content": {"en": {"format": "banner", "body": "Down"}}}],
            "controls": {"priority": 1000, "exempt_from_budget": True},
        },
        headers=h,
    )
    cid = r.json()["id"]
    received: dict[str, list[tuple[str, Any]]] = {"ana": [], "bob": []}
    ready = threading.Barrier(3)
    streams: list[threading.Thread] = []

    def listen(who: str) -> None:
        with (
            httpx.Client(base_url=live.url, timeout=30) as c,
            c.stream(
                "GET",
                f"/v1/inapp/stream?external_id={who}&session_id=s-{who}",
                headers=tenant.write_headers(),
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            read_events(lines, 1, received[who])
            ready.wait(30)
            read_events(lines, 2, received[who])

    for who in received:
        t = threading.Thread(target=listen, args=(who,), daemon=True)
        t.start()
        streams.append(t)
    ready.wait(30)
    r = client.post(f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=h)
    assert r.status_code == 200
    for t in streams:
        t.join(30)
    for who, events in received.items():
        assert [name for name, _ in events] == ["ready", "message"], who
        assert events[0][1] == {"session_id": f"s-{who}"}
        assert events[1][1]["campaign_id"] == cid
        assert events[1][1]["content"]["body"] == "Down"


def test_stream_needs_a_user(client: httpx.Client, tenant: Tenant) -> None:
    r = client.get("/v1/inapp/stream?session_id=s", headers=tenant.write_headers())
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "external_id"


def test_explain_names_the_failing_check(client: httpx.Client, tenant: Tenant) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    identify(client, tenant, "ana", attributes={"plan": "trial"})
    identify(client, tenant, "bob", attributes={"plan": "pro"})
    cid = launch(
        client,
        tenant,
        {"format": "modal", "title": "Upgrade", "buttons": [OK]},
        audience={"attribute": "plan", "op": "eq", "value": "trial"},
    )
    ro = {"Authorization": f"Bearer {tenant.read_key}"}

    def explain(who: str) -> dict[str, Any]:
        r = client.get(f"/v1/campaigns/{cid}/explain?external_id={who}", headers=ro)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    ana = explain("ana")
    assert (ana["eligible"], ana["reason"], ana["variant"]) == (True, "eligible", "a")
    assert [c["check"] for c in ana["checks"]] == [
        "schedule",
        "audience",
        "cap",
        "display_hours",
        "budget",
        "variant",
    ]
    assert all(c["passed"] for c in ana["checks"])
    assert ana["audience"]["result"] is True
    bob = explain("bob")
    assert (bob["eligible"], bob["reason"]) == (False, "audience")
    assert bob["audience"]["result"] is False
    decide(client, tenant, "ana")
    interact(client, tenant, "ana", seen(cid))
    capped = explain("ana")
    assert capped["reason"] == "capped"
    assert next(c for c in capped["checks"] if c["check"] == "cap")["passed"] is False
    assert capped["occurrence"] == 2
    r = client.get(f"/v1/campaigns/{cid}/explain", headers=ro)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "user_id"
    r = client.get(f"/v1/campaigns/{cid}/explain?external_id=ghost", headers=ro)
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "external_id"
