"""Segment and audience look-ups; never commit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import table_of
from tidings.segments.models import Segment
from tidings.users.models import User

_users = table_of(User)


async def get_segment(s: AsyncSession, app_id: int, segment_id: int) -> Segment | None:
    """The segment if it belongs to `app_id`; missing and foreign look the same (None)."""
    segment = await s.get(Segment, segment_id)
    return segment if segment is not None and segment.app_id == app_id else None


async def list_segments(s: AsyncSession, app_id: int, *, after: int, limit: int) -> list[Segment]:
    rows = await s.execute(
        sa.select(Segment)
        .where(Segment.app_id == app_id, Segment.id > after)
        .order_by(Segment.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def stored_rules(s: AsyncSession, app_id: int) -> dict[int, dict[str, Any]]:
    """Every segment rule of the app, as stored (to resolve references)."""
    rows = await s.execute(sa.select(Segment.id, Segment.rule).where(Segment.app_id == app_id))
    return {sid: rule for sid, rule in rows.all()}


async def name_taken(s: AsyncSession, app_id: int, name: str, *, besides: int | None) -> bool:
    query = sa.select(Segment.id).where(Segment.app_id == app_id, Segment.name == name)
    if besides is not None:
        query = query.where(Segment.id != besides)
    return (await s.execute(query.limit(1))).first() is not None


async def find_user_id(
    s: AsyncSession, app_id: int, *, user_id: int | None, external_id: str | None
) -> int | None:
    """The app's user by internal or external id (None when not found or not the app's)."""
    query = sa.select(_users.c.id).where(_users.c.app_id == app_id)
    if user_id is not None:
        query = query.where(_users.c.id == user_id)
    else:
        query = query.where(_users.c.external_id == external_id)
    return (await s.execute(query)).scalar_one_or_none()


def members(app_id: int, condition: Any) -> sa.Select[tuple[int, str | None]]:
    """The app's users matching a compiled condition, as (id, external_id)."""
    return sa.select(_users.c.id, _users.c.external_id).where(_users.c.app_id == app_id, condition)


async def count(s: AsyncSession, query: sa.Select[Any]) -> int:
    return int(
        (await s.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    )


async def sample(s: AsyncSession, query: sa.Select[Any], size: int) -> list[tuple[int, str | None]]:
    """Up to `size` members at random."""
    if size == 0:
        return []
    rows = await s.execute(query.order_by(sa.func.random()).limit(size))
    return [(r[0], r[1]) for r in rows.all()]


async def page(
    s: AsyncSession, query: sa.Select[Any], *, after: int, limit: int
) -> list[tuple[int, str | None]]:
    """Members with id > `after`, ascending (keyset pagination)."""
    rows = await s.execute(query.where(_users.c.id > after).order_by(_users.c.id).limit(limit))
    return [(r[0], r[1]) for r in rows.all()]
