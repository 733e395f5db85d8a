"""Recording interactions: impressions (caps and budget re-checked), clicks, dismissals,
survey answers, inbox reads, tour steps. Idempotent by the delivery key.

A batch is one transaction, applied in order, so an impression and the click after it
may arrive together. On SQLite writers are serialized; on PostgreSQL the user's row is
locked first, so two tabs recording impressions at once see each other's (the cap holds).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns import specs
from tidings.campaigns.client_schemas import (
    Interaction,
    InteractionResult,
    InteractionsIn,
    InteractionsOut,
)
from tidings.campaigns.decisions import budget_values
from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.db import dialect_name
from tidings.deliveries import queries
from tidings.deliveries.interaction_events import interaction_events, track_interactions
from tidings.deliveries.models import Delivery
from tidings.errors import NotFound
from tidings.inapp.decide import verdict
from tidings.inapp.model import Budget
from tidings.tenancy.auth import Caller
from tidings.users.models import User
from tidings.users.verification import verify

_RANK = {"displayed": 1, "dismissed": 2, "clicked": 3}


def _advance(d: Delivery, status: str) -> None:
    if _RANK.get(status, 0) > _RANK.get(d.status, 0):
        d.status = status


async def record(ctx: AppContext, caller: Caller, body: InteractionsIn) -> InteractionsOut:
    """One result per interaction, in order: recorded, duplicate, or refused (why)."""
    verify(caller, ctx.box, body.external_id, body.user_hash)
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        who = await queries.find_user(
            s, caller.app_id, external_id=body.external_id, anonymous_id=body.anonymous_id
        )
        if who is None:
            raise NotFound("no such user in this app; identify first", field="external_id")
        user_id = who[0]
        tz_query = sa.select(User.timezone).where(User.id == user_id)
        if dialect_name(s) == "postgresql":
            tz_query = tz_query.with_for_update()
        timezone = (await s.execute(tz_query)).scalar_one_or_none()
        ids = sorted({i.campaign_id for i in body.interactions})
        rows = await s.execute(
            sa.select(Campaign).where(Campaign.app_id == caller.app_id, Campaign.id.in_(ids))
        )
        campaigns = {c.id: c for c in rows.scalars()}
        budget = budget_values(caller)
        results = []
        for item in body.interactions:
            campaign = campaigns.get(item.campaign_id)
            if campaign is None:
                results.append(InteractionResult(status="refused", reason="unknown_campaign"))
                continue
            results.append(
                await _apply(s, campaign, user_id, body.session_id, item, budget, timezone, now)
            )
        variants = await queries.variants_of(s, user_id, ids)
    formats = {c.id: c.format for c in campaigns.values()}
    events = interaction_events(body, results, user_id, variants, formats, now.timestamp())
    await track_interactions(ctx, caller, body, events)
    return InteractionsOut(results=results)


async def _apply(
    s: AsyncSession,
    c: Campaign,
    user_id: int,
    session_id: str | None,
    item: Interaction,
    budget: Budget,
    timezone: str | None,
    now: datetime,
) -> InteractionResult:
    d = await queries.get_delivery(s, c.id, user_id, item.occurrence)
    if item.type == "impression":
        return await _impression(s, c, d, user_id, session_id, item, budget, timezone, now)
    if item.type == "inbox_read":
        if c.format != "post":
            return InteractionResult(status="refused", reason="not_a_post")
        if d is None:
            # A post read is not a showing: it never counts against caps or the budget.
            d = _new(c, user_id, 1, session_id, now, status="delivered")
            d.displayed_at = None
            s.add(d)
        if d.read_at is not None:
            return InteractionResult(status="duplicate")
        d.read_at = now
        return InteractionResult(status="recorded")
    if d is None or d.displayed_at is None:
        return InteractionResult(status="refused", reason="no_impression")
    data = dict(d.data)
    if item.type == "click":
        clicks = list(data.get("clicks", []))
        if d.clicked_at is not None and item.button_id in clicks:
            return InteractionResult(status="duplicate")
        if item.button_id is not None:
            clicks.append(item.button_id)
        data["clicks"] = clicks
        d.clicked_at = d.clicked_at or now
        _advance(d, "clicked")
    elif item.type == "dismiss":
        if d.dismissed_at is not None:
            return InteractionResult(status="duplicate")
        d.dismissed_at = now
        _advance(d, "dismissed")
    elif item.type == "answer":
        if d.completed_at is not None:
            return InteractionResult(status="duplicate")
        data["answers"] = item.answers
        d.completed_at = now
    elif item.type == "step_seen":
        steps = list(data.get("steps", []))
        if item.step in steps:
            return InteractionResult(status="duplicate")
        data["steps"] = [*steps, item.step]
    elif item.type == "tour_completed":
        if d.completed_at is not None:
            return InteractionResult(status="duplicate")
        d.completed_at = now
    d.data = data
    return InteractionResult(status="recorded")


def _new(
    c: Campaign, user_id: int, occurrence: int, session_id: str | None, now: datetime, status: str
) -> Delivery:
    return Delivery(
        app_id=c.app_id,
        campaign_id=c.id,
        variant="",
        user_id=user_id,
        channel=queries.IN_APP,
        device_id=None,
        device_key=0,
        occurrence=occurrence,
        status=status,
        format=c.format,
        session_id=session_id,
        created_at=now,
        displayed_at=now,
        data={},
    )


async def _impression(
    s: AsyncSession,
    c: Campaign,
    d: Delivery | None,
    user_id: int,
    session_id: str | None,
    item: Interaction,
    budget: Budget,
    timezone: str | None,
    now: datetime,
) -> InteractionResult:
    """Record a showing unless it would break a cap, the schedule or the budget."""
    if d is not None and d.displayed_at is not None:
        return InteractionResult(status="duplicate")
    spec = specs.spec_of(c, now)
    shown = await queries.history(s, user_id)
    v = verdict(
        spec,
        user_id=user_id,
        in_audience=True,
        history=shown,
        session_id=session_id,
        budget=budget,
        timezone=timezone,
        now=now,
    )
    if v.reason == queries.CONTROL_REASON:
        return await _holdout(s, c, user_id, session_id, now)
    if not v.eligible:
        return InteractionResult(status="refused", reason=v.reason)
    if item.occurrence != v.occurrence:
        # A showing decided before another tab's impression: it would be a second one.
        return InteractionResult(status="refused", reason="stale_occurrence")
    assert v.variant is not None
    if d is None:
        d = _new(c, user_id, item.occurrence, session_id, now, status="displayed")
        s.add(d)
    d.variant = v.variant
    d.displayed_at = now
    d.status = "displayed"
    d.session_id = session_id
    await s.flush()
    return InteractionResult(status="recorded")


async def _holdout(
    s: AsyncSession, c: Campaign, user_id: int, session_id: str | None, now: datetime
) -> InteractionResult:
    """Log a holdout user's exposure (the moment the message would have shown) once: a
    never-displayed `suppressed` row, so lift against showing nothing is measurable."""
    if await queries.get_delivery(s, c.id, user_id, 1) is not None:
        return InteractionResult(status="duplicate")
    row = _new(c, user_id, 1, session_id, now, status="suppressed")
    row.variant = queries.CONTROL_REASON
    row.reason = queries.CONTROL_REASON
    row.displayed_at = None
    s.add(row)
    return InteractionResult(status="recorded")
