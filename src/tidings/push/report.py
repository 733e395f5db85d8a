"""Push metrics of a campaign, read from its delivery rows and the users' sessions; and
recording an SDK-reported push open."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.db import table_of
from tidings.deliveries.queries import find_user
from tidings.errors import NotFound
from tidings.events.models import Event
from tidings.push import queries, time_in_app
from tidings.tenancy.auth import Caller
from tidings.users.verification import verify

events = table_of(Event)
SESSION_START = "$session_start"


class TimeInAppOut(BaseModel):
    median: float | None = Field(description="Seconds; null when no open is covered.")
    mean: float | None = Field(description="Seconds; null when no open is covered.")
    opens: int = Field(description="Opens followed by activity, which the figures cover.")


class DeviceAcks(BaseModel):
    """Rows acknowledged by the device they were sent to (a state implies the earlier ones:
    a `clicked` ack also counts as received and displayed)."""

    received: int = Field(description="The device has the message (any ack).")
    displayed: int = Field(description="A screen showed it.")
    clicked: int = Field(description="Someone acted on it (also counted in `opened`).")
    dismissed: int = Field(description="Someone dismissed it.")


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
    opened: int = Field(
        description="Opens the SDK reported (push) or `clicked` device acks (in-device)."
    )
    influenced_opens: int = Field(
        description="Sent pushes not opened whose user started a session within the window."
    )
    influence_hours: float
    users_reached: int
    time_in_app_after_open_seconds: TimeInAppOut = Field(
        description="From each push open to the user's last event of the activity that "
        "continues it (events at most 30 min apart, capped at 4 h): median and mean "
        "seconds over the opens followed by at least one event."
    )
    device_acks: DeviceAcks | None = Field(
        None, description="In-device campaigns: what the devices acknowledged over MQTT."
    )


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
        durations = await _time_in_app(s, caller.app_id, mine)
        acks = await _device_acks(s, mine) if c.channel == "device" else None
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
        time_in_app_after_open_seconds=TimeInAppOut(
            median=durations.median, mean=durations.mean, opens=durations.opens
        ),
        device_acks=acks,
    )


async def _time_in_app(s: AsyncSession, app_id: int, mine: Any) -> time_in_app.TimeInApp:
    """Time in app after each open of the campaign's pushes (the events of the users who
    opened, from their first open to the cap after their last)."""
    d = queries.deliveries
    opens = (
        await s.execute(
            sa.select(d.c.user_id, d.c.clicked_at).where(mine, d.c.clicked_at.is_not(None))
        )
    ).all()
    by_user: dict[int, list[datetime]] = {}
    for uid, at in opens:
        by_user.setdefault(uid, []).append(at)
    durations: list[float | None] = []
    users = sorted(by_user)
    for i in range(0, len(users), 1000):
        chunk = users[i : i + 1000]
        first = min(min(by_user[u]) for u in chunk)
        last = max(max(by_user[u]) for u in chunk) + time_in_app.CAP
        seen: dict[int, list[datetime]] = {}
        rows = await s.execute(
            sa.select(events.c.user_id, events.c.timestamp).where(
                events.c.app_id == app_id,
                events.c.user_id.in_(chunk),
                events.c.timestamp >= first,
                events.c.timestamp <= last,
            )
        )
        for uid, ts in rows.all():
            seen.setdefault(uid, []).append(ts)
        for uid in chunk:
            durations.extend(
                time_in_app.seconds_after_open(at, seen.get(uid, ())) for at in by_user[uid]
            )
    return time_in_app.summarize(durations)


async def _device_acks(s: AsyncSession, mine: Any) -> DeviceAcks:
    d = queries.deliveries
    row = (
        await s.execute(
            sa.select(
                sa.func.count(d.c.ack_received_at),
                sa.func.count(d.c.ack_displayed_at),
                sa.func.count(d.c.clicked_at),
                sa.func.count(d.c.dismissed_at),
            ).where(mine)
        )
    ).one()
    return DeviceAcks(
        received=int(row[0]), displayed=int(row[1]), clicked=int(row[2]), dismissed=int(row[3])
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
