"""Identity verification (X6) on identify, track and devices; write-key isolation (I5)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant, make_tenant

from tidings.tenancy.keys import user_hash
from tidings.testing.live import LiveServer

Body = Callable[[dict[str, Any]], dict[str, Any]]
ENDPOINTS: dict[str, tuple[str, Body]] = {
    "identify": ("/v1/identify", lambda who: {**who, "attributes": {"plan": "pro"}}),
    "track": ("/v1/track", lambda who: {**who, "events": [{"name": "open"}]}),
    "devices": ("/v1/devices", lambda who: {**who, "device_id": "d1", "platform": "web"}),
}


@pytest.fixture
def verified(live: LiveServer) -> Tenant:
    """A tenant whose app enforces identity verification."""
    return make_tenant(live, identity_verification=True)


def call(client: httpx.Client, key: str, endpoint: str, who: dict[str, Any]) -> httpx.Response:
    path, body = ENDPOINTS[endpoint]
    return client.post(path, json=body(who), headers={"Authorization": f"Bearer {key}"})


def counts(sql: sa.Engine, tenant: Tenant) -> dict[str, int]:
    with sql.connect() as c:
        return {
            table: c.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE app_id = :a"), {"a": tenant.app_id}
            ).scalar_one()
            for table in ("users", "anonymous_ids", "events", "devices", "attribute_definitions")
        }


NOTHING = {"users": 0, "anonymous_ids": 0, "events": 0, "devices": 0, "attribute_definitions": 0}


def bad_hashes(tenant: Tenant) -> dict[str, str | None]:
    return {
        "no hash": None,
        "wrong hash": "0" * 64,
        "another user's hash": user_hash(tenant.identity_secret, "mallory"),
        "another app's secret": user_hash("not-this-apps-secret", "alice"),
        "not hex": "alice",
    }


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize(
    "case", ["no hash", "wrong hash", "another user's hash", "another app's secret", "not hex"]
)
def test_a_known_user_needs_their_hash(
    client: httpx.Client, verified: Tenant, sql: sa.Engine, endpoint: str, case: str
) -> None:
    who: dict[str, Any] = {"external_id": "alice"}
    given = bad_hashes(verified)[case]
    if given is not None:
        who["user_hash"] = given
    r = call(client, verified.write_key, endpoint, who)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "identity_not_verified"
    assert r.json()["error"]["field"] == "user_hash"
    assert counts(sql, verified) == NOTHING


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_the_right_hash_is_accepted(
    client: httpx.Client, verified: Tenant, sql: sa.Engine, endpoint: str
) -> None:
    good = user_hash(verified.identity_secret, "alice")
    r = call(client, verified.write_key, endpoint, {"external_id": "alice", "user_hash": good})
    assert r.status_code == 200, r.text
    assert counts(sql, verified)["users"] == 1
    # Hex is hex whatever its case.
    r = call(
        client, verified.write_key, endpoint, {"external_id": "alice", "user_hash": good.upper()}
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_anonymous_users_need_no_hash(
    client: httpx.Client, verified: Tenant, sql: sa.Engine, endpoint: str
) -> None:
    r = call(client, verified.write_key, endpoint, {"anonymous_id": "visitor-1"})
    assert r.status_code == 200, r.text
    assert counts(sql, verified)["users"] == 1


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [("identify", "user_hash"), ("track", "events[0].user_hash"), ("devices", "user_hash")],
)
def test_an_anonymous_id_of_a_known_user_needs_that_users_hash(
    client: httpx.Client, verified: Tenant, sql: sa.Engine, endpoint: str, field: str
) -> None:
    alice_hash = user_hash(verified.identity_secret, "alice")
    r = call(
        client,
        verified.write_key,
        "identify",
        {"external_id": "alice", "anonymous_id": "alices-phone", "user_hash": alice_hash},
    )
    assert r.status_code == 200, r.text
    before = counts(sql, verified)
    r = call(client, verified.write_key, endpoint, {"anonymous_id": "alices-phone"})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "identity_not_verified"
    assert r.json()["error"]["field"] == field
    assert counts(sql, verified) == before
    r = call(
        client,
        verified.write_key,
        endpoint,
        {"anonymous_id": "alices-phone", "user_hash": user_hash(verified.identity_secret, "bob")},
    )
    assert r.status_code == 401, r.text
    assert counts(sql, verified) == before
    r = call(
        client,
        verified.write_key,
        endpoint,
        {"anonymous_id": "alices-phone", "user_hash": alice_hash},
    )
    assert r.status_code == 200, r.text


def test_one_unverified_user_rejects_the_whole_batch(
    client: httpx.Client, verified: Tenant, sql: sa.Engine
) -> None:
    secret = verified.identity_secret
    events = [
        {"name": "open", "external_id": "alice", "user_hash": user_hash(secret, "alice")},
        {"name": "open", "external_id": "bob", "user_hash": user_hash(secret, "alice")},
    ]
    r = client.post("/v1/track", json={"events": events}, headers=verified.write_headers())
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "identity_not_verified"
    assert counts(sql, verified) == NOTHING
    events[1]["user_hash"] = user_hash(secret, "bob")
    r = client.post("/v1/track", json={"events": events}, headers=verified.write_headers())
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_a_server_key_never_needs_a_hash(
    client: httpx.Client, verified: Tenant, sql: sa.Engine, endpoint: str
) -> None:
    r = call(client, verified.server_key, endpoint, {"external_id": "alice"})
    assert r.status_code == 200, r.text
    assert counts(sql, verified)["users"] == 1


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_without_enforcement_no_hash_is_needed(
    client: httpx.Client, tenant: Tenant, endpoint: str
) -> None:
    r = call(client, tenant.write_key, endpoint, {"external_id": "alice"})
    assert r.status_code == 200, r.text


# --- Write-key isolation over every route the server has --------------------------------------


def test_a_write_key_never_reads_or_calls_a_server_route(
    client: httpx.Client, verified: Tenant, sql: sa.Engine
) -> None:
    """Every /v1 operation in the live route list: server routes answer 403 to the write
    key; any client read about a user the key cannot prove answers 401/403/404."""
    secret = verified.identity_secret
    victim = call(
        client,
        verified.write_key,
        "identify",
        {"external_id": "victim", "user_hash": user_hash(secret, "victim")},
    ).json()["user_id"]
    r = call(
        client,
        verified.write_key,
        "track",
        {"external_id": "victim", "user_hash": user_hash(secret, "victim")},
    )
    assert r.status_code == 200, r.text
    before = counts(sql, verified)

    spec = client.get("/openapi.json").json()
    server_ops = 0
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        url = re.sub(r"\{[^}]+\}", str(victim), path)
        for method, op in ops.items():
            if "server" in op.get("tags", []):
                server_ops += 1
                r = client.request(
                    method.upper(),
                    url,
                    json={} if method in ("post", "put", "patch") else None,
                    headers=verified.write_headers(),
                )
                assert r.status_code == 403, f"{method.upper()} {path}: {r.status_code} {r.text}"
                assert r.json()["error"]["code"] == "wrong_key_type", path
                assert r.json()["error"]["field"] == "authorization", path
            elif method == "get":
                r = client.get(
                    url,
                    params={"external_id": "victim", "user_id": victim},
                    headers=verified.write_headers(),
                )
                assert r.status_code in (401, 403, 404), f"GET {path}: {r.status_code} {r.text}"
    assert server_ops >= 5  # the route list really was read (users, events, devices, ...)
    assert counts(sql, verified) == before  # and nothing was changed (DELETE, erase, PATCH)
    # The server key itself does reach them, so the 403s above were about the key type.
    r = client.get(f"/v1/users/{victim}", headers=verified.server_headers())
    assert r.status_code == 200, r.text
