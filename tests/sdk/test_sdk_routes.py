"""Tidings serves the SDK and lets it call client routes cross-origin (and only those)."""

from __future__ import annotations

import hashlib

import httpx
from tests.conftest import Tenant

from tidings.sdk.api import STATIC

ORIGIN = "https://shop.example"


def test_bundle_is_served_with_cache_headers_and_etag(client: httpx.Client) -> None:
    r = client.get("/sdk/tidings.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "max-age=86400" in r.headers["cache-control"]
    assert r.content == (STATIC / "tidings.js").read_bytes()
    etag = r.headers["etag"]
    assert etag.strip('"') == hashlib.sha256(r.content).hexdigest()[:32]
    again = client.get("/sdk/tidings.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/sdk/tidings.js", headers={"If-None-Match": '"old"'}).status_code == 200


def test_service_worker_is_served_for_revalidation(client: httpx.Client) -> None:
    r = client.get("/sdk/tidings-sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    assert b"notificationclick" in r.content


def test_client_routes_answer_preflights(client: httpx.Client) -> None:
    paths = ("/v1/track", "/v1/identify", "/v1/devices", "/v1/push/opened", "/v1/inapp/decide")
    for path in paths:
        r = client.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert r.status_code == 204, path
        assert r.headers["access-control-allow-origin"] == "*"
        assert "authorization" in r.headers["access-control-allow-headers"]
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "access-control-allow-credentials" not in r.headers


def test_client_responses_are_readable_cross_origin(client: httpx.Client, tenant: Tenant) -> None:
    r = client.post(
        "/v1/identify",
        json={"anonymous_id": "anon-cors"},
        headers={**tenant.write_headers(), "Origin": ORIGIN},
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in r.headers["access-control-expose-headers"]
    # Errors too, so the SDK can read why (and Retry-After).
    bad = client.post("/v1/track", json={}, headers={**tenant.write_headers(), "Origin": ORIGIN})
    assert bad.status_code == 422
    assert bad.headers["access-control-allow-origin"] == "*"


def test_server_routes_get_no_cors(client: httpx.Client, tenant: Tenant) -> None:
    pre = client.options(
        "/v1/campaigns",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers
    r = client.get("/v1/campaigns", headers={**tenant.server_headers(), "Origin": ORIGIN})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


def test_push_key_needs_webpush_credentials(client: httpx.Client, tenant: Tenant) -> None:
    r = client.get("/sdk/push-key", headers=tenant.write_headers())
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "provider"
    put = client.put(
        "/v1/push/credentials/webpush",
        json={"subject": "mailto:ops@example.com"},
        headers=tenant.server_headers(),
    )
    assert put.status_code == 200, put.text
    r = client.get("/sdk/push-key", headers=tenant.write_headers())
    assert r.status_code == 200
    assert r.json()["public_key"] == put.json()["summary"]["public_key"]
