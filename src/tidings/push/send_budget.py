"""The attention budget checked again when a row is about to go out: a row held for quiet
hours, a local time or an event's delay may leave hours after it was planned, when the
user has had their fill (any channel, in-app included). Such rows become `suppressed`
with reason `budget`, as the planner would have decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.push import planner, queries
from tidings.push.fanout import rules_of
from tidings.tenancy.queries import get_app

REASON = "budget"  # the planner's word


async def over_budget(
    s: AsyncSession, c: Campaign, mine: Sequence[tuple[int, int, int]], now: datetime
) -> list[int]:
    """Ids among `mine` (delivery id, user id, occurrence) whose user is over the budget
    at `now`. Messages of the same campaign occurrence (another device of the user, sent
    by an earlier run) do not count: it is one message to them."""
    if not mine:
        return []
    app = await get_app(s, c.app_id)
    rules = rules_of(c, app.settings if app is not None else {})
    if rules.exempt_from_budget:
        return []
    sending = {(uid, occ) for _, uid, occ in mine}
    users = sorted({uid for uid, _ in sending})
    recent = await queries.recent_messages(
        s, users, queries.recent_since(now), besides=(c.id, sending)
    )
    spent = {
        uid
        for uid in users
        if planner.over_budget(recent.get(uid, ()), now, rules.budget) is not None
    }
    return [i for i, uid, _ in mine if uid in spent]


async def hold_back(ctx: AppContext, c: Campaign, rows: Sequence[Any], now: datetime) -> list[int]:
    """Suppress the rows (of `queries.sendable`) whose user is now over budget; returns
    their ids. Transactional rows skip the budget: the user is waiting for them."""
    mine = [
        (r.id, r.user_id, r.occurrence)
        for r in rows
        if not (isinstance(r.data, dict) and r.data.get("transactional"))
    ]
    if not mine:
        return []
    # Read first: most runs suppress nothing and SQLite's one writer is precious.
    async with ctx.db.read() as s:
        spent = await over_budget(s, c, mine, now)
    if spent:
        d = queries.deliveries
        async with ctx.db.write() as s:
            await s.execute(
                sa.update(d)
                .where(d.c.id.in_(spent), d.c.status == "queued")
                .values(status="suppressed", reason=REASON)
            )
    return spent
