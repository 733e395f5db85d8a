"""Delivery controls that act when a row goes out, not when it was planned: the
attention budget, the campaign-wide rate limit; time in app after an open; and the
on_event watch never skipping an event that commits late on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Backend, Tenant
from tests.integration.test_push_campaigns import (
    activate,
    archive,
    as_utc,
    campaign,
    cart_watch,
    device,
    fcm_credentials,
    identify,
    jobs,
    no_budget,
    report,
    rows,
    settled,
    to_token,
    token,
    wait_for,
)

from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.db import table_of
from tidings.deliveries.models import Delivery
from tidings.devices import push_address
from tidings.events.models import Event
from tidings.push.send import Result, deliver
from tidings.push.senders import close_senders
from tidings.testing.fcm_fake import FcmFake
from tidings.testing.live import LiveServer


@pytest.fixture(scope="module")
def fcm_fake(live: LiveServer) -> Iterator[FcmFake]:
    with FcmFake() as fake:
        yield fake
        live.call(close_senders)  # the server keeps provider connections open


@pytest.fixture(autouse=True)
def private_endpoints() -> Iterator[None]:
    push_address.allow_private_endpoints(True)
    yield
    push_address.allow_private_endpoints(False)


def quiet_now() -> dict[str, int]:
    """Quiet hours (UTC users) that hold a send planned now for an hour or more."""
    hour = datetime.now(UTC).hour
    return {"start": hour, "end": (hour + 2) % 24}


def budget(client: httpx.Client, tenant: Tenant, per_day: int) -> None:
    r = client.put(
        "/v1/attention-budget",
        json={"max_inapp_per_session": None, "max_per_day": per_day, "min_gap_seconds": 0},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text


def queued_ids(sql: sa.Engine, cid: int) -> list[int]:
    return [r["id"] for r in rows(sql, cid) if r["status"] == "queued"]


def send_now(live: LiveServer, cid: int, *batches: list[int]) -> list[Result]:
    """What the held rows' send jobs do when they come due, several at once."""

    async def run(ctx: AppContext) -> list[Result]:
        async with ctx.db.read() as s:
            c = await s.get(Campaign, cid)
        assert c is not None
        return list(await asyncio.gather(*(deliver(ctx, c, b, expires_at=None) for b in batches)))

    return live.call(run)


