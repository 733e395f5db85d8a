"""Push campaigns end to end through the real app: plan and send jobs run by the server's
worker against the protocol fakes; every outcome lands on a delivery row."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant, require_service

from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.db import table_of
from tidings.devices import push_address
from tidings.devices.models import Device
from tidings.push import queries as push_queries
from tidings.push.send import deliver
from tidings.push.senders import close_senders
from tidings.testing.apns_fake import ApnsFake
from tidings.testing.fcm_fake import FcmFake
from tidings.testing.live import LiveServer
from tidings.testing.webpush_fake import WebPushFake
from tidings.users.models import User

WAIT_SECONDS = 90.0  # generous: the worker polls every second on 2 shared cores


@pytest.fixture(scope="module")
def fcm_fake(live: LiveServer) -> Iterator[FcmFake]:
    with FcmFake() as fake:
        yield fake
        live.call(close_senders)


@pytest.fixture(scope="module")
def apns_fake(live: LiveServer) -> Iterator[ApnsFake]:
    with ApnsFake() as fake:
        yield fake
        live.call(close_senders)  # the server keeps provider connections open


@pytest.fixture(scope="module")
def webpush_fake(live: LiveServer) -> Iterator[WebPushFake]:
    with WebPushFake() as fake:
        yield fake
        live.call(close_senders)


@pytest.fixture(autouse=True)
def private_endpoints() -> Iterator[None]:
    """What TIDINGS_ALLOW_PRIVATE_PUSH_ENDPOINTS=true does: the fakes live on loopback."""
    push_address.allow_private_endpoints(True)
    yield
    push_address.allow_private_endpoints(False)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def fcm_credentials(client: httpx.Client, tenant: Tenant, fake: FcmFake) -> None:
    r = client.put(
        "/v1/push/credentials/fcm",
        json={"service_account": fake.service_account(), "api_url": fake.url},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text


def apns_credentials(client: httpx.Client, tenant: Tenant, fake: ApnsFake) -> None:
    r = client.put(
        "/v1/push/credentials/apns",
        json={
            "key": fake.p8_key,
            "key_id": fake.key_id,
            "team_id": fake.team_id,
            "topic": fake.topic,
            "api_url": fake.url,
        },
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text


def identify(client: httpx.Client, tenant: Tenant, external_id: str, **body: Any) -> int:
    r = client.post(
        "/v1/identify", json={"external_id": external_id, **body}, headers=tenant.write_headers()
    )
    assert r.status_code == 200, r.text
    user_id: int = r.json()["user_id"]
    return user_id


def device(
    client: httpx.Client, tenant: Tenant, who: str, name: str, platform: str, push: Any
) -> int:
    r = client.post(
        "/v1/devices",
        json={"external_id": who, "device_id": name, "platform": platform, "push": push},
        headers=tenant.write_headers(),
    )
    assert r.status_code in (200, 201), r.text
    device_id: int = r.json()["id"]
    return device_id


def token(n: int | str) -> str:
    return f"fcm-token-{n}-" + "x" * 32


def campaign(client: httpx.Client, tenant: Tenant, content: dict[str, Any], **extra: Any) -> int:
    body = {
        "name": extra.pop("name", "push"),
        "channel": extra.pop("channel", "push"),
        "variants": extra.pop("variants", [{"key": "a", "content": content}]),
        **extra,
    }
    r = client.post("/v1/campaigns", json=body, headers=tenant.server_headers())
    assert r.status_code == 201, r.text
    assert r.json()["channel"] == body["channel"]
    cid: int = r.json()["id"]
    return cid


def activate(client: httpx.Client, tenant: Tenant, cid: int) -> dict[str, Any]:
    r = client.post(
        f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=tenant.server_headers()
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def archive(client: httpx.Client, tenant: Tenant, cid: int) -> None:
    r = client.post(
        f"/v1/campaigns/{cid}/transition", json={"to": "archived"}, headers=tenant.server_headers()
    )
    assert r.status_code == 200, r.text


def report(client: httpx.Client, tenant: Tenant, cid: int) -> dict[str, Any]:
    r = client.get(f"/v1/campaigns/{cid}/push-report", headers=tenant.server_headers())
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def rows(sql: sa.Engine, cid: int) -> list[dict[str, Any]]:
    with sql.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT d.*, u.external_id FROM deliveries d JOIN users u ON u.id = d.user_id "
                "WHERE d.campaign_id = :c ORDER BY d.id"
            ),
            {"c": cid},
        ).all()
    return [dict(r._mapping) for r in found]


def settled(sql: sa.Engine, cid: int, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        found = rows(sql, cid)
        return len(found) >= expected and all(
            r["status"] not in ("queued", "sending") for r in found
        )

    return check


def to_token(fake: FcmFake, tok: str) -> list[dict[str, Any]]:
    return [r.message for r in fake.received if r.message["token"] == tok]


def no_budget(client: httpx.Client, tenant: Tenant) -> None:
    r = client.put(
        "/v1/attention-budget",
        json={"max_inapp_per_session": None, "max_per_day": None, "min_gap_seconds": 0},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text


def test_a_push_campaign_reaches_consenting_users_localized_and_personalized(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    consent = {"push": True}
    identify(client, tenant, "ana", attributes={"name": "Ana"}, consent=consent, locale="fr-CA")
    identify(client, tenant, "bo", attributes={"name": "Bo"}, consent=consent)
    identify(client, tenant, "cy", consent={"push": False})
    identify(client, tenant, "di", consent=consent)  # no device
    device(
        client, tenant, "ana", "ana-phone", "android", {"provider": "fcm", "address": token("ana")}
    )
    device(
        client, tenant, "ana", "ana-tab", "android", {"provider": "fcm", "address": token("ana2")}
    )
    device(client, tenant, "bo", "bo-phone", "android", {"provider": "fcm", "address": token("bo")})
    device(client, tenant, "cy", "cy-phone", "android", {"provider": "fcm", "address": token("cy")})
    content = {
        "en": {
            "title": "Hi {{ user.name | default: 'there' }}",
            "body": "Your order shipped",
            "deep_link": "https://example.com/orders",
            "actions": [{"id": "track", "title": "Track"}],
            "badge": 2,
            "data": {"order": "42"},
        },
        "fr": {"title": "Bonjour {{ user.name }}", "body": "Commande expédiée"},
    }
    cid = campaign(
        client,
        tenant,
        content,
        controls={"push": {"quiet_hours": None}},
        variants=[{"key": "a", "default_locale": "en", "content": content}],
    )
    activate(client, tenant, cid)
    wait_for(settled(sql, cid, 5), "the campaign to be sent")

    [ana1] = to_token(fcm_fake, token("ana"))
    [ana2] = to_token(fcm_fake, token("ana2"))
    [bo] = to_token(fcm_fake, token("bo"))
    assert to_token(fcm_fake, token("cy")) == []
    assert ana1["notification"] == {"title": "Bonjour Ana", "body": "Commande expédiée"}
    assert ana2["notification"]["title"] == "Bonjour Ana"
    assert bo["notification"] == {"title": "Hi Bo", "body": "Your order shipped"}
    assert bo["data"]["order"] == "42"
    assert bo["data"]["deep_link"] == "https://example.com/orders"
    assert bo["apns"]["payload"]["aps"]["badge"] == 2
    by_user = {(r["external_id"], r["device_key"] != 0): r for r in rows(sql, cid)}
    assert by_user[("cy", False)]["status"] == "suppressed"
    assert by_user[("cy", False)]["reason"] == "no_consent"
    assert by_user[("di", False)]["reason"] == "no_device"
    assert by_user[("bo", True)]["status"] == "delivered"
    assert bo["data"]["tidings_id"] == str(by_user[("bo", True)]["id"])

    rep = report(client, tenant, cid)
    assert rep["sent"] == 3
    assert rep["delivered"] == 3
    assert rep["suppressed"] == {"no_consent": 1, "no_device": 1}
    assert rep["failed"] == {}
    assert rep["queued"] == 0
    assert rep["users_reached"] == 2
    # A push campaign is sent, never decided: the in-app decision does not list it.
    r = client.post(
        "/v1/inapp/decide",
        json={"external_id": "bo", "session_id": "s"},
        headers=tenant.write_headers(),
    )
    assert cid not in [m["campaign_id"] for m in r.json()["messages"]]

    # The SDK reports an open; a second report of it is a duplicate.
    opened = {"external_id": "bo", "delivery_id": int(bo["data"]["tidings_id"])}
    r = client.post("/v1/push/opened", json=opened, headers=tenant.write_headers())
    assert r.json() == {"status": "recorded"}
    r = client.post("/v1/push/opened", json=opened, headers=tenant.write_headers())
    assert r.json() == {"status": "duplicate"}
    wrong = {"external_id": "ana", "delivery_id": opened["delivery_id"]}
    r = client.post("/v1/push/opened", json=wrong, headers=tenant.write_headers())
    assert r.status_code == 404
    # Ana did not open it but came back within the window: an influenced open.
    r = client.post(
        "/v1/track",
        json={"external_id": "ana", "events": [{"name": "$session_start", "message_id": "s-ana"}]},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 200, r.text
    rep = report(client, tenant, cid)
    assert rep["opened"] == 1
    assert rep["influenced_opens"] == 2  # both of Ana's devices' pushes


def test_invalid_tokens_deactivate_addresses_and_every_outcome_is_recorded(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    fcm_fake: FcmFake,
    apns_fake: ApnsFake,
    webpush_fake: WebPushFake,
) -> None:
    h = tenant.server_headers()
    fcm_credentials(client, tenant, fcm_fake)
    apns_credentials(client, tenant, apns_fake)
    r = client.put(
        "/v1/push/credentials/webpush", json={"subject": "mailto:ops@example.com"}, headers=h
    )
    assert r.status_code == 200, r.text
    vapid_public = r.json()["summary"]["public_key"]
    no_budget(client, tenant)
    for who in ("u1", "u2", "u3", "u4", "u5"):
        identify(client, tenant, who, consent={"push": True})
    device(client, tenant, "u1", "d1", "android", {"provider": "fcm", "address": token("gone")})
    fcm_fake.script.gone.add(token("gone"))
    fcm_fake.script.inject(400, address=token("bad"))  # a payload fault: the token is fine
    device(client, tenant, "u2", "d2", "android", {"provider": "fcm", "address": token("bad")})
    apns_gone = "ab" * 32
    apns_fake.script.gone.add(apns_gone)
    device(client, tenant, "u3", "d3", "ios", {"provider": "apns", "address": apns_gone})
    sub = webpush_fake.subscribe(application_server_key=vapid_public)
    address = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
    device(client, tenant, "u4", "d4", "web", {"provider": "webpush", "address": address})
    apns_ok = "cd" * 32
    device(client, tenant, "u5", "d5", "ios", {"provider": "apns", "address": apns_ok})

    cid = campaign(
        client,
        tenant,
        {"en": {"title": "Sale", "body": "Today only"}},
        controls={"push": {"quiet_hours": None, "collapse_key": "sale"}},
    )
    activate(client, tenant, cid)
    wait_for(settled(sql, cid, 5), "the campaign to be sent")
    by_user = {r["external_id"]: r for r in rows(sql, cid)}
    assert by_user["u1"]["status"] == "failed"
    assert by_user["u1"]["reason"] == "404 UNREGISTERED"
    assert by_user["u2"]["reason"] == "400 INVALID_ARGUMENT"
    assert by_user["u3"]["reason"] == "410 Unregistered"
    assert by_user["u4"]["status"] == "delivered"
    assert by_user["u5"]["status"] == "delivered"
    [web] = webpush_fake.received_by(sub.endpoint)
    assert b'"title":"Sale"' in web.plaintext
    assert web.topic == "sale"
    [apns] = [m for m in apns_fake.received if m.device_token == apns_ok]
    assert apns.payload["aps"]["alert"] == {"title": "Sale", "body": "Today only"}
    assert apns.headers["apns-collapse-id"] == "sale"
    with sql.connect() as conn:
        found = conn.execute(
            sa.text("SELECT device_id, push_active FROM devices WHERE app_id = :a"),
            {"a": tenant.app_id},
        ).all()
    active = {name: bool(on) for name, on in found}
    # Token-invalid answers turn the address off; a bad payload or a live one does not.
    assert active == {"d1": False, "d2": True, "d3": False, "d4": True, "d5": True}
    rep = report(client, tenant, cid)
    assert rep["sent"] == 2
    assert rep["failed"] == {
        "404 UNREGISTERED": 1,
        "400 INVALID_ARGUMENT": 1,
        "410 Unregistered": 1,
    }


def test_an_apns_410_older_than_a_re_registration_keeps_the_address(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, apns_fake: ApnsFake
) -> None:
    apns_credentials(client, tenant, apns_fake)
    no_budget(client, tenant)
    identify(client, tenant, "re", consent={"push": True})
    tok = "ef" * 32
    device(client, tenant, "re", "re-phone", "ios", {"provider": "apns", "address": tok})
    apns_fake.script.gone.add(tok)
    # APNs says the token went invalid an hour ago: before the app registered it again.
    real_now = apns_fake.now
    apns_fake.now = lambda: real_now() - 3600
    try:
        cid = campaign(
            client, tenant, {"en": {"title": "Hi"}}, controls={"push": {"quiet_hours": None}}
        )
        activate(client, tenant, cid)
        wait_for(settled(sql, cid, 1), "the send")
    finally:
        apns_fake.now = real_now
        apns_fake.script.gone.discard(tok)
    [row] = rows(sql, cid)
    assert row["reason"] == "410 Unregistered"
    with sql.connect() as conn:
        active = conn.execute(
            sa.text("SELECT push_active FROM devices WHERE app_id = :a"), {"a": tenant.app_id}
        ).scalar_one()
    assert active


def test_a_retry_after_answer_is_retried_and_then_delivered_once(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    identify(client, tenant, "busy", consent={"push": True})
    identify(client, tenant, "calm", consent={"push": True})
    device(client, tenant, "busy", "b", "android", {"provider": "fcm", "address": token("busy")})
    device(client, tenant, "calm", "c", "android", {"provider": "fcm", "address": token("calm")})
    fcm_fake.script.inject(503, retry_after="1", address=token("busy"))
    cid = campaign(
        client, tenant, {"en": {"title": "Hi"}}, controls={"push": {"quiet_hours": None}}
    )
    activate(client, tenant, cid)
    wait_for(settled(sql, cid, 2), "both sends")
    assert {r["status"] for r in rows(sql, cid)} == {"delivered"}
    assert len(to_token(fcm_fake, token("busy"))) == 1
    assert len(to_token(fcm_fake, token("calm"))) == 1
    with sql.connect() as conn:
        errors = (
            conn.execute(
                sa.text("SELECT last_error FROM jobs WHERE kind = 'push.send' AND app_id = :a"),
                {"a": tenant.app_id},
            )
            .scalars()
            .all()
        )
    assert errors == ["503 UNAVAILABLE"]


def test_validation_names_the_field(client: httpx.Client, tenant: Tenant) -> None:
    h = tenant.server_headers()

    def refused(body: dict[str, Any]) -> dict[str, Any]:
        r = client.post("/v1/campaigns", json={"name": "x", "channel": "push", **body}, headers=h)
        assert r.status_code == 422, r.text
        err: dict[str, Any] = r.json()["error"]
        return err

    good = [{"key": "a", "content": {"en": {"title": "Hi"}}}]
    assert refused({"variants": [{"key": "a", "content": {"en": {}}}]})["field"] == (
        "variants[0].content.en"
    )
    err = refused({"variants": [{"key": "a", "content": {"en": {"title": "{{ secret }}"}}}]})
    assert err["field"] == "variants[0].content.en.title"
    assert refused({"variants": good, "schedule": {"type": "at"}})["field"] == "schedule"
    assert (
        refused({"variants": good, "schedule": {"type": "at", "at": "2030-01-01T10:00"}})["field"]
        == "schedule.at"
    )
    r = client.post(
        "/v1/campaigns",
        json={"name": "x", "variants": good, "schedule": {"type": "now"}},
        headers=h,
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] in ("schedule", "variants[0].content.en.format")


def jobs(sql: sa.Engine, tenant: Tenant, kind: str) -> list[dict[str, Any]]:
    with sql.connect() as conn:
        found = conn.execute(
            sa.text("SELECT * FROM jobs WHERE app_id = :a AND kind = :k ORDER BY id"),
            {"a": tenant.app_id, "k": kind},
        ).all()
    return [dict(r._mapping) for r in found]


def cart_watch(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> int:
    """An active on-event push ("Still want the {{ event.item }}?" on `cart_abandoned`,
    no delay, no quiet hours), once its watch has run once; its id."""
    cid = campaign(
        client,
        tenant,
        {"en": {"title": "Still want the {{ event.item }}?"}},
        schedule={"type": "on_event", "event": "cart_abandoned", "delay_seconds": 0},
        controls={"push": {"quiet_hours": None}},
    )
    activate(client, tenant, cid)
    wait_for(lambda: len(jobs(sql, tenant, "push.watch")) >= 2, "the first watch")
    return cid


def as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def next_wall_clock(after: datetime, hour: int, zone: str) -> datetime:
    """The first moment at or after `after` whose wall clock in `zone` reads hour:00."""
    local = after.astimezone(ZoneInfo(zone))
    for days in range(3):
        day = local.date() + timedelta(days=days)
        moment = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone))
        if moment >= after:
            return moment.astimezone(UTC)
    raise AssertionError("unreachable")


def test_local_time_sends_wait_for_each_users_wall_clock(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    zones = {"lon": "Europe/London", "del": "Asia/Kolkata", "la": "America/Los_Angeles"}
    for who, tz in zones.items():
        identify(client, tenant, who, consent={"push": True}, timezone=tz)
        device(client, tenant, who, who, "android", {"provider": "fcm", "address": token(who)})
    before = datetime.now(UTC)
    hour = (before + timedelta(hours=3)).hour
    cid = campaign(
        client,
        tenant,
        {"en": {"title": "Morning"}},
        schedule={"type": "local_time", "time": f"{hour:02d}:00"},
        controls={"push": {"quiet_hours": None}},
    )
    activate(client, tenant, cid)
    wait_for(lambda: len(rows(sql, cid)) == 3, "the plan")
    for row in rows(sql, cid):
        assert row["status"] == "queued"
        data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
        expected = next_wall_clock(before, hour, zones[row["external_id"]])
        assert as_utc(data["send_at"]) == expected
    sends = jobs(sql, tenant, "push.send")
    assert sorted(as_utc(j["run_at"]) for j in sends) == sorted(
        next_wall_clock(before, hour, tz) for tz in zones.values()
    )
    assert all(r.message["token"] not in {token(w) for w in zones} for r in fcm_fake.received)


def test_quiet_hours_hold_the_send_until_they_end(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    identify(client, tenant, "owl", consent={"push": True}, timezone="Asia/Tokyo")
    device(client, tenant, "owl", "owl", "android", {"provider": "fcm", "address": token("owl")})
    before = datetime.now(UTC)
    local_hour = before.astimezone(ZoneInfo("Asia/Tokyo")).hour
    quiet = {"start": local_hour, "end": (local_hour + 2) % 24}
    cid = campaign(
        client, tenant, {"en": {"title": "Shh"}}, controls={"push": {"quiet_hours": quiet}}
    )
    activate(client, tenant, cid)
    wait_for(lambda: len(jobs(sql, tenant, "push.send")) == 1, "the plan")
    [row] = rows(sql, cid)
    assert row["status"] == "queued"  # held, not dropped
    [send] = jobs(sql, tenant, "push.send")
    assert as_utc(send["run_at"]) == next_wall_clock(before, quiet["end"], "Asia/Tokyo")
    assert to_token(fcm_fake, token("owl")) == []


def test_a_send_at_a_time_is_planned_then_and_an_expired_ttl_sends_nothing(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    identify(client, tenant, "late", consent={"push": True})
    device(client, tenant, "late", "late", "android", {"provider": "fcm", "address": token("late")})
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    later = campaign(
        client, tenant, {"en": {"title": "Later"}}, schedule={"type": "at", "at": at.isoformat()}
    )
    activate(client, tenant, later)
    plan = jobs(sql, tenant, "push.plan")[0]  # the first batch; the second carries it on
    assert as_utc(plan["run_at"]) == at
    assert plan["status"] == "queued"
    assert rows(sql, later) == []

    stale = campaign(
        client,
        tenant,
        {"en": {"title": "Stale"}},
        controls={"push": {"ttl_seconds": 0, "quiet_hours": None}},
    )
    activate(client, tenant, stale)
    wait_for(settled(sql, stale, 1), "the send")
    [row] = rows(sql, stale)
    assert (row["status"], row["reason"]) == ("failed", "expired")
    assert to_token(fcm_fake, token("late")) == []
    assert report(client, tenant, stale)["failed"] == {"expired": 1}


def test_a_daily_campaign_plans_each_users_local_moment_and_the_next_day(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    identify(client, tenant, "kiri", consent={"push": True}, timezone="Pacific/Kiritimati")
    identify(client, tenant, "pago", consent={"push": True}, timezone="Pacific/Pago_Pago")
    for who in ("kiri", "pago"):
        device(client, tenant, who, who, "android", {"provider": "fcm", "address": token(who)})
    cid = campaign(
        client,
        tenant,
        {"en": {"title": "Daily"}},
        schedule={"type": "recurring", "every": "day", "time": "12:00"},
        controls={"push": {"quiet_hours": None}},
    )
    activate(client, tenant, cid)

    def plans() -> list[dict[str, Any]]:
        found = jobs(sql, tenant, "push.plan")
        for job in found:
            if not isinstance(job["payload"], dict):
                job["payload"] = json.loads(job["payload"])
        return found

    # Days some zone has not passed yet are planned now; the next one waits for its day.
    def later_day_waits() -> bool:
        return any(
            p["status"] == "queued" and as_utc(p["run_at"]) > datetime.now(UTC) for p in plans()
        )

    wait_for(later_day_waits, "a plan for a later day")
    wait_for(lambda: all(p["status"] in ("queued", "done") for p in plans()), "the plans")
    found = plans()
    days = [date.fromisoformat(p["payload"]["day"]) for p in found]
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]
    assert [p["status"] for p in found] == ["done"] * (len(found) - 1) + ["queued"]
    assert as_utc(found[-1]["run_at"]) > datetime.now(UTC)
    # Each user's row per planned day: queued for noon in their zone, or missed if long past.
    zones = {"kiri": "Pacific/Kiritimati", "pago": "Pacific/Pago_Pago"}
    planned = {d.toordinal(): d for d in days[:-1]}
    got = rows(sql, cid)
    assert len(got) == 2 * len(planned)
    for row in got:
        day = planned[row["occurrence"]]
        tz = ZoneInfo(zones[row["external_id"]])
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz).astimezone(UTC)
        if row["status"] == "suppressed":
            assert row["reason"] == "missed"
            assert noon < datetime.now(UTC) - timedelta(hours=1)
        else:
            assert row["status"] in ("queued", "delivered")
    archive(client, tenant, cid)


def test_transactional_send_with_an_idempotency_key(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake, live: LiveServer
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    identify(client, tenant, "buyer", consent={"push": True}, attributes={"name": "Zoe"})
    identify(client, tenant, "shy", consent={"push": False})
    device(client, tenant, "buyer", "b1", "android", {"provider": "fcm", "address": token("buyer")})
    device(client, tenant, "shy", "s1", "android", {"provider": "fcm", "address": token("shy")})
    cid = campaign(
        client,
        tenant,
        {"en": {"title": "Receipt for {{ user.name }}", "body": "Order {{ event.order }}"}},
        schedule={"type": "api"},
    )
    activate(client, tenant, cid)
    url = f"/v1/campaigns/{cid}/sends"
    h = tenant.server_headers()
    body = {"external_id": "buyer", "event": {"order": "A-17"}}

    first = client.post(url, json=body, headers={**h, "Idempotency-Key": "k1"})
    assert first.status_code == 200, first.text
    out = first.json()
    assert out["status"] == "sent"
    assert [d["status"] for d in out["deliveries"]] == ["delivered"]
    [msg] = to_token(fcm_fake, token("buyer"))
    assert msg["notification"] == {"title": "Receipt for Zoe", "body": "Order A-17"}

    again = client.post(url, json=body, headers={**h, "Idempotency-Key": "k1"})
    assert again.status_code == 200
    assert again.json() == out  # replayed, not sent again
    assert len(to_token(fcm_fake, token("buyer"))) == 1

    other = client.post(
        url, json={**body, "event": {"order": "B-2"}}, headers={**h, "Idempotency-Key": "k1"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert other.json()["error"]["field"] == "Idempotency-Key"

    missing = client.post(url, json=body, headers=h)
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "Idempotency-Key"

    # A second request under the same key while the first is still sending: 409.
    fcm_fake.script.delay = 2.0
    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                live.url + url, json=body, headers={**h, "Idempotency-Key": "k2"}, timeout=60
            )
        )
    )
    slow.start()
    try:

        def in_flight() -> bool:
            with sql.connect() as conn:
                status = conn.execute(
                    sa.text("SELECT status FROM idempotency_keys WHERE app_id = :a AND key = 'k2'"),
                    {"a": tenant.app_id},
                ).scalar_one_or_none()
            return status == "in_flight"

        wait_for(in_flight, "the first request to start")
        busy = client.post(url, json=body, headers={**h, "Idempotency-Key": "k2"})
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "request_in_flight"
    finally:
        slow.join(timeout=60)
        fcm_fake.script.delay = 0.0
    assert answers[0].status_code == 200
    assert len(to_token(fcm_fake, token("buyer"))) == 2  # k1 and k2: one each

    # No consent: a suppressed answer, stored and replayed like any other.
    shy = client.post(url, json={"external_id": "shy"}, headers={**h, "Idempotency-Key": "k3"})
    assert shy.status_code == 200
    assert shy.json()["status"] == "suppressed"
    assert shy.json()["deliveries"][0]["reason"] == "no_consent"
    assert to_token(fcm_fake, token("shy")) == []
    # An unknown user is a 404, and the same request under the same key gets it again.
    for _ in range(2):
        nobody = client.post(
            url, json={"external_id": "ghost"}, headers={**h, "Idempotency-Key": "k4"}
        )
        assert nobody.status_code == 404
        assert nobody.json()["error"]["field"] == "external_id"
    rep = report(client, tenant, cid)
    assert rep["delivered"] == 2
    assert rep["suppressed"] == {"no_consent": 1}


def test_an_on_event_campaign_sends_after_each_event_with_its_properties(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    identify(client, tenant, "cart", consent={"push": True})
    device(client, tenant, "cart", "cart", "android", {"provider": "fcm", "address": token("cart")})

    def track(message_id: str, item: str) -> None:
        r = client.post(
            "/v1/track",
            json={
                "external_id": "cart",
                "events": [
                    {
                        "name": "cart_abandoned",
                        "message_id": message_id,
                        "properties": {"item": item},
                    }
                ],
            },
            headers=tenant.write_headers(),
        )
        assert r.status_code == 200, r.text

    track("before", "old")  # before activation: never sent
    cid = cart_watch(client, tenant, sql)
    track("e1", "lamp")
    track("e2", "desk")
    wait_for(settled(sql, cid, 2), "both sends")
    titles = sorted(m["notification"]["title"] for m in to_token(fcm_fake, token("cart")))
    assert titles == ["Still want the desk?", "Still want the lamp?"]
    assert report(client, tenant, cid)["delivered"] == 2
    archive(client, tenant, cid)  # stops the watch


def test_holdout_and_the_attention_budget_shared_across_campaigns(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    r = client.put(
        "/v1/attention-budget",
        json={"max_inapp_per_session": None, "max_per_day": 2, "min_gap_seconds": 0},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    people = [f"p{n}" for n in range(20)]
    for who in people:
        identify(client, tenant, who, consent={"push": True})
        device(client, tenant, who, who, "android", {"provider": "fcm", "address": token(who)})
    # Two devices: one message to both counts once against the budget.
    device(client, tenant, "p0", "p0-tab", "android", {"provider": "fcm", "address": token("p0b")})
    no_quiet = {"push": {"quiet_hours": None}}
    first = campaign(client, tenant, {"en": {"title": "One"}}, control_weight=1, controls=no_quiet)
    activate(client, tenant, first)
    wait_for(settled(sql, first, 20), "the first campaign")
    held_out = {r["external_id"] for r in rows(sql, first) if r["reason"] == "control"}
    assert 0 < len(held_out) < 20
    assert all(to_token(fcm_fake, token(w)) == [] for w in held_out)
    reached = set(people) - held_out
    assert all(len(to_token(fcm_fake, token(w))) == 1 for w in reached)
    assert report(client, tenant, first)["suppressed"] == {"control": len(held_out)}

    for n, title in enumerate(("Two", "Three")):
        cid = campaign(client, tenant, {"en": {"title": title}}, controls=no_quiet)
        activate(client, tenant, cid)
        wait_for(settled(sql, cid, 20), f"campaign {title}")
        budget = {r["external_id"] for r in rows(sql, cid) if r["reason"] == "budget"}
        # The second message of the day goes to everyone; the third only to the holdout.
        assert budget == (set() if n == 0 else reached)


def test_a_rate_limit_spreads_the_send_jobs(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake, live: LiveServer
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    count = 1200

    async def seed(ctx: AppContext) -> None:
        now = ctx.clock.now()
        users, devices = table_of(User), table_of(Device)
        async with ctx.db.write() as s:
            await s.execute(
                sa.insert(users),
                [
                    {
                        "app_id": tenant.app_id,
                        "external_id": f"r{n}",
                        "consent": {"push": True},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(count)
                ],
            )
            ids = (
                await s.execute(sa.select(users.c.id).where(users.c.app_id == tenant.app_id))
            ).scalars()
            await s.execute(
                sa.insert(devices),
                [
                    {
                        "app_id": tenant.app_id,
                        "user_id": uid,
                        "device_id": f"r{uid}",
                        "platform": "android",
                        "push_provider": "fcm",
                        "push_address": token(f"r{uid}"),
                        "push_address_hash": f"r{uid}",
                        "push_active": True,
                        "push_updated_at": now,
                        "created_at": now,
                        "last_seen_at": now,
                    }
                    for uid in ids
                ],
            )

    live.call(seed)
    cid = campaign(
        client,
        tenant,
        {"en": {"title": "Steady"}},
        controls={"push": {"quiet_hours": None, "rate_limit_per_second": 500}},
    )
    activate(client, tenant, cid)
    wait_for(settled(sql, cid, count), "every send")
    sends = jobs(sql, tenant, "push.send")
    starts = sorted(as_utc(j["run_at"]) for j in sends)
    sizes = sorted(
        len(
            j["payload"]["delivery_ids"]
            if isinstance(j["payload"], dict)
            else json.loads(j["payload"])["delivery_ids"]
        )
        for j in sends
    )
    # 1,200 messages at 500/s: jobs of 500, 500 and 200 due 0, 1 and 2 seconds in.
    assert sizes == [200, 500, 500]
    plan = jobs(sql, tenant, "push.plan")[0]  # the first batch; the second carries it on
    payload = plan["payload"] if isinstance(plan["payload"], dict) else json.loads(plan["payload"])
    began = as_utc(payload["from"])  # the campaign's start: the rate counts from there
    assert starts[0] >= began
    assert [(t - began).total_seconds() for t in starts[1:]] == [1.0, 2.0]
    assert report(client, tenant, cid)["delivered"] == count


def test_a_web_push_endpoint_on_a_private_host_is_never_posted_to(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, webpush_fake: WebPushFake
) -> None:
    r = client.put(
        "/v1/push/credentials/webpush",
        json={"subject": "mailto:ops@example.com"},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    no_budget(client, tenant)
    identify(client, tenant, "ssrf", consent={"push": True})
    sub = webpush_fake.subscribe()
    address = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
    device(client, tenant, "ssrf", "ssrf", "web", {"provider": "webpush", "address": address})
    # Registered while development mode allowed it; production refuses to post there.
    push_address.allow_private_endpoints(False)
    cid = campaign(
        client, tenant, {"en": {"title": "Hi"}}, controls={"push": {"quiet_hours": None}}
    )
    activate(client, tenant, cid)
    wait_for(settled(sql, cid, 1), "the send")
    [row] = rows(sql, cid)
    assert (row["status"], row["reason"]) == ("failed", "endpoint resolves to a private address")
    assert webpush_fake.received_by(sub.endpoint) == []
    with sql.connect() as conn:
        active = conn.execute(
            sa.text("SELECT push_active FROM devices WHERE app_id = :a"), {"a": tenant.app_id}
        ).scalar_one()
    assert not active


def mosquitto() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return
    except OSError:
        require_service("Mosquitto does not answer at 127.0.0.1:1883")


def test_an_in_device_campaign_reaches_each_screen_over_mqtt(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, live: LiveServer
) -> None:
    mosquitto()
    r = client.put(
        "/v1/push/credentials/mqtt",
        json={"host": "127.0.0.1", "port": 1883},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    no_budget(client, tenant)
    identify(client, tenant, "lobby")  # no push opt-in: screens need none
    identify(client, tenant, "cafe")
    device(client, tenant, "lobby", "tv-1", "device", {"provider": "mqtt", "address": "tv-lobby"})
    device(client, tenant, "cafe", "tv-2", "device", {"provider": "mqtt", "address": "tv-cafe"})
    got: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()

    def listen() -> None:
        async def main() -> None:
            async with aiomqtt.Client(
                "127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5
            ) as sub:
                await sub.subscribe(f"tidings/{tenant.app_id}/devices/+/messages", qos=1)
                ready.set()
                async with asyncio.timeout(WAIT_SECONDS):
                    async for message in sub.messages:
                        assert isinstance(message.payload, bytes)
                        got.append((str(message.topic), json.loads(message.payload)))
                        if len(got) == 2:
                            return

        asyncio.run(main())

    listener = threading.Thread(target=listen)
    listener.start()
    assert ready.wait(30)
    cid = campaign(
        client,
        tenant,
        {
            "en": {
                "format": "device",
                "payload": {"screen": "promo", "text": "Hi {{ user.external_id }}"},
            }
        },
        channel="device",
        controls={"push": {"quiet_hours": None, "ttl_seconds": 600}},
    )
    activate(client, tenant, cid)
    listener.join(timeout=WAIT_SECONDS)
    wait_for(settled(sql, cid, 2), "both screens")
    by_topic = {topic.split("/")[3]: body for topic, body in got}
    ids = {r["external_id"]: r["id"] for r in rows(sql, cid)}
    assert by_topic == {
        "tv-lobby": {"message_id": str(ids["lobby"]), "screen": "promo", "text": "Hi lobby"},
        "tv-cafe": {"message_id": str(ids["cafe"]), "screen": "promo", "text": "Hi cafe"},
    }
    assert {r["status"] for r in rows(sql, cid)} == {"delivered"}
    assert report(client, tenant, cid)["delivered"] == 2


def test_a_send_cut_by_a_crash_is_resent_under_the_same_collapse_id(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, fcm_fake: FcmFake, live: LiveServer
) -> None:
    fcm_credentials(client, tenant, fcm_fake)
    no_budget(client, tenant)
    identify(client, tenant, "ana", consent={"push": True})
    device(client, tenant, "ana", "p", "android", {"provider": "fcm", "address": token("cut")})
    cid = campaign(
        client, tenant, {"en": {"title": "Hi"}}, controls={"push": {"quiet_hours": None}}
    )
    activate(client, tenant, cid)
    wait_for(settled(sql, cid, 1), "the send")
    [row] = [r for r in rows(sql, cid) if r["device_key"] != 0]
    # A worker died between marking the row and recording the provider's answer.
    with sql.begin() as conn:
        conn.execute(
            sa.text("UPDATE deliveries SET status = 'sending' WHERE id = :i"), {"i": row["id"]}
        )

    async def retry(ctx: AppContext) -> None:  # what the job's retry does
        async with ctx.db.write() as s:
            assert await push_queries.resume_unfinished(s, [row["id"]]) == 1
        async with ctx.db.read() as s:
            c = await s.get(Campaign, cid)
        assert c is not None
        await deliver(ctx, c, [row["id"]], expires_at=None)

    live.call(retry)
    copies = to_token(fcm_fake, token("cut"))
    assert len(copies) == 2
    assert {m["android"]["collapse_key"] for m in copies} == {f"tidings-{cid}"}
    assert {m["android"]["notification"]["tag"] for m in copies} == {f"tidings-{cid}"}
    assert [r["status"] for r in rows(sql, cid) if r["device_key"] != 0] == ["delivered"]
