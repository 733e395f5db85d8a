"""The periodic automatic-winner job records a winner nobody read a report for, only once
the rule's minimum sample and significance are met, and schedules its next run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from tests.conftest import Tenant
from tests.integration.test_analytics import expose, launch, modal, unlimited
from tests.integration.test_inapp import identify, track
from tests.integration.test_jobs import FAST

from tidings.analytics import winner_job
from tidings.clock import FrozenClock
from tidings.context import AppContext
from tidings.jobs.handlers import Registry
from tidings.jobs.worker import Worker
from tidings.testing.live import LiveServer

# Far ahead of the real clock: the server's own worker never finds this run due.
T0 = datetime(2032, 6, 1, 10, 7, tzinfo=UTC)


def campaign(client: httpx.Client, tenant: Tenant, cid: int) -> dict[str, Any]:
    r = client.get(f"/v1/campaigns/{cid}", headers=tenant.server_headers())
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def test_the_job_records_a_clear_winner_and_skips_a_campaign_below_its_sample(
    client: httpx.Client, tenant: Tenant, live: LiveServer, sql: sa.Engine
) -> None:
    unlimited(client, tenant)
    two = [{"key": "a", "content": modal("A")}, {"key": "b", "content": modal("B")}]
    rule = {"min_exposed": 10, "alpha": 0.05}
    clear = launch(client, tenant, variants=two, goal={"event": "upgrade", "auto_winner": rule})
    # Exposed first, so first-touch attribution credits its conversions.
    small_goal = {"event": "signup", "attribution": "first_touch"}
    small = launch(
        client,
        tenant,
        variants=two,
        goal={**small_goal, "auto_winner": {**rule, "min_exposed": 1000}},
    )
    arm: dict[str, str] = {}
    small_arm: dict[str, str] = {}
    for i in range(40):
        who = f"j{i}"
        identify(client, tenant, who)
        small_arm[who] = expose(client, tenant, small, who)
        # Exposed last, so last-touch attribution credits its conversions.
        arm[who] = expose(client, tenant, clear, who)
    b_users = [u for u, a in arm.items() if a == "b"]
    assert len(b_users) >= 10
    assert len(arm) - len(b_users) >= 10
    for who in b_users:
        track(client, tenant, who, {"name": "upgrade"})
    for who in (u for u, a in small_arm.items() if a == "b"):
        track(client, tenant, who, {"name": "signup"})
    # Nobody read a report: no winner yet (reading one would record it).
    assert campaign(client, tenant, clear)["winner"] is None

    registry = Registry()
    registry.register(winner_job.AUTO_WINNER)(winner_job.run)

    async def run_job(ctx: AppContext) -> int:
        frozen = dataclasses.replace(ctx, clock=FrozenClock(T0))
        async with frozen.db.write() as s:
            await winner_job.schedule(s, T0, winner_job.every_of(frozen))
        return await Worker(frozen, registry, FAST).run_until_idle()

    # At least ours; the server's own start-up run may still be waiting too.
    assert live.call(run_job) >= 1
    won = campaign(client, tenant, clear)
    assert (won["winner"], won["winner_by"]) == ("b", "auto")
    assert campaign(client, tenant, small)["winner"] is None
    # Only its sample holds it back: its b arm is as clearly ahead.
    report = client.get(f"/v1/campaigns/{small}/report", headers=tenant.server_headers()).json()
    lift = next(a["lift"] for a in report["arms"] if a["variant"] == "b")
    assert lift["absolute"] > 0
    assert lift["sequential_p"] < 0.05 / 2
    assert report["winner"]["variant"] is None
    # The next run waits in the queue for the next slot.
    every = timedelta(minutes=live.ctx.settings.auto_winner_minutes)
    next_at = winner_job.slot_start(T0, every) + every
    with sql.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM jobs WHERE kind = :k AND unique_key = :u"),
            {"k": winner_job.AUTO_WINNER, "u": next_at.isoformat()},
        ).scalar_one()
    assert status == "queued"
    # New users now all get the winner.
    identify(client, tenant, "late")
    assert expose(client, tenant, clear, "late") == "b"


def test_slots_are_aligned_so_every_node_seeds_the_same_run() -> None:
    every = timedelta(minutes=15)
    assert winner_job.slot_start(T0, every) == datetime(2032, 6, 1, 10, 0, tzinfo=UTC)
    assert winner_job.slot_start(T0 + timedelta(minutes=8), every) == datetime(
        2032, 6, 1, 10, 15, tzinfo=UTC
    )
