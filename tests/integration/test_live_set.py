"""The cached live set: reused while nothing changed, loaded again when another node (or
a raw write) changed a campaign or a segment, seen within LIVE_TTL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant
from tests.integration.test_inapp import OK, decide, identify, launch

from tidings.campaigns import specs
from tidings.context import AppContext
from tidings.testing.live import LiveServer


def test_reloaded_only_when_something_changed(
    client: httpx.Client,
    tenant: Tenant,
    live: LiveServer,
    sql: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identify(client, tenant, "ana", attributes={"plan": "pro"})
    first = launch(client, tenant, {"format": "modal", "title": "One", "buttons": [OK]})
    second = launch(client, tenant, {"format": "banner", "body": "Two"}, name="two")
    monkeypatch.setattr(specs, "LIVE_TTL", 0.0)  # every call checks the stamp

    async def live_set(ctx: AppContext) -> specs.Live:
        async with ctx.db.read() as s:
            return await specs.live_set(s, id(ctx.db), tenant.app_id)

    loaded = live.call(live_set)
    assert live.call(live_set) is loaded  # nothing changed: not loaded again
    assert set(loaded.messages) == {first, second}

    # Another node pauses a campaign: only the database knows.
    with sql.begin() as c:
        c.execute(
            sa.text(
                "UPDATE campaigns SET status = 'paused', updated_at = updated_at + :later "
                "WHERE id = :id"
            ).bindparams(later=timedelta(seconds=1))
            if sql.dialect.name == "postgresql"
            else sa.text(
                "UPDATE campaigns SET status = 'paused', "
                "updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = :id"
            ),
            {"id": second},
        )
    reloaded = live.call(live_set)
    assert reloaded is not loaded
    assert set(reloaded.messages) == {first}
    assert [m["campaign_id"] for m in decide(client, tenant, "ana")["messages"]] == [first]

    # A segment edit elsewhere changes the stamp too (audiences may name segments).
    r = client.post(
        "/v1/segments",
        json={"name": "pros", "rule": {"attribute": "plan", "op": "eq", "value": "pro"}},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 201, r.text
    assert live.call(live_set) is not reloaded


def test_decisions_answer_from_the_stale_set_while_it_reloads(
    client: httpx.Client,
    tenant: Tenant,
    sql: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identify(client, tenant, "ana")
    first = launch(client, tenant, {"format": "modal", "title": "One", "buttons": [OK]})
    second = launch(client, tenant, {"format": "banner", "body": "Two"}, name="two")

    def shown() -> set[int]:
        return {m["campaign_id"] for m in decide(client, tenant, "ana")["messages"]}

    assert shown() == {first, second}
    monkeypatch.setattr(specs, "LIVE_TTL", 0.0)
    with sql.begin() as c:
        c.execute(
            sa.text("UPDATE campaigns SET status = 'paused', updated_at = :t WHERE id = :id"),
            {"id": second, "t": datetime.now(UTC) + timedelta(seconds=1)},
        )
    # The background reload lands within a few decisions; none waits for it.
    deadline = time.monotonic() + 10
    while shown() != {first}:
        assert time.monotonic() < deadline, "the paused campaign was never dropped"
        time.sleep(0.02)
