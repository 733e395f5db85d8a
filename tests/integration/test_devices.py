"""POST /v1/devices through real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.conftest import Tenant

FCM_TOKEN = "dQw4w9WgXcQ:APA91bH" + "x" * 140
APNS_TOKEN = "a1b2c3d4" * 8
# RFC 8291 Appendix A: a real user-agent key pair and auth secret.
UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def subscription(**overrides: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "endpoint": ENDPOINT,
        "expirationTime": None,
        "keys": {"p256dh": UA_PUBLIC, "auth": AUTH},
    }
    sub.update(overrides)
    return sub


def register(client: httpx.Client, tenant: Tenant, **body: Any) -> httpx.Response:
    return client.post("/v1/devices", json=body, headers=tenant.write_headers())


def rows(sql: sa.Engine, query: str, **params: Any) -> list[sa.Row[Any]]:
    with sql.connect() as conn:
        return list(conn.execute(sa.text(query), params))


def device_rows(sql: sa.Engine, tenant: Tenant) -> list[sa.Row[Any]]:
    return rows(sql, "SELECT * FROM devices WHERE app_id = :a ORDER BY id", a=tenant.app_id)


def user_count(sql: sa.Engine, tenant: Tenant) -> int:
    return len(rows(sql, "SELECT id FROM users WHERE app_id = :a", a=tenant.app_id))


def test_register_stores_every_fact_and_fills_the_users_gaps(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    r = register(
        client,
        tenant,
        external_id="u1",
        device_id="dev-1",
        platform="android",
        manufacturer="Google",
        model="Pixel 8",
        os_name="Android",
        os_version="14",
        app_version="3.2.1",
        sdk_version="0.1.0",
        serial_number="SN-42",
        screen={"width": 1080, "height": 2400},
        locale="fa-IR",
        timezone="Asia/Tehran",
        location={"latitude": 35.7, "longitude": 51.4, "country": "ir", "city": "Tehran"},
        push={"provider": "fcm", "address": FCM_TOKEN},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["device_id"] == "dev-1"
    assert out["platform"] == "android"
    assert out["model"] == "Pixel 8"
    assert out["screen"] == {"width": 1080, "height": 2400}
    assert out["location"] == {
        "latitude": 35.7,
        "longitude": 51.4,
        "country": "IR",
        "city": "Tehran",
    }
    assert out["push"]["provider"] == "fcm"
    assert out["push"]["address"] == FCM_TOKEN
    assert out["push"]["active"] is True
    assert out["push"]["updated_at"] is not None

    (dev,) = device_rows(sql, tenant)
    assert dev.id == out["id"]
    assert (dev.manufacturer, dev.os_name, dev.os_version) == ("Google", "Android", "14")
    assert (dev.app_version, dev.sdk_version, dev.serial_number) == ("3.2.1", "0.1.0", "SN-42")
    assert (dev.screen_width, dev.screen_height) == (1080, 2400)
    assert dev.push_address == FCM_TOKEN
    assert dev.push_address_hash == hashlib.sha256(FCM_TOKEN.encode()).hexdigest()
    assert dev.push_active
    (user,) = rows(sql, "SELECT * FROM users WHERE id = :u", u=dev.user_id)
    assert user.external_id == "u1"
    assert (user.locale, user.timezone, user.country, user.city) == (
        "fa-IR",
        "Asia/Tehran",
        "IR",
        "Tehran",
    )
    assert user.last_seen_at is not None


def test_a_user_with_their_own_locale_keeps_it(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    r = client.post(
        "/v1/identify",
        json={"external_id": "u1", "locale": "en-GB", "timezone": "Europe/London"},
        headers=tenant.write_headers(),
    )
    assert r.status_code == 200, r.text
    r = register(
        client,
        tenant,
        external_id="u1",
        device_id="d",
        platform="web",
        locale="de-DE",
        timezone="Europe/Berlin",
        location={"country": "DE"},
    )
    assert r.status_code == 200, r.text
    (user,) = rows(sql, "SELECT * FROM users WHERE app_id = :a", a=tenant.app_id)
    assert (user.locale, user.timezone) == ("en-GB", "Europe/London")
    assert user.country == "DE"  # the user had no location, so the device's fills it
    (dev,) = device_rows(sql, tenant)
    assert (dev.locale, dev.timezone) == ("de-DE", "Europe/Berlin")


def test_reregistering_updates_the_same_row(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    first = register(
        client,
        tenant,
        anonymous_id="a1",
        device_id="d",
        platform="ios",
        model="iPhone15,2",
        os_version="17.0",
        app_version="1.0",
        push={"provider": "apns", "address": APNS_TOKEN.upper()},
    )
    assert first.status_code == 200, first.text
    assert first.json()["push"]["address"] == APNS_TOKEN  # hex kept lowercase
    second = register(
        client,
        tenant,
        anonymous_id="a1",
        device_id="d",
        platform="ios",
        os_version="17.1",
        app_version=None,
    )
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    (dev,) = device_rows(sql, tenant)
    assert dev.os_version == "17.1"
    assert dev.model == "iPhone15,2"  # omitted: kept
    assert dev.app_version is None  # null: cleared
    assert dev.push_address == APNS_TOKEN
    assert dev.push_active


def test_a_device_moves_with_whoever_logs_in(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    assert register(client, tenant, external_id="alice", device_id="d", platform="web").is_success
    r = register(client, tenant, external_id="bob", device_id="d", platform="web")
    assert r.status_code == 200, r.text
    (dev,) = device_rows(sql, tenant)
    (bob,) = rows(
        sql, "SELECT id FROM users WHERE external_id = 'bob' AND app_id = :a", a=tenant.app_id
    )
    assert dev.user_id == bob.id == r.json()["user_id"]


def test_push_null_clears_the_address(client: httpx.Client, tenant: Tenant, sql: sa.Engine) -> None:
    push = {"provider": "mqtt", "address": "printer-0042"}
    assert register(
        client, tenant, external_id="u", device_id="d", platform="device", push=push
    ).is_success
    r = register(client, tenant, external_id="u", device_id="d", platform="device", push=None)
    assert r.status_code == 200, r.text
    assert r.json()["push"] is None
    (dev,) = device_rows(sql, tenant)
    assert (dev.push_provider, dev.push_address, dev.push_address_hash) == (None, None, None)
    assert not dev.push_active


def test_an_address_belongs_to_one_device_and_the_newer_registration_wins(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    push = {"provider": "fcm", "address": FCM_TOKEN}
    assert register(
        client, tenant, external_id="u", device_id="old", platform="android", push=push
    ).is_success
    r = register(client, tenant, external_id="v", device_id="new", platform="android", push=push)
    assert r.status_code == 200, r.text
    old, new = device_rows(sql, tenant)
    assert (old.device_id, new.device_id) == ("old", "new")
    assert not old.push_active
    assert old.push_address is None
    assert old.push_address_hash is None
    assert old.push_invalid_reason == "moved_to_another_device"
    assert new.push_active
    assert new.push_address == FCM_TOKEN
    # The old device registers the token again: now it is the newer one.
    assert register(
        client, tenant, external_id="u", device_id="old", platform="android", push=push
    ).is_success
    old, new = device_rows(sql, tenant)
    assert old.push_active
    assert old.push_address == FCM_TOKEN
    assert not new.push_active
    assert new.push_address is None


def test_the_same_address_in_another_app_is_left_alone(
    client: httpx.Client, tenant: Tenant, live: Any, sql: sa.Engine
) -> None:
    from tests.conftest import make_tenant

    other = make_tenant(live)
    push = {"provider": "fcm", "address": FCM_TOKEN}
    assert register(
        client, other, external_id="u", device_id="d", platform="android", push=push
    ).is_success
    assert register(
        client, tenant, external_id="u", device_id="d", platform="android", push=push
    ).is_success
    (theirs,) = device_rows(sql, other)
    assert theirs.push_active
    assert theirs.push_address == FCM_TOKEN


def test_concurrent_registrations_of_one_address_leave_exactly_one_holder(
    live: Any, tenant: Tenant, sql: sa.Engine
) -> None:
    push = {"provider": "apns", "address": APNS_TOKEN}

    def go(i: int) -> int:
        with httpx.Client(base_url=live.url, timeout=30) as c:
            body = {"external_id": f"u{i}", "device_id": f"d{i}", "platform": "ios", "push": push}
            return c.post("/v1/devices", json=body, headers=tenant.write_headers()).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(go, range(8))) == [200] * 8
    devices = device_rows(sql, tenant)
    assert len(devices) == 8
    assert sum(1 for d in devices if d.push_active) == 1
    assert sum(1 for d in devices if d.push_address is not None) == 1


def test_concurrent_registrations_of_one_device_keep_one_row(
    live: Any, tenant: Tenant, sql: sa.Engine
) -> None:
    def go(i: int) -> int:
        with httpx.Client(base_url=live.url, timeout=30) as c:
            body = {"external_id": "u", "device_id": "d", "platform": "web", "app_version": f"{i}"}
            return c.post("/v1/devices", json=body, headers=tenant.write_headers()).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(go, range(8))) == [200] * 8
    (dev,) = device_rows(sql, tenant)
    assert dev.app_version in {str(i) for i in range(8)}
    assert user_count(sql, tenant) == 1


def test_web_push_subscription_is_stored_canonically(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    padded = base64.urlsafe_b64encode(point).decode()  # with "=" padding, as some SDKs send
    sub = subscription(keys={"p256dh": padded, "auth": AUTH + "=="}, expirationTime=1893456000000)
    r = register(
        client,
        tenant,
        anonymous_id="a",
        device_id="browser",
        platform="web",
        push={"provider": "webpush", "address": sub},
    )
    assert r.status_code == 200, r.text
    expected = {
        "endpoint": ENDPOINT,
        "expirationTime": 1893456000000,
        "keys": {"auth": AUTH, "p256dh": b64(point)},
    }
    assert r.json()["push"]["address"] == expected
    (dev,) = device_rows(sql, tenant)
    assert json.loads(dev.push_address) == expected
    assert dev.push_address == json.dumps(expected, separators=(",", ":"), sort_keys=True)
    # A subscription is identified by its endpoint; its keys may rotate.
    assert dev.push_address_hash == hashlib.sha256(ENDPOINT.encode()).hexdigest()


def _off_curve_point() -> str:
    return b64(b"\x04" + b"\x01" * 64)


BAD_ADDRESSES = [
    ("fcm", "android", "short", "push.address"),
    ("fcm", "android", "x" * 200 + " with spaces", "push.address"),
    ("fcm", "android", 12345, "push.address"),
    ("fcm", "android", None, "push.address"),
    ("apns", "ios", "zz" * 32, "push.address"),
    ("apns", "ios", "ab" * 31, "push.address"),
    ("apns", "ios", "a" * 65, "push.address"),
    ("apns", "ios", "ab" * 101, "push.address"),
    ("mqtt", "device", "", "push.address"),
    ("mqtt", "device", "printers/42", "push.address"),
    ("mqtt", "device", "printer+", "push.address"),
    ("mqtt", "device", "printer#", "push.address"),
    ("mqtt", "device", "x" * 129, "push.address"),
    ("webpush", "web", "https://push.example/sub", "push.address"),
    ("webpush", "web", subscription(endpoint="http://push.example/x"), "push.address.endpoint"),
    ("webpush", "web", subscription(endpoint="https://127.0.0.1/x"), "push.address.endpoint"),
    ("webpush", "web", subscription(endpoint="https://[::1]/x"), "push.address.endpoint"),
    ("webpush", "web", subscription(endpoint="https://localhost/x"), "push.address.endpoint"),
    (
        "webpush",
        "web",
        subscription(endpoint="https://u:p@push.example/x"),
        "push.address.endpoint",
    ),
    ("webpush", "web", subscription(endpoint=None), "push.address.endpoint"),
    ("webpush", "web", subscription(keys=None), "push.address.keys"),
    ("webpush", "web", subscription(keys={"p256dh": UA_PUBLIC}), "push.address.keys.auth"),
    (
        "webpush",
        "web",
        subscription(keys={"p256dh": UA_PUBLIC[:-4], "auth": AUTH}),
        "push.address.keys.p256dh",
    ),
    (
        "webpush",
        "web",
        subscription(keys={"p256dh": b64(b"\x02" + b"\x01" * 64), "auth": AUTH}),
        "push.address.keys.p256dh",
    ),
    (
        "webpush",
        "web",
        subscription(keys={"p256dh": _off_curve_point(), "auth": AUTH}),
        "push.address.keys.p256dh",
    ),
    (
        "webpush",
        "web",
        subscription(keys={"p256dh": "not base64!", "auth": AUTH}),
        "push.address.keys.p256dh",
    ),
    (
        "webpush",
        "web",
        subscription(keys={"p256dh": UA_PUBLIC, "auth": b64(b"\x00" * 15)}),
        "push.address.keys.auth",
    ),
    (
        "webpush",
        "web",
        subscription(keys={"p256dh": UA_PUBLIC, "auth": AUTH, "extra": "x"}),
        "push.address.keys.extra",
    ),
    ("webpush", "web", subscription(expirationTime="soon"), "push.address.expirationTime"),
    ("webpush", "web", subscription(expirationTime=-1), "push.address.expirationTime"),
    ("webpush", "web", {**subscription(), "surprise": 1}, "push.address.surprise"),
]


@pytest.mark.parametrize(("provider", "platform", "address", "field"), BAD_ADDRESSES)
def test_bad_push_addresses_are_refused_naming_the_field(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    provider: str,
    platform: str,
    address: Any,
    field: str,
) -> None:
    push = {"provider": provider, "address": address}
    r = register(client, tenant, external_id="u", device_id="d", platform=platform, push=push)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field
    assert err["code"] == "invalid_push_address"
    if isinstance(address, str) and len(address) > 8:
        assert address not in r.text  # an address is a credential: never quoted back
    assert device_rows(sql, tenant) == []
    assert user_count(sql, tenant) == 0


@pytest.mark.parametrize(
    ("provider", "platform", "address"),
    [
        ("apns", "android", APNS_TOKEN),
        ("apns", "web", APNS_TOKEN),
        ("webpush", "ios", subscription()),
        ("webpush", "android", subscription()),
        ("mqtt", "ios", "client-1"),
        ("mqtt", "web", "client-1"),
        ("fcm", "desktop", FCM_TOKEN),
    ],
)
def test_a_provider_that_cannot_reach_the_platform_is_refused(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    provider: str,
    platform: str,
    address: Any,
) -> None:
    push = {"provider": provider, "address": address}
    r = register(client, tenant, external_id="u", device_id="d", platform=platform, push=push)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "push.provider"
    assert r.json()["error"]["code"] == "push_platform_mismatch"
    assert device_rows(sql, tenant) == []


@pytest.mark.parametrize(
    ("provider", "platform", "address"),
    [
        ("fcm", "ios", FCM_TOKEN),
        ("fcm", "web", FCM_TOKEN),
        ("fcm", "device", FCM_TOKEN),
        ("apns", "desktop", APNS_TOKEN),
        ("webpush", "desktop", subscription()),
    ],
)
def test_providers_reach_the_platforms_documented(
    client: httpx.Client, tenant: Tenant, provider: str, platform: str, address: Any
) -> None:
    push = {"provider": provider, "address": address}
    r = register(client, tenant, external_id="u", device_id="d", platform=platform, push=push)
    assert r.status_code == 200, r.text
    assert r.json()["push"]["active"] is True


def test_changing_platform_away_from_the_stored_provider_is_refused(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    push = {"provider": "webpush", "address": subscription()}
    assert register(
        client, tenant, external_id="u", device_id="d", platform="web", push=push
    ).is_success
    r = register(client, tenant, external_id="u", device_id="d", platform="ios", model="x")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "platform"
    (dev,) = device_rows(sql, tenant)
    assert (dev.platform, dev.model, dev.push_active) == ("web", None, True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "u", "platform": "web"}, "device_id"),
        ({"external_id": "u", "device_id": "d"}, "platform"),
        ({"external_id": "u", "device_id": "d", "platform": "watch"}, "platform"),
        ({"device_id": "d", "platform": "web"}, "external_id"),
        (
            {"external_id": "u", "device_id": "d", "platform": "web", "timezone": "Mars/Base"},
            "timezone",
        ),
        (
            {"external_id": "u", "device_id": "d", "platform": "web", "locale": "not a locale"},
            "locale",
        ),
        (
            {
                "external_id": "u",
                "device_id": "d",
                "platform": "web",
                "screen": {"width": 0, "height": 9},
            },
            "screen.width",
        ),
        (
            {
                "external_id": "u",
                "device_id": "d",
                "platform": "web",
                "location": {"latitude": 91, "longitude": 0},
            },
            "location.latitude",
        ),
        ({"external_id": "u", "device_id": "d", "platform": "web", "model": "m" * 101}, "model"),
        (
            {
                "external_id": "u",
                "device_id": "d",
                "platform": "web",
                "push": {"provider": "sms", "address": "x"},
            },
            "push.provider",
        ),
        (
            {"external_id": "u", "device_id": "d", "platform": "web", "push": {"provider": "fcm"}},
            "push.address",
        ),
        ({"external_id": "u", "device_id": "d", "platform": "web", "colour": "red"}, "colour"),
    ],
)
def test_bad_device_bodies_are_refused_naming_the_field(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, body: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/devices", json=body, headers=tenant.write_headers())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert device_rows(sql, tenant) == []
    assert user_count(sql, tenant) == 0


def test_a_read_only_server_key_cannot_register(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    r = client.post(
        "/v1/devices",
        json={"external_id": "u", "device_id": "d", "platform": "web"},
        headers={"Authorization": f"Bearer {tenant.read_key}"},
    )
    assert r.status_code == 403
    assert r.json()["error"]["field"] == "authorization"
    assert device_rows(sql, tenant) == []
