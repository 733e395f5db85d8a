"""Run the report's statements; plain values out, never commits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.analytics.sql import GoalSpec, Sql
from tidings.db import dialect_name

# SQLite's own default (2 MB). The report touches far more pages than any cache holds:
# a small cache recycling its pages beat the connections' 64 MB one, which allocates a
# fresh page for each read (0.53 vs 0.61 s on a cold connection; memory-mapped reads
# 0.65 s; bench/analytics.py, 1M deliveries).
REPORT_CACHE_KIB = 2000


@dataclass(slots=True)
class ArmCounts:
    """Everything counted for one variant (or the control arm)."""

    variant: str
    targeted: int = 0
    sent: int = 0
    delivered: int = 0
    displayed: int = 0
    clicked_rows: int = 0
    dismissed: int = 0
    completed: int = 0
    opens: int = 0
    influenced_opens: int = 0
    exposed: int = 0
    clicked: int = 0
    converted: int = 0
    conversions: int = 0
    revenue: float = 0.0
    clicked_converted: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    buttons: dict[str, int] = field(default_factory=dict)


def sql_for(s: AsyncSession, now: datetime) -> Sql:
    return Sql(dialect_name(s), now)


async def arm_counts(
    s: AsyncSession,
    app_id: int,
    campaign_id: int,
    goal: GoalSpec | None,
    now: datetime,
    *,
    channel: str,
    influence_hours: int = 12,
) -> dict[str, ArmCounts]:
    """variant → counts, from three or four aggregate queries. One after another: run at
    once on SQLite they were slower than in turn (measured, bench/analytics.py)."""
    q = sql_for(s, now)

    async def rows(statement: Any) -> list[Any]:
        return list((await s.execute(statement)).mappings())

    cache_size = None
    if not q.pg:
        # Only for this read: the pooled connection gets its own size back.
        cache_size = (await s.execute(sa.text("PRAGMA cache_size"))).scalar_one()
        await s.execute(sa.text(f"PRAGMA cache_size=-{REPORT_CACHE_KIB}"))
    try:
        funnel = await rows(q.arms(app_id, campaign_id, goal))
        outcomes = await rows(q.outcomes(campaign_id))
        buttons = await rows(q.buttons(campaign_id))
        influenced = []
        if channel != "in_app":
            influenced = await rows(q.influenced_opens(app_id, campaign_id, influence_hours))
    finally:
        if cache_size is not None:
            await s.execute(sa.text(f"PRAGMA cache_size={int(cache_size)}"))
    arms: dict[str, ArmCounts] = {}

    def arm(key: str | None) -> ArmCounts:
        k = key or ""
        if k not in arms:
            arms[k] = ArmCounts(k)
        return arms[k]

    for r in funnel:
        a = arm(r["variant"])
        a.targeted, a.exposed = r["targeted"], int(r["exposed"] or 0)
        a.displayed, a.clicked_rows = int(r["displayed"] or 0), int(r["clicked_any"] or 0)
        a.clicked = int(r["clicked"] or 0)
        a.dismissed, a.completed = int(r["dismissed"] or 0), int(r["completed"] or 0)
        a.sent, a.delivered = int(r["sent"] or 0), int(r["delivered"] or 0)
        a.opens = int(r["opens"] or 0)
        if goal is not None:
            a.converted, a.conversions = int(r["converted"]), int(r["conversions"])
            a.revenue, a.clicked_converted = float(r["revenue"]), int(r["clicked_converted"])
    for r in outcomes:
        target = (
            arm(r["variant"]).suppressed
            if r["status"] == "suppressed"
            else arm(r["variant"]).failed
        )
        reason = r["reason"] or "unknown"
        target[reason] = target.get(reason, 0) + r["n"]
    for r in buttons:
        arm(r["variant"]).buttons[str(r["button"])] = r["n"]
    for r in influenced:
        arm(r["variant"]).influenced_opens = r["n"]
    return arms


async def series(
    s: AsyncSession, app_id: int, campaign_id: int, goal: GoalSpec | None, now: datetime, by: str
) -> dict[tuple[str, str], list[int]]:
    """(bucket, variant) → [exposed, clicked, converted]."""
    q = sql_for(s, now)
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for i, statement in enumerate(q.series(app_id, campaign_id, goal, by)):
        for variant, bucket, n in (await s.execute(statement)).all():
            out[(str(bucket), variant)][i] = n
    return dict(out)


async def breakdown(
    s: AsyncSession,
    app_id: int,
    campaign_id: int,
    goal: GoalSpec | None,
    now: datetime,
    dimension: str,
) -> list[dict[str, Any]]:
    q = sql_for(s, now)
    rows = await s.execute(q.breakdown(app_id, campaign_id, goal, dimension))
    return [dict(r) for r in rows.mappings()]


async def answers(
    s: AsyncSession, campaign_id: int, now: datetime
) -> list[tuple[str, int, dict[str, Any], datetime]]:
    """(variant, user id, data, completed at) of every completed showing."""
    rows = await s.execute(sql_for(s, now).answers(campaign_id))
    return [(r[0], r[1], r[2], r[3]) for r in rows.all()]


async def first_exposed_before(
    s: AsyncSession, campaign_id: int, now: datetime, moment: datetime
) -> dict[str, int]:
    """variant → users whose first exposure came before `moment` (SRM after a winner)."""
    q = sql_for(s, now)
    firsts = q.firsts(campaign_id)
    rows = await s.execute(
        sa.select(firsts.c.variant, sa.func.count())
        .where(firsts.c.exposed_at < moment)
        .group_by(firsts.c.variant)
    )
    return {v: n for v, n in rows.all()}
