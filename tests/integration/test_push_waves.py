"""FCM sends in waves (push.waves) through the real app: every row is committed `sending`
before its request reaches FCM, each device gets one push, and a provider that cannot be
reached leaves the rows queued for the job's retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from tests.conftest import Tenant

from tidings.context import AppContext
from tidings.db import table_of
from tidings.deliveries.models import Delivery
from tidings.push.senders import CONNECTIONS, close_senders
from tidings.testing.audience import seed_push_users
from tidings.testing.fcm_fake import FcmFake
from tidings.testing.live import LiveServer, free_port

DEVICES = CONNECTIONS * 2 + 44  # more than one wave's worth of connections
WAIT_SECONDS = 90.0


class WatchingFcm(FcmFake):
    """The fake FCM, looking up each delivery's row as its request arrives."""

    engine: sa.Engine | None = None
    seen: dict[int, str]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.seen = {}
        self._seen_lock = threading.Lock()

    async def _send(self, request: Request) -> Response:
        body = await request.json()
        delivery_id = int(body["message"]["data"]["tidings_id"])
        assert self.engine is not None
        with self.engine.connect() as conn:
            status = conn.execute(
                sa.text("SELECT status FROM deliveries WHERE id = :i"), {"i": delivery_id}
            ).scalar_one()
        with self._seen_lock:
            self.seen[delivery_id] = status
        return await super()._send(request)


@pytest.fixture
def watching(live: LiveServer, sql: sa.Engine) -> Iterator[WatchingFcm]:
    fake = WatchingFcm()
    fake.engine = sql
    with fake:
        yield fake
        live.call(close_senders)


def _seed(live: LiveServer, tenant: Tenant, n: int, prefix: str) -> None:
    async def seed(ctx: AppContext) -> None:
        async with ctx.db.write() as s:
            await seed_push_users(s, tenant.app_id, range(n), now=ctx.clock.now(), prefix=prefix)

    live.call(seed)


def _campaign(
    client: httpx.Client, tenant: Tenant, fake: FcmFake, api_url: str | None = None
) -> int:
    r = client.put(
        "/v1/push/credentials/fcm",
        json={"service_account": fake.service_account(), "api_url": api_url or fake.url},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    r = client.put(
        "/v1/attention-budget",
        json={"max_inapp_per_session": None, "max_per_day": None, "min_gap_seconds": 0},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = {
        "name": "waves",
        "channel": "push",
        "variants": [{"key": "a", "content": {"en": {"title": "Hi", "body": "Waves"}}}],
        "controls": {"push": {"quiet_hours": None}},
    }
    r = client.post("/v1/campaigns", json=body, headers=tenant.server_headers())
    assert r.status_code == 201, r.text
    cid: int = r.json()["id"]
    return cid


def _rows(sql: sa.Engine, cid: int) -> list[Any]:
    d = table_of(Delivery)
    with sql.connect() as conn:
        return list(
            conn.execute(
                sa.select(d.c.id, d.c.status, d.c.reason, d.c.displayed_at).where(
                    d.c.campaign_id == cid, d.c.device_key != 0
                )
            ).all()
        )


def test_each_row_is_committed_sending_before_its_request_reaches_fcm(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, live: LiveServer, watching: WatchingFcm
) -> None:
    _seed(live, tenant, DEVICES, "w")
    cid = _campaign(client, tenant, watching)
    started = datetime.now(UTC)
    r = client.post(
        f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=tenant.server_headers()
    )
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + WAIT_SECONDS
    while {row.status for row in _rows(sql, cid)} != {"delivered"}:
        assert time.monotonic() < deadline, "the campaign did not finish"
        time.sleep(0.2)
    found = _rows(sql, cid)
    assert len(found) == DEVICES
    # The mark was committed before the request was written, for every row.
    assert watching.seen == {row.id: "sending" for row in found}
    tokens = [m.message["token"] for m in watching.received]
    assert sorted(tokens) == sorted(f"w-token-{i}" for i in range(DEVICES))  # one push each
    # Outcomes carry the send moment, readable as a UTC time (the attention budget reads it).
    for row in found:
        assert row.displayed_at is not None
        assert started - timedelta(seconds=1) <= row.displayed_at <= datetime.now(UTC)


def test_an_unreachable_fcm_leaves_the_rows_queued_with_the_reason(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, live: LiveServer
) -> None:
    with FcmFake() as fake:
        _seed(live, tenant, 3, "gone")
        # OAuth tokens come from the fake; sends go to a port nobody listens on.
        cid = _campaign(client, tenant, fake, api_url=f"http://127.0.0.1:{free_port()}")
        r = client.post(
            f"/v1/campaigns/{cid}/transition",
            json={"to": "active"},
            headers=tenant.server_headers(),
        )
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + WAIT_SECONDS
        while len(found := _rows(sql, cid)) < 3 or any(row.reason is None for row in found):
            assert time.monotonic() < deadline, "no send was tried"
            time.sleep(0.2)
        r = client.post(
            f"/v1/campaigns/{cid}/transition",
            json={"to": "paused"},
            headers=tenant.server_headers(),
        )
        assert r.status_code == 200, r.text
        live.call(close_senders)
    # Nothing went out and nothing is lost: the rows wait, queued, for the job's retry.
    assert {(row.status, row.reason) for row in found} == {
        ("queued", "FCM unreachable: ConnectionRefusedError")
    }
    assert fake.received == []
