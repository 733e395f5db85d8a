"""Push metrics of a campaign, read from its delivery rows and the users' sessions; and
recording an SDK-reported push open."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.db import table_of
from tidings.deliveries.queries import find_user
from tidings.errors import NotFound
from tidings.events.models import Event
from tidings.push import queries
from tidings.tenancy.auth import Caller
from tidings.users.verification import verify

events = table_of(Event)
SESSION_START = "$session_start"


class PushReport(BaseModel):
    campaign_id: int
    queued: int = Field(
        description="Waiting to be sent (scheduled, held for quiet hours, retrying)."
    )
    sending: int
    suppressed: dict[str, int] = Field(
        description="Reason → rows never sent (no_consent, control, …)."
    )
    sent: int = Field(description="Went out to a provider (delivered plus outcome unknown).")
    delivered: int = Field(description="Accepted by the provider.")
    failed: dict[str, int] = Field(description="Reason → rows that could not be sent.")
    opened: int = Field(description="Opens the SDK reported.")
    influenced_opens: int = Field(
        description="Sent pushes not opened whose user started a session within the window."
    )
    influence_hours: float
    users_reached: int


async def push_report(ctx: AppContext, caller: Caller, campaign_id: int) -> PushReport:
    d = queries.deliveries
    hours = ctx.settings.push_influence_hours
    async with ctx.db.read() as s:
        c = await s.get(Campaign, campaign_id)
        if c is None or c.app_id != caller.app_id:
            raise NotFound(f"no campaign {campaign_id}", field="campaign_id")
        mine = sa.and_(d.c.campaign_id == campaign_id, d.c.channel.in_(queries.CHANNELS))
        counts = (
            await s.execute(
                sa.select(d.c.status, d.c.reason, sa.func.count())
                .where(mine)
                .group_by(d.c.status, d.c.reason)
            )
        ).all()
        opened = (
            await s.execute(sa.select(sa.func.count()).where(mine, d.c.clicked_at.is_not(None)))
        ).scalar_one()
        reached = (
            await s.execute(
                sa.select(sa.func.count(sa.distinct(d.c.user_id))).where(
                    mine, d.c.displayed_at.is_not(None)
                )
            )
        ).scalar_one()
        went = (
            await s.execute(
                sa.select(d.c.user_id, d.c.displayed_at).where(
                    mine, d.c.displayed_at.is_not(None), d.c.clicked_at.is_(None)
                )
            )
        ).all()
        sessions: dict[int, list[datetime]] = {}
        if went:
            first = min(at for _, at in went)
            users = sorted({u for u, _ in went})
            for i in range(0, len(users), 1000):
                rows = await s.execute(
                    sa.select(events.c.user_id, events.c.timestamp).where(
                        events.c.app_id == caller.app_id,
                        events.c.name == SESSION_START,
                        events.c.user_id.in_(users[i : i + 1000]),
                        events.c.timestamp >= first,
                    )
                )
                for uid, ts in rows.all():
                    sessions.setdefault(uid, []).append(ts)
    window = timedelta(hours=hours)
    influenced = sum(
        1 for uid, at in went if any(at <= ts <= at + window for ts in sessions.get(uid, ()))
    )
    by_status: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for status, reason, n in counts:
        by_status[status] += n
        if status == "suppressed":
            suppressed[reason or "unknown"] += n
        elif status == "failed":
            failed[reason or "unknown"] += n
    return PushReport(
        campaign_id=campaign_id,
        queued=by_status["queued"],
        sending=by_status["sending"],
        suppressed=dict(suppressed),
        sent=by_status["sent"] + by_status["delivered"],
        delivered=by_status["delivered"],
        failed=dict(failed),
        opened=int(opened),
        influenced_opens=influenced,
        influence_hours=hours,
        users_reached=int(reached),
    )


class PushOpenIn(BaseModel):
    """An SDK's report that the user opened a push (the `tidings_id` it carried)."""

    model_config = ConfigDict(extra="forbid")
    external_id: str | None = Field(None, min_length=1, max_length=255)
    anonymous_id: str | None = Field(None, min_length=1, max_length=255)
    user_hash: str | None = Field(None, max_length=128)
    delivery_id: int = Field(ge=1)
    action_id: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _someone(self) -> PushOpenIn:
        if self.external_id is None and self.anonymous_id is None:
            raise ValueError("external_id or anonymous_id is required")
        return self


class PushOpenOut(BaseModel):
    status: str = Field(description="`recorded` or `duplicate`.")


async def record_open(ctx: AppContext, caller: Caller, body: PushOpenIn) -> PushOpenOut:
    """Mark the user's push delivery opened (idempotent); 404 for anyone else's."""
    verify(caller, ctx.box, body.external_id, body.user_hash)
    d = queries.deliveries
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        who = await find_user(
            s, caller.app_id, external_id=body.external_id, anonymous_id=body.anonymous_id
        )
        row = (
            await s.execute(
                sa.select(d.c.id, d.c.clicked_at, d.c.data).where(
                    d.c.id == body.delivery_id,
                    d.c.app_id == caller.app_id,
                    d.c.channel.in_(queries.CHANNELS),
                    d.c.user_id == (who[0] if who else -1),
                    d.c.displayed_at.is_not(None),
                )
            )
        ).first()
        if row is None:
            raise NotFound("no push delivery to this user with this id", field="delivery_id")
        if row.clicked_at is not None:
            return PushOpenOut(status="duplicate")
        data = dict(row.data or {})
        if body.action_id:
            data["action_id"] = body.action_id
        await s.execute(sa.update(d).where(d.c.id == row.id).values(clicked_at=now, data=data))
    return PushOpenOut(status="recorded")
