"""A campaign's rate limit across every worker: each send run reserves its own time slot
of `n / rate` seconds on the campaign's `paced_until`, in a write transaction (the row is
locked on PostgreSQL; SQLite has one writer), then paces its sends inside that slot.
Two runs of one campaign, in one process or in two, never share a slot.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from tidings.campaigns.models import Campaign
from tidings.clock import Clock
from tidings.context import AppContext
from tidings.db import table_of

campaigns = table_of(Campaign)


@dataclass(frozen=True, slots=True)
class Slot:
    """Sends `count` messages from `start` on, one every `gap` seconds (ends at `end`)."""

    start: datetime
    count: int
    gap: float

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.count * self.gap)

    def moment(self, i: int) -> datetime:
        """When the `i`-th send of the slot (from 0) may go."""
        return self.start + timedelta(seconds=i * self.gap)


def next_slot(paced_until: datetime | None, now: datetime, count: int, rate: float) -> Slot:
    """PURE: the slot after the last reserved one (or from now, if that one is over)."""
    start = now if paced_until is None or paced_until < now else paced_until
    return Slot(start, count, 1.0 / rate)


async def reserve(ctx: AppContext, campaign_id: int, count: int, rate: float) -> Slot:
    """Reserve the campaign's next slot for `count` sends and move `paced_until` past it."""
    async with ctx.db.write() as s:
        now = ctx.clock.now()
        until = (
            await s.execute(
                sa.select(campaigns.c.paced_until)
                .where(campaigns.c.id == campaign_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        slot = next_slot(until, now, count, rate)
        await s.execute(
            sa.update(campaigns).where(campaigns.c.id == campaign_id).values(paced_until=slot.end)
        )
    return slot


class Pacer:
    """Hands out the slot's moments in order; `wait()` sleeps until the next one.
    Without a slot (no rate limit) it never waits."""

    def __init__(self, slot: Slot | None, clock: Clock) -> None:
        self.slot = slot
        self._clock = clock
        self._next = 0
        self.sent_at: list[datetime] = []  # when each wait returned: what the slot allowed

    async def wait(self) -> None:
        if self.slot is None:
            return
        at = self.slot.moment(self._next)
        self._next += 1
        delay = (at - self._clock.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        self.sent_at.append(self._clock.now())


async def pacer_for(ctx: AppContext, campaign_id: int, rate: float | None, count: int) -> Pacer:
    """The pacer of one send run: a reserved slot when the campaign has a rate limit."""
    if not rate or count <= 0:
        return Pacer(None, ctx.clock)
    return Pacer(await reserve(ctx, campaign_id, count, float(rate)), ctx.clock)
