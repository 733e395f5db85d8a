"""The Web Push helper in Chromium: the soft prompt, the subscription registered as the
device's push address, and a push click reported as an open on its delivery.

Chromium's own push service is Google's and out of reach here, so the page's
`PushManager.subscribe` hands out a subscription of the loopback Web Push fake
(`tidings.testing`), and the fake's decrypted message is dispatched to the real service
worker as its push event. Everything else (permission, service worker registration,
`/v1/devices`, the campaign send, `/v1/push/opened`) is the real thing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.browser.conftest import HostSite, shadow
from tests.conftest import Tenant

from tidings.devices import push_address
from tidings.push.senders import close_senders
from tidings.sdk.api import STATIC
from tidings.testing.live import LiveServer
from tidings.testing.webpush_fake import WebPushFake


@pytest.fixture
def webpush(live: LiveServer) -> Iterator[WebPushFake]:
    push_address.allow_private_endpoints(True)  # TIDINGS_ALLOW_PRIVATE_PUSH_ENDPOINTS
    with WebPushFake() as fake:
        yield fake
        live.call(close_senders)
    push_address.allow_private_endpoints(False)


def stub_push_service(endpoint: str, p256dh: str, auth: str) -> str:
    sub = json.dumps(
        {"endpoint": endpoint, "expirationTime": None, "keys": {"p256dh": p256dh, "auth": auth}}
    )
    return (
        "PushManager.prototype.subscribe = async function () {"
        f"  const s = {sub}; return {{ endpoint: s.endpoint, toJSON: () => s }};"
        "};"
    )


def until(check: Any, what: str, wait: float = 30) -> Any:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_soft_prompt_not_now_asks_the_browser_nothing(
    client: httpx.Client, tenant: Tenant, open_page: Any
) -> None:
    page = open_page(init={"userId": "ana"})
    asked = page.evaluate("Notification.permission")
    assert asked == "default"
    page.evaluate(
        "() => { window.pushResult = null;"
        " Tidings.push.subscribe().then(r => { window.pushResult = r; }); }"
    )
    explainer = shadow(page, ".slideup")
    explainer.wait_for()
    assert "notifications" in explainer.inner_text()
    shadow(page, "button[data-button=later]").click()
    page.wait_for_function("window.pushResult !== null")
    assert page.evaluate("window.pushResult") is False
    assert page.evaluate("Notification.permission") == "default"


def test_subscribe_registers_the_address_and_a_click_is_an_open(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    open_page: Any,
    host_site: HostSite,
    webpush: WebPushFake,
) -> None:
    h = tenant.server_headers()
    creds = client.put(
        "/v1/push/credentials/webpush", json={"subject": "mailto:ops@acme.test"}, headers=h
    )
    assert creds.status_code == 200, creds.text
    vapid = creds.json()["summary"]["public_key"]
    sub = webpush.subscribe(application_server_key=vapid)
    host_site.files["/tidings-sw.js"] = ("text/javascript", (STATIC / "tidings-sw.js").read_bytes())

    page = open_page(init={"userId": "ana"})
    page.context.grant_permissions(["notifications"], origin=host_site.url)
    page.context.add_init_script(stub_push_service(sub.endpoint, sub.p256dh, sub.auth))
    page.reload()
    page.wait_for_function("window.Tidings && window.Tidings.ready")
    page.evaluate("Tidings.ready")
    assert page.evaluate("Tidings.push.subscribe()") is True

    with sql.connect() as c:
        row = c.execute(
            sa.text(
                "SELECT d.push_provider, d.push_address FROM devices d JOIN users u"
                " ON u.id = d.user_id WHERE u.app_id = :a AND u.external_id = 'ana'"
                " AND d.push_provider IS NOT NULL"
            ),
            {"a": tenant.app_id},
        ).one()
    assert row.push_provider == "webpush"
    assert json.loads(row.push_address)["endpoint"] == sub.endpoint

    # A push campaign reaches this browser's subscription.
    ok = client.post(
        "/v1/identify",
        json={"external_id": "ana", "consent": {"push": True}},
        headers=tenant.write_headers(),
    )
    assert ok.status_code == 200
    r = client.post(
        "/v1/campaigns",
        json={
            "name": "receipt",
            "channel": "push",
            "schedule": {"type": "api"},
            "variants": [
                {
                    "key": "a",
                    "content": {"en": {"title": "Order shipped", "body": "It is on its way."}},
                }
            ],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (
        client.post(f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=h).status_code
        == 200
    )
    sent = client.post(
        f"/v1/campaigns/{cid}/sends",
        json={"external_id": "ana"},
        headers={**h, "Idempotency-Key": "ship-1"},
    )
    assert sent.status_code == 200, sent.text
    [received] = until(lambda: webpush.received_by(sub.endpoint), "the push")
    payload = json.loads(received.plaintext)
    assert payload["title"] == "Order shipped"

    # The service worker shows it, and a click is reported as an open of its delivery.
    worker = until(lambda: page.context.service_workers, "the service worker")[0]
    worker.evaluate(
        "text => { try { self.dispatchEvent(new PushEvent('push', { data: text })) }"
        " catch (e) {} }",
        received.plaintext.decode(),
    )
    titles = until(
        lambda: worker.evaluate(
            "async () => (await self.registration.getNotifications()).map(n => n.title)"
        ),
        "the notification",
    )
    assert titles == ["Order shipped"]
    worker.evaluate(
        "async () => { const [n] = await self.registration.getNotifications();"
        " try { self.dispatchEvent(new NotificationEvent('notificationclick',"
        " { notification: n })) } catch (e) {} }"
    )

    def opened() -> bool:
        with sql.connect() as c:
            return (
                c.execute(
                    sa.text("SELECT clicked_at FROM deliveries WHERE campaign_id = :c"), {"c": cid}
                ).scalar_one()
                is not None
            )

    until(opened, "the open to be recorded")
