"""Push provider credentials over the server API: validated, sealed, never echoed (P5)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tests.conftest import Tenant

from tidings.delivery import credentials
from tidings.testing.live import LiveServer

URL = "/v1/push/credentials"


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _service_account() -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "acme-push",
        "private_key_id": "k1",
        "private_key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "client_email": "push@acme-push.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def _dump(sql: sa.Engine, app_id: int) -> str:
    with sql.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM push_credentials WHERE app_id = :a"), {"a": app_id}
        ).all()
    return json.dumps([[str(v) for v in row] for row in rows])


def test_fcm_credentials_are_sealed_and_shown_redacted(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = tenant.server_headers()
    resp = client.put(f"{URL}/fcm", json={"service_account": _service_account()}, headers=h)
    assert resp.status_code == 200
    body = resp.json()
    assert body["provider"] == "fcm"
    assert body["summary"] == {
        "project_id": "acme-push",
        "client_email": "push@acme-push.iam.gserviceaccount.com",
        "private_key_id": "k1",
    }
    # The JSON text form replaces it (upsert), keeping created_at.
    again = client.put(
        f"{URL}/fcm", json={"service_account": json.dumps(_service_account())}, headers=h
    )
    assert again.status_code == 200
    assert again.json()["created_at"] == body["created_at"]
    shown = client.get(f"{URL}/fcm", headers={"Authorization": f"Bearer {tenant.read_key}"})
    assert shown.status_code == 200
    listed = client.get(URL, headers=h).json()["data"]
    assert [c["provider"] for c in listed] == ["fcm"]
    dump = _dump(sql, tenant.app_id)
    assert "acme-push" in dump  # the summary
    for text in (resp.text, again.text, shown.text, json.dumps(listed), dump, caplog.text):
        assert "PRIVATE KEY" not in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "PEM"),
        ({"client_email": ""}, "lacks client_email"),
        ({"type": "authorized_user"}, "service_account"),
    ],
)
def test_bad_service_account_is_a_clear_422(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, str],
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    info = {**_service_account(), **change}
    resp = client.put(f"{URL}/fcm", json={"service_account": info}, headers=tenant.server_headers())
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["field"] == "service_account"
    assert message in err["message"]
    assert "PRIVATE KEY" not in resp.text
    assert "PRIVATE KEY" not in caplog.text
    assert _dump(sql, tenant.app_id) == "[]"


def test_service_account_text_that_is_not_json(client: httpx.Client, tenant: Tenant) -> None:
    resp = client.put(
        f"{URL}/fcm", json={"service_account": "{not json"}, headers=tenant.server_headers()
    )
    assert resp.status_code == 422
    assert resp.json()["error"] == {
        "code": "invalid",
        "message": "service_account is not valid JSON",
        "field": "service_account",
    }


def test_apns_key_is_checked_and_never_echoed(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = tenant.server_headers()
    good = {
        "key": _pem(ec.generate_private_key(ec.SECP256R1())),
        "key_id": "ABC123DEFG",
        "team_id": "TEAM123456",
        "topic": "com.acme.app",
    }
    rsa_key = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    bad = client.put(f"{URL}/apns", json={**good, "key": rsa_key}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "key"
    assert bad.json()["error"]["message"] == "key must be an APNs .p8 key (EC P-256)"
    garbage = client.put(f"{URL}/apns", json={**good, "key": "hello"}, headers=h)
    assert garbage.status_code == 422
    assert garbage.json()["error"]["message"] == "key is not a PEM-encoded .p8 private key"
    short = client.put(f"{URL}/apns", json={**good, "key_id": "ABC"}, headers=h)
    assert short.status_code == 422
    assert short.json()["error"]["field"] == "key_id"
    ok = client.put(f"{URL}/apns", json=good, headers=h)
    assert ok.status_code == 200
    assert ok.json()["summary"] == {
        "key_id": "ABC123DEFG",
        "team_id": "TEAM123456",
        "topic": "com.acme.app",
        "environment": "production",
    }
    for text in (
        bad.text,
        garbage.text,
        short.text,
        ok.text,
        _dump(sql, tenant.app_id),
        caplog.text,
    ):
        assert "PRIVATE KEY" not in text


def test_webpush_keys_are_generated_and_the_public_key_shown(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, live: LiveServer
) -> None:
    h = tenant.server_headers()
    bad = client.put(f"{URL}/webpush", json={"subject": "ops@acme.example"}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "subject"
    resp = client.put(f"{URL}/webpush", json={"subject": "mailto:ops@acme.example"}, headers=h)
    assert resp.status_code == 200
    public_key = resp.json()["summary"]["public_key"]
    assert len(public_key) == 87  # base64url of a 65-byte uncompressed P-256 point
    assert "PRIVATE KEY" not in _dump(sql, tenant.app_id)

    async def unseal(ctx: object) -> dict[str, str] | None:
        return await credentials.open_secret(ctx, tenant.app_id, "webpush")  # type: ignore[arg-type]

    secret = live.call(unseal)
    assert secret is not None
    assert secret["private_key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_delete_and_scopes(client: httpx.Client, tenant: Tenant) -> None:
    h = tenant.server_headers()
    ro = {"Authorization": f"Bearer {tenant.read_key}"}
    body = {"host": "127.0.0.1", "port": 1883, "password": "s3cret-pass"}
    denied = client.put(f"{URL}/mqtt", json=body, headers=ro)
    assert denied.status_code == 403
    ok = client.put(f"{URL}/mqtt", json=body, headers=h)
    assert ok.status_code == 200
    assert "s3cret-pass" not in ok.text
    assert ok.json()["summary"]["has_password"] is True
    assert client.delete(f"{URL}/mqtt", headers=h).status_code == 204
    gone = client.get(f"{URL}/mqtt", headers=h)
    assert gone.status_code == 404
    assert gone.json()["error"]["field"] == "provider"
    assert client.delete(f"{URL}/mqtt", headers=h).status_code == 404
    assert client.get(f"{URL}/sms", headers=h).status_code == 422


def test_the_write_key_cannot_touch_credentials(client: httpx.Client, tenant: Tenant) -> None:
    h = tenant.write_headers()
    for method, path in (
        ("GET", URL),
        ("GET", f"{URL}/123"),
        ("PUT", f"{URL}/fcm"),
        ("DELETE", f"{URL}/apns"),
    ):
        r = client.request(method, path, headers=h, json={})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "wrong_key_type"
        assert r.json()["error"]["field"] == "authorization"
