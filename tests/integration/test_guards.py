"""I1: malformed JSON, wrong content type, oversized and compressed bodies, gzip bombs.

Each refusal asserts the exact status, the error's code and field, and that nothing was
stored for the tenant (no event, no dropped event, no user).
"""

from __future__ import annotations

import gzip
import os
import re
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import Tenant

LIMIT = 512 * 1024  # Settings.max_body_bytes default, which the live server uses


def stored(sql: sa.Engine, tenant: Tenant) -> tuple[int, int, int]:
    """(events, dropped events, users) stored for the tenant's app."""
    with sql.connect() as conn:
        events, dropped, users = (
            conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE app_id = :a"), {"a": tenant.app_id}
            ).scalar_one()
            for table in ("events", "dropped_events", "users")
        )
    return events, dropped, users


def batch(n: int = 3, pad: int = 0) -> dict[str, Any]:
    return {
        "external_id": "guard-user",
        "events": [
            {"name": f"e{i}", "message_id": uuid.uuid4().hex, "properties": {"pad": "x" * pad}}
            for i in range(n)
        ],
    }


def headers(tenant: Tenant, **extra: str) -> dict[str, str]:
    return {"Content-Type": "application/json", **tenant.write_headers(), **extra}


def assert_error(resp: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert err["message"]


def test_malformed_json_is_400_and_stores_nothing(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    resp = client.post("/v1/track", content=b'{"events": [{"name": "x"', headers=headers(tenant))
    assert_error(resp, 400, "malformed_json", "body")
    assert stored(sql, tenant) == (0, 0, 0)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_a_body_that_is_not_json_typed_is_415(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, content_type: str | None
) -> None:
    hdrs = tenant.write_headers()
    if content_type:
        hdrs["Content-Type"] = content_type
    resp = client.post("/v1/track", content=orjson.dumps(batch()), headers=hdrs)
    assert_error(resp, 415, "unsupported_media_type", "content-type")
    assert stored(sql, tenant) == (0, 0, 0)


def test_json_with_a_charset_parameter_is_accepted(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    resp = client.post(
        "/v1/track",
        content=orjson.dumps(batch(2)),
        headers=headers(tenant, **{"Content-Type": "Application/JSON; charset=utf-8"}),
    )
    assert resp.status_code == 200, resp.text
    assert stored(sql, tenant)[0] == 2


def test_a_body_over_the_cap_by_content_length_is_413(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    body = orjson.dumps(batch(1, pad=LIMIT))
    resp = client.post("/v1/track", content=body, headers=headers(tenant))
    assert_error(resp, 413, "payload_too_large", "body")
    assert stored(sql, tenant) == (0, 0, 0)


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, with no Content-Length."""
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_a_chunked_body_over_the_cap_is_413(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    body = orjson.dumps(batch(4, pad=200 * 1024))
    assert len(body) > LIMIT
    resp = client.post("/v1/track", content=chunks(body), headers=headers(tenant))
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, "payload_too_large", "body")
    assert stored(sql, tenant) == (0, 0, 0)


def test_a_chunked_body_within_the_cap_is_stored(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    body = orjson.dumps(batch(5, pad=20 * 1024))
    resp = client.post("/v1/track", content=chunks(body, 4096), headers=headers(tenant))
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == 5
    assert stored(sql, tenant)[0] == 5


def deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", deflate_raw)],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
def test_compressed_bodies_are_accepted(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, encoding: str, compress: Any
) -> None:
    sent = batch(3)
    resp = client.post(
        "/v1/track",
        content=compress(orjson.dumps(sent)),
        headers=headers(tenant, **{"Content-Encoding": encoding}),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == 3
    with sql.connect() as conn:
        ids = set(
            conn.execute(
                sa.text("SELECT message_id FROM events WHERE app_id = :a"), {"a": tenant.app_id}
            ).scalars()
        )
    assert ids == {e["message_id"] for e in sent["events"]}


def test_gzip_sent_chunked_is_accepted(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    body = gzip.compress(orjson.dumps(batch(4, pad=1000)))
    resp = client.post(
        "/v1/track",
        content=chunks(body, 100),
        headers=headers(tenant, **{"Content-Encoding": "gzip"}),
    )
    assert resp.status_code == 200, resp.text
    assert stored(sql, tenant)[0] == 4


def test_an_unknown_content_encoding_is_415(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    resp = client.post(
        "/v1/track",
        content=orjson.dumps(batch()),
        headers=headers(tenant, **{"Content-Encoding": "br"}),
    )
    assert_error(resp, 415, "unsupported_media_type", "content-encoding")
    assert stored(sql, tenant) == (0, 0, 0)


@pytest.mark.parametrize(
    "body",
    [b"this is not gzip", gzip.compress(b'{"events": []}')[:-6], b"\x1f"],
    ids=["garbage", "truncated", "one-byte"],
)
def test_corrupt_gzip_is_400(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, body: bytes
) -> None:
    resp = client.post(
        "/v1/track", content=body, headers=headers(tenant, **{"Content-Encoding": "gzip"})
    )
    assert_error(resp, 400, "malformed_encoding", "content-encoding")
    assert stored(sql, tenant) == (0, 0, 0)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """100 MB of JSON-ish zeros inside about 100 KB of gzip, built without holding 100 MB."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"0" * (1 << 20)
    parts = [c.compress(b'{"events": [{"name": "boom", "properties": {"pad": "')]
    parts += [c.compress(block) for _ in range(100)]
    parts.append(c.compress(b'"}}]}') + c.flush())
    return b"".join(parts)


def _status_kb(name: str) -> int:
    match = re.search(rf"^{name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    assert match, name
    return int(match.group(1))


def test_a_gzip_bomb_is_413_without_inflating_it(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, gzip_bomb: bytes
) -> None:
    assert len(gzip_bomb) < LIMIT  # small on the wire: only decompression reveals it
    # The server runs in this process: reset the peak RSS, then compare the peak after.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    resp = client.post(
        "/v1/track", content=gzip_bomb, headers=headers(tenant, **{"Content-Encoding": "gzip"})
    )
    peak = _status_kb("VmHWM")
    assert_error(resp, 413, "payload_too_large", "body")
    assert peak - before < 50 * 1024, f"peak RSS grew by {(peak - before) // 1024} MB"
    assert stored(sql, tenant) == (0, 0, 0)


def test_a_gzip_body_over_the_cap_on_the_wire_is_413(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    body = gzip.compress(os.urandom(LIMIT + 1024), compresslevel=1)
    assert len(body) > LIMIT
    resp = client.post(
        "/v1/track", content=body, headers=headers(tenant, **{"Content-Encoding": "gzip"})
    )
    assert_error(resp, 413, "payload_too_large", "body")
    assert stored(sql, tenant) == (0, 0, 0)


def test_get_requests_and_bodiless_posts_are_not_judged(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    # No body, so no media type to judge: the route answers (here, no key: 401).
    resp = client.post("/v1/track")
    assert_error(resp, 401, "unauthorized", "authorization")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_as_a_whole_and_store_nothing(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, body: bytes
) -> None:
    resp = client.post("/v1/track", content=body, headers=headers(tenant))
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["error"]["field"]
    assert stored(sql, tenant) == (0, 0, 0)
