"""Event look-ups for the server API, newest first; never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.events.models import DroppedEvent, Event

# A position in a newest-first list: (time, id) of the last row already seen.
After = tuple[datetime, int] | None


async def user_events(
    s: AsyncSession,
    app_id: int,
    user_id: int,
    *,
    name: str | None,
    since: datetime | None,
    until: datetime | None,
    after: After,
    limit: int,
) -> list[Event]:
    """The user's events, newest first (ties by id), older than `after`; at most `limit`."""
    stmt = select(Event).where(Event.app_id == app_id, Event.user_id == user_id)
    if name is not None:
        stmt = stmt.where(Event.name == name)
    if since is not None:
        stmt = stmt.where(Event.timestamp >= since)
    if until is not None:
        stmt = stmt.where(Event.timestamp < until)
    if after is not None:
        at, row_id = after
        stmt = stmt.where(or_(Event.timestamp < at, and_(Event.timestamp == at, Event.id < row_id)))
    stmt = stmt.order_by(Event.timestamp.desc(), Event.id.desc()).limit(limit)
    return list((await s.execute(stmt)).scalars())


async def dropped_events(
    s: AsyncSession,
    app_id: int,
    *,
    code: str | None,
    since: datetime | None,
    after: After,
    limit: int,
) -> list[DroppedEvent]:
    """The app's dropped events, newest first (ties by id), older than `after`."""
    stmt = select(DroppedEvent).where(DroppedEvent.app_id == app_id)
    if code is not None:
        stmt = stmt.where(DroppedEvent.code == code)
    if since is not None:
        stmt = stmt.where(DroppedEvent.received_at >= since)
    if after is not None:
        at, row_id = after
        stmt = stmt.where(
            or_(
                DroppedEvent.received_at < at,
                and_(DroppedEvent.received_at == at, DroppedEvent.id < row_id),
            )
        )
    stmt = stmt.order_by(DroppedEvent.received_at.desc(), DroppedEvent.id.desc()).limit(limit)
    return list((await s.execute(stmt)).scalars())