def test_a_held_row_is_suppressed_at_send_when_the_budget_was_spent_meanwhile(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake, live: LiveServer
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    budget(client, tenant, per_day=1)
    for who in ("busy", "idle"):
        identify(
            client, tenant, who, consent={"push": True}, timezone="UTC", attributes={"who": who}
        )
        device(client, tenant, who, who, "android", {"provider": "fcm", "address": token(who)})
    held = campaign(
        client,
        tenant,
        {"en": {"title": "Good morning"}},
        controls={"push": {"quiet_hours": quiet_now()}},
    )
    activate(client, tenant, held)
    wait_for(lambda: len(queued_ids(sql, held)) == 2, "the held plan")
    # Meanwhile another campaign, with the busy user only, spends their budget.
    other = campaign(
        client,
        tenant,
        {"en": {"title": "Flash sale"}},
        audience={"attribute": "who", "op": "eq", "value": "busy"},
        controls={"push": {"quiet_hours": None}},
    )
    activate(client, tenant, other)
    wait_for(settled(sql, other, 1), "the other campaign")
    assert len(to_token(fcm_fake, token("busy"))) == 1

    [result] = send_now(live, held, queued_ids(sql, held))
    by_user = {r["external_id"]: r for r in rows(sql, held)}
    assert (by_user["busy"]["status"], by_user["busy"]["reason"]) == ("suppressed", "budget")
    assert by_user["idle"]["status"] == "delivered"
    assert result.outcomes[by_user["busy"]["id"]] == ("suppressed", "budget")
    assert [m["notification"]["title"] for m in to_token(fcm_fake, token("busy"))] == ["Flash sale"]
    assert report(client, tenant, held)["suppressed"] == {"budget": 1}


def test_two_concurrent_send_runs_share_the_campaign_rate(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake, live: LiveServer
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    people = [f"rate{n}" for n in range(16)]
    for who in people:
        identify(client, tenant, who, consent={"push": True}, timezone="UTC")
        device(client, tenant, who, who, "android", {"provider": "fcm", "address": token(who)})
    rate = 8  # per second: 16 sends take 2 s, however many runs share them
    cid = campaign(
        client,
        tenant,
        {"en": {"title": "Steady"}},
        controls={"push": {"quiet_hours": quiet_now(), "rate_limit_per_second": rate}},
    )
    activate(client, tenant, cid)
    wait_for(lambda: len(queued_ids(sql, cid)) == 16, "the held plan")
    ids = queued_ids(sql, cid)
    # Two send jobs of the campaign come due together (two workers, or one with two slots).
    one, two = send_now(live, cid, ids[:8], ids[8:])
    slots = [r.pacer.slot for r in (one, two) if r.pacer is not None and r.pacer.slot]
    assert len(slots) == 2
    first, second = sorted(slots, key=lambda slot: slot.start)
    assert first.count == second.count == 8
    assert second.start == first.end  # reserved one after the other, never shared
    assert second.end - first.start == timedelta(seconds=16 / rate)
    # Every send waited for its own moment of its run's slot.
    pacers = [r.pacer for r in (one, two) if r.pacer is not None]
    for pacer in pacers:
        slot = pacer.slot
        assert slot is not None
        assert len(pacer.sent_at) == 8
        assert all(at >= slot.moment(i) for i, at in enumerate(pacer.sent_at))
    early, late = sorted(pacers, key=lambda p: p.sent_at[0])
    assert early.slot == first
    assert min(late.sent_at) >= first.end > max(early.sent_at)
    with sql.connect() as conn:
        paced_until = conn.execute(
            sa.text("SELECT paced_until FROM campaigns WHERE id = :c"), {"c": cid}
        ).scalar_one()
    assert as_utc(paced_until) == second.end
    assert {r["status"] for r in rows(sql, cid)} == {"delivered"}
    assert all(len(to_token(fcm_fake, token(w))) == 1 for w in people)


def test_time_in_app_after_a_push_open(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    people = ("long", "short", "gone", "unopened")
    for who in people:
        identify(client, tenant, who, consent={"push": True})
        device(client, tenant, who, who, "android", {"provider": "fcm", "address": token(who)})
    cid = campaign(
        client, tenant, {"en": {"title": "Come back"}}, controls={"push": {"quiet_hours": None}}
    )
    activate(client, tenant, cid)
    wait_for(settled(sql, cid, 4), "the sends")
    sent = {r["external_id"]: r["id"] for r in rows(sql, cid)}
    for who in ("long", "short", "gone"):
        r = client.post(
            "/v1/push/opened",
            json={"external_id": who, "delivery_id": sent[who]},
            headers=tenant.write_headers(),
        )
        assert r.status_code == 200, r.text
    # The opens happened three hours ago (so the events below can follow them).
    opened = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    with sql.begin() as conn:
        d = table_of(Delivery)  # typed: the column stores UTC its own way on SQLite
        conn.execute(
            sa.update(d)
            .where(d.c.campaign_id == cid, d.c.clicked_at.is_not(None))
            .values(clicked_at=opened)
        )

    def track(who: str, *minutes: int) -> None:
        events = [
            {
                "name": "screen",
                "properties": {"session_id": f"{who}-s1"},
                "timestamp": (opened + timedelta(minutes=m)).isoformat(),
            }
            for m in minutes
        ]
        r = client.post(
            "/v1/track", json={"external_id": who, "events": events}, headers=tenant.write_headers()
        )
        assert r.status_code == 200, r.text

    track("long", -10, 2, 20, 45, 120)  # 45 min of use; 120 is another visit
    track("short", 5)
    track("gone", 40)  # came back later: not activity after this open
    track("unopened", 1, 10)
    rep = report(client, tenant, cid)  # /v1/track answers once the events are stored
    assert rep["opened"] == 3
    assert rep["time_in_app_after_open_seconds"] == {
        "median": (45 * 60 + 5 * 60) / 2,
        "mean": (45 * 60 + 5 * 60) / 2,
        "opens": 2,
    }


@pytest.mark.postgres
def test_an_event_committed_after_a_later_one_is_still_sent(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    fcm_fake: FcmFake,
    backend: Backend,
) -> None:
    if backend.name != "postgresql":
        pytest.skip("SQLite commits one writer at a time: ids become visible in order")
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    user_id = identify(client, tenant, "cart", consent={"push": True})
    device(client, tenant, "cart", "cart", "android", {"provider": "fcm", "address": token("cart")})
    cid = cart_watch(client, tenant, sql)
    events = table_of(Event)

    def event(item: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "app_id": tenant.app_id,
            "user_id": user_id,
            "message_id": f"raw-{item}",
            "name": "cart_abandoned",
            "properties": {"item": item},
            "timestamp": now,
            "received_at": now,
        }

    slow = sql.connect()
    try:
        slow.execute(sa.insert(events), event("lamp"))  # takes the lower id, commits last
        with sql.begin() as fast:
            fast.execute(sa.insert(events), event("desk"))
        wait_for(settled(sql, cid, 1), "the send of the later id")
        # Let a few watches run past the later id while the earlier one is uncommitted.
        seen = len(jobs(sql, tenant, "push.watch"))
        wait_for(lambda: len(jobs(sql, tenant, "push.watch")) >= seen + 2, "more watches")
        slow.commit()
    finally:
        slow.close()
    wait_for(settled(sql, cid, 2), "the send of the earlier id")
    titles = sorted(m["notification"]["title"] for m in to_token(fcm_fake, token("cart")))
    assert titles == ["Still want the desk?", "Still want the lamp?"]
    archive(client, tenant, cid)
