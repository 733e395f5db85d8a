"""The periodic automatic-winner job: every `auto_winner_minutes`, each active campaign
whose goal has an `auto_winner` rule and no winner yet is counted and, when the rule is
met, gets its winner recorded by the same code as a report read
(`actions.apply_auto_winner`). A campaign nobody looks at still stops its split.

The job re-enqueues itself for the next slot, and every server makes sure the current
slot's run exists at start-up and once a slot (`keep_scheduled`). The unique key is the
slot's start, so all of these make one chain, and a run that was missed or died is
replaced by the next slot's.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.analytics import actions
from tidings.campaigns import lifecycle
from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.jobs import queue
from tidings.jobs.queue import Claimed

AUTO_WINNER = "analytics.auto_winner"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

log = logging.getLogger("tidings.analytics")


def slot_start(now: datetime, every: timedelta) -> datetime:
    """The start of the `every`-long slot holding `now` (slots counted from EPOCH)."""
    return EPOCH + every * ((now - EPOCH) // every)


async def schedule(
    s: AsyncSession, now: datetime, every: timedelta, *, slots_ahead: int = 0
) -> None:
    """Make sure the run of the slot holding `now` (or one `slots_ahead`) exists;
    idempotent, in the caller's transaction."""
    at = slot_start(now, every) + every * slots_ahead
    await queue.enqueue(s, AUTO_WINNER, {}, now=now, run_at=at, unique_key=at.isoformat())


async def schedule_now(ctx: AppContext) -> None:
    """`schedule` in its own transaction: at server or worker start."""
    async with ctx.db.write() as s:
        await schedule(s, ctx.clock.now(), every_of(ctx))


async def keep_scheduled(ctx: AppContext) -> None:
    """Make sure the current slot's run exists, now and once a slot, until cancelled
    (server start-up): restarts the chain after the database comes up or a run died;
    failures are logged, not fatal."""
    while True:
        try:
            await schedule_now(ctx)
        except Exception:
            log.exception("scheduling the automatic-winner job failed; will retry")
        await asyncio.sleep(every_of(ctx).total_seconds())


def every_of(ctx: AppContext) -> timedelta:
    return timedelta(minutes=ctx.settings.auto_winner_minutes)


async def candidates(ctx: AppContext, now: datetime) -> list[Campaign]:
    """Campaigns, of every app, that are active now with a goal and no winner yet; the
    `auto_winner` rule itself is checked in Python (JSON differs by dialect)."""
    async with ctx.db.read() as s:
        found = await s.scalars(
            sa.select(Campaign)
            .where(
                Campaign.status.in_(("active", "scheduled")),
                Campaign.winner.is_(None),
                Campaign.goal.is_not(None),
            )
            .order_by(Campaign.id)
        )
        return [
            c
            for c in found
            if actions.wants_auto_winner(c)
            and lifecycle.effective_status(c.status, c.starts_at, c.ends_at, now) == "active"
        ]


async def run(ctx: AppContext, job: Claimed) -> None:
    """Handler of `analytics.auto_winner`: evaluate every candidate (a failing one is
    logged and skipped), then enqueue the next slot's run. Recording a winner is
    idempotent, so a rerun after a crash is harmless."""
    now = ctx.clock.now()
    every = every_of(ctx)
    for c in await candidates(ctx, now):
        try:
            picked = await actions.evaluate_auto_winner(ctx, c, now)
        except Exception:
            # One campaign that cannot be counted must not hold up the others.
            log.exception("automatic winner check failed", extra={"campaign_id": c.id})
            continue
        if picked.winner is not None:
            log.info(
                "automatic winner",
                extra={"campaign_id": c.id, "app_id": c.app_id, "variant": picked.winner},
            )
    async with ctx.db.write() as s:
        await schedule(s, now, every, slots_ahead=1)
