"""The decision's one read gives the same profile and history whichever way it runs: the
plain SQLite read-only connection, or SQLAlchemy (PostgreSQL, and SQLite without a file)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import Tenant
from tests.integration.test_inapp import OK, budget, identify, interact, launch, seen, track

from tidings.campaigns.decision_inputs import decision_inputs
from tidings.context import AppContext
from tidings.db import Database
from tidings.testing.live import LiveServer


def test_plain_reader_and_sqlalchemy_agree(
    client: httpx.Client, tenant: Tenant, live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)
    identify(
        client,
        tenant,
        "ana",
        attributes={"plan": "pro", "seats": 4, "vip": True},
        locale="fa-IR",
        timezone="Asia/Tehran",
        consent={"push": True},
    )
    r = client.post(
        "/v1/devices",
        json={"external_id": "ana", "device_id": "d1", "platform": "ios", "os_version": "17.2"},
        headers=tenant.write_headers(),
    )
    assert r.status_code in (200, 201), r.text
    track(client, tenant, "ana", {"name": "$session_start"}, *[{"name": "export"}] * 3)
    modal = launch(client, tenant, {"format": "modal", "title": "Hi", "buttons": [OK]})
    interact(client, tenant, "ana", seen(modal), {"type": "dismiss", "campaign_id": modal})

    async def read(ctx: AppContext) -> Any:
        return await decision_inputs(
            ctx.db, tenant.app_id, external_id="ana", anonymous_id=None, now=ctx.clock.now()
        )

    first = live.call(read)
    monkeypatch.setattr(Database, "has_writer_thread", property(lambda _self: False))
    second = live.call(read)
    assert first is not None
    assert first == second
    profile, history = first
    assert profile.attributes == {"plan": "pro", "seats": 4, "vip": True}
    assert profile.timezone == "Asia/Tehran"
    assert profile.stats["export"].count == 3
    assert profile.devices[0].platform == "ios"
    assert [(h.campaign_id, h.variant) for h in history] == [(modal, "a")]
    assert history[0].dismissed_at is not None
    assert history[0].displayed_at is not None
    assert history[0].displayed_at.tzinfo is not None
