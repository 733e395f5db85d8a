"""User look-ups; never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import dialect_name
from tidings.pagination import MAX_INT_ID
from tidings.profiles.models import EventDailyCount, UserEventStat
from tidings.users.models import AnonymousId, AttributeDefinition, User
from tidings.users.server_schemas import AttributeFilter, UserFilters


async def declared_types(s: AsyncSession, app_id: int) -> dict[str, str]:
    rows = await s.execute(
        select(AttributeDefinition.name, AttributeDefinition.type).where(
            AttributeDefinition.app_id == app_id
        )
    )
    return {name: type_ for name, type_ in rows.all()}


async def get_user(s: AsyncSession, app_id: int, user_id: int) -> User | None:
    """The user if it belongs to `app_id`; missing and foreign look the same (None)."""
    user = await s.get(User, user_id)
    return user if user is not None and user.app_id == app_id else None


async def anonymous_ids(s: AsyncSession, user_id: int) -> list[str]:
    rows = await s.execute(
        select(AnonymousId.anonymous_id)
        .where(AnonymousId.user_id == user_id)
        .order_by(AnonymousId.created_at)
    )
    return list(rows.scalars())


# Ids beyond the column's range cannot exist; answering "not found" early keeps PostgreSQL
# from rejecting the out-of-range parameter (users.id is a 32-bit integer there).
MAX_USER_ID = MAX_INT_ID


async def find_user(s: AsyncSession, app_id: int, user_id: int) -> User | None:
    """Like `get_user`, and also None for ids no user can have."""
    if not 1 <= user_id <= MAX_USER_ID:
        return None
    return await get_user(s, app_id, user_id)


def _attribute_condition(dialect: str, f: AttributeFilter) -> ColumnElement[bool]:
    value: Any = f.value
    if dialect == "postgresql":
        # Containment: no casts (another app's same-named attribute may hold another type),
        # JSON numbers compare numerically and a list contains the given element.
        wanted = {f.name: [value] if f.type == "list" else value}
        doc = type_coerce(User.attributes, JSONB())
        contained: ColumnElement[bool] = doc.contains(type_coerce(wanted, JSONB()))
        return contained
    path = f'$."{f.name}"'  # names cannot hold quotes (attributes.NAME_RE)
    if f.type == "list":
        items = func.json_each(User.attributes, path).table_valued("value")
        return exists().where(items.c.value == value)
    if f.type == "boolean":
        value = 1 if value else 0  # json_extract gives SQLite's 1/0 for true/false
    extracted: ColumnElement[Any] = func.json_extract(User.attributes, path)
    return cast(ColumnElement[bool], extracted == value)


def _user_conditions(dialect: str, app_id: int, f: UserFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [User.app_id == app_id]
    if f.external_id is not None:
        where.append(User.external_id == f.external_id)
    if f.anonymous_id is not None:
        where.append(
            User.id.in_(
                select(AnonymousId.user_id).where(
                    AnonymousId.app_id == app_id, AnonymousId.anonymous_id == f.anonymous_id
                )
            )
        )
    if f.seen_after is not None:
        where.append(User.last_seen_at >= f.seen_after)
    if f.seen_before is not None:
        where.append(User.last_seen_at < f.seen_before)
    if f.created_after is not None:
        where.append(User.created_at >= f.created_after)
    if f.q:
        where.append(
            or_(
                User.external_id.icontains(f.q, autoescape=True),
                User.id.in_(
                    select(AnonymousId.user_id).where(
                        AnonymousId.app_id == app_id,
                        AnonymousId.anonymous_id.icontains(f.q, autoescape=True),
                    )
                ),
            )
        )
    where.extend(_attribute_condition(dialect, a) for a in f.attributes)
    return where


async def list_users(
    s: AsyncSession, app_id: int, filters: UserFilters, *, after_id: int | None, limit: int
) -> list[User]:
    """Users of the app matching `filters`, by id, after `after_id`; at most `limit`."""
    stmt = select(User).where(*_user_conditions(dialect_name(s), app_id, filters))
    if after_id is not None:
        stmt = stmt.where(User.id > after_id)
    return list((await s.execute(stmt.order_by(User.id).limit(limit))).scalars())


async def anonymous_ids_of(s: AsyncSession, user_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each user's anonymous ids, oldest first (users without any map to [])."""
    out: dict[int, list[str]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return out
    rows = await s.execute(
        select(AnonymousId.user_id, AnonymousId.anonymous_id)
        .where(AnonymousId.user_id.in_(user_ids))
        .order_by(AnonymousId.created_at, AnonymousId.anonymous_id)
    )
    for uid, anon in rows.all():
        out[uid].append(anon)
    return out


async def event_totals(s: AsyncSession, user_id: int) -> list[UserEventStat]:
    """The user's all-time per-event totals, most frequent first."""
    stmt = (
        select(UserEventStat)
        .where(UserEventStat.user_id == user_id)
        .order_by(UserEventStat.count.desc(), UserEventStat.name)
    )
    return list((await s.execute(stmt)).scalars())


async def daily_counts(s: AsyncSession, user_id: int, since: date) -> list[EventDailyCount]:
    """The user's per-event daily counts from `since` on, by name then day."""
    stmt = (
        select(EventDailyCount)
        .where(EventDailyCount.user_id == user_id, EventDailyCount.day >= since)
        .order_by(EventDailyCount.name, EventDailyCount.day)
    )
    return list((await s.execute(stmt)).scalars())
