"""Daily counts are a rolling window: days past it are pruned, recent ones stay."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa
from tests.conftest import Tenant

from tidings.context import AppContext
from tidings.profiles.models import DAILY_WINDOW_DAYS
from tidings.profiles.retention import prune_once
from tidings.testing.live import LiveServer


def test_prune_drops_only_days_past_the_window(
    live: LiveServer, tenant: Tenant, client: httpx.Client, sql: sa.Engine
) -> None:
    now = live.ctx.clock.now()
    old = now - timedelta(days=DAILY_WINDOW_DAYS + 3)
    recent = now - timedelta(days=DAILY_WINDOW_DAYS - 3)
    body = {
        "external_id": "retention-user",
        "events": [
            {"name": "open", "timestamp": old.isoformat(), "message_id": "ret-old"},
            {"name": "open", "timestamp": recent.isoformat(), "message_id": "ret-recent"},
        ],
    }
    r = client.post("/v1/track", json=body, headers=tenant.write_headers())
    assert r.status_code == 200, r.text
    days_sql = sa.text(
        "SELECT d.day FROM event_daily_counts d JOIN users u ON u.id = d.user_id "
        "WHERE u.app_id = :app ORDER BY d.day"
    )
    with sql.connect() as conn:
        assert len(conn.execute(days_sql, {"app": tenant.app_id}).all()) == 2

    async def prune(ctx: AppContext) -> int:
        return await prune_once(ctx)

    assert live.call(prune) >= 1
    with sql.connect() as conn:
        days = [str(d)[:10] for (d,) in conn.execute(days_sql, {"app": tenant.app_id}).all()]
        total = conn.execute(
            sa.text(
                "SELECT s.count FROM user_event_stats s JOIN users u ON u.id = s.user_id "
                "WHERE u.app_id = :app"
            ),
            {"app": tenant.app_id},
        ).scalar_one()
    assert days == [recent.date().isoformat()]
    assert total == 2  # all-time totals are not windowed
