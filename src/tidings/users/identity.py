"""Resolve (external id, anonymous id) pairs to users; create and merge as needed.

Rules (Segment-style):
- an anonymous id belongs to one user; identifying it with an external id claims that
  user (or merges it into the existing identified user, moving its whole history);
- an anonymous id already claimed by another identified user is never merged across:
  the request goes to the external id's user, which is a different person on a shared
  device.
Concurrency-safe: creation is INSERT .. ON CONFLICT DO NOTHING, then re-read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import dialect_insert, table_of
from tidings.devices.models import Device
from tidings.events.models import Event
from tidings.profiles import queries as profile_queries
from tidings.users.models import AnonymousId, User


@dataclass(frozen=True)
class Identity:
    external_id: str | None
    anonymous_id: str | None


@dataclass
class Resolved:
    user_id: int
    external_id: str | None
    merged_user_ids: list[int] = field(default_factory=list)


async def _user_by_external(
    s: AsyncSession, app_id: int, external_id: str
) -> tuple[int, str | None] | None:
    row = (
        await s.execute(
            select(User.id, User.external_id).where(
                User.app_id == app_id, User.external_id == external_id
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _user_by_anonymous(
    s: AsyncSession, app_id: int, anonymous_id: str
) -> tuple[int, str | None] | None:
    row = (
        await s.execute(
            select(User.id, User.external_id)
            .join(AnonymousId, AnonymousId.user_id == User.id)
            .where(AnonymousId.app_id == app_id, AnonymousId.anonymous_id == anonymous_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _create_user(s: AsyncSession, app_id: int, external_id: str | None, now: datetime) -> int:
    values: dict[str, Any] = {
        "app_id": app_id,
        "external_id": external_id,
        "attributes": {},
        "consent": {},
        "last_values": {},
        "session_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    stmt = dialect_insert(s, table_of(User)).values(**values)
    if external_id is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["app_id", "external_id"])
    new_id = (await s.execute(stmt.returning(table_of(User).c.id))).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    assert external_id is not None
    found = await _user_by_external(s, app_id, external_id)
    assert found is not None, "user vanished between conflict and re-read"
    return found[0]


async def _alias(
    s: AsyncSession, app_id: int, anonymous_id: str, user_id: int, now: datetime
) -> int:
    """Point `anonymous_id` at `user_id` unless it already points elsewhere; return the owner."""
    stmt = (
        dialect_insert(s, table_of(AnonymousId))
        .values(app_id=app_id, anonymous_id=anonymous_id, user_id=user_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["app_id", "anonymous_id"])
    )
    await s.execute(stmt)
    owner = await _user_by_anonymous(s, app_id, anonymous_id)
    assert owner is not None
    return owner[0]


async def resolve(s: AsyncSession, app_id: int, who: Identity, now: datetime) -> Resolved:
    """The user `who` names, created or merged as the rules above say."""
    ext, anon = who.external_id, who.anonymous_id
    if ext is None and anon is None:
        raise ValueError("an identity needs an external or anonymous id")
    if anon is None:
        assert ext is not None
        found = await _user_by_external(s, app_id, ext)
        return Resolved(found[0] if found else await _create_user(s, app_id, ext, now), ext)

    by_anon = await _user_by_anonymous(s, app_id, anon)
    if ext is None:
        if by_anon:
            return Resolved(by_anon[0], by_anon[1])
        user_id = await _create_user(s, app_id, None, now)
        owner = await _alias(s, app_id, anon, user_id, now)
        if owner != user_id:  # lost a race for this anonymous id: use the winner
            await s.execute(delete(User).where(User.id == user_id))
        found_anon = await _user_by_anonymous(s, app_id, anon)
        assert found_anon is not None
        return Resolved(owner, found_anon[1])

    by_ext = await _user_by_external(s, app_id, ext)
    if by_ext is None:
        if by_anon and by_anon[1] is None:
            # The anonymous user becomes this known user.
            await s.execute(
                update(User).where(User.id == by_anon[0]).values(external_id=ext, updated_at=now)
            )
            return Resolved(by_anon[0], ext)
        user_id = await _create_user(s, app_id, ext, now)
        if by_anon is None:
            await _alias(s, app_id, anon, user_id, now)
        return Resolved(user_id, ext)

    if by_anon is None:
        await _alias(s, app_id, anon, by_ext[0], now)
        return Resolved(by_ext[0], ext)
    if by_anon[0] != by_ext[0] and by_anon[1] is None:
        await merge_users(s, source_id=by_anon[0], target_id=by_ext[0], now=now)
        return Resolved(by_ext[0], ext, [by_anon[0]])
    return Resolved(by_ext[0], ext)


async def merge_users(s: AsyncSession, *, source_id: int, target_id: int, now: datetime) -> None:
    """Move everything of `source` onto `target`, then delete `source`."""
    src = await s.get(User, source_id)
    dst = await s.get(User, target_id)
    assert src is not None and dst is not None
    for table in (Event, Device, AnonymousId):
        await s.execute(update(table).where(table.user_id == source_id).values(user_id=target_id))
    await profile_queries.merge_aggregates(s, source_id=source_id, target_id=target_id)
    # The identified user's own values win; the anonymous history fills the gaps.
    dst.attributes = {**src.attributes, **dst.attributes}
    dst.consent = {**src.consent, **dst.consent}
    dst.last_values = {**src.last_values, **dst.last_values}
    for attr in ("locale", "timezone", "country", "region", "city", "latitude", "longitude"):
        if getattr(dst, attr) is None:
            setattr(dst, attr, getattr(src, attr))
    if src.first_seen_at and (dst.first_seen_at is None or src.first_seen_at < dst.first_seen_at):
        dst.first_seen_at = src.first_seen_at
    if src.last_seen_at and (dst.last_seen_at is None or src.last_seen_at > dst.last_seen_at):
        dst.last_seen_at = src.last_seen_at
    dst.session_count += src.session_count
    dst.created_at = min(dst.created_at, src.created_at)
    dst.updated_at = now
    await s.flush()
    await s.execute(delete(User).where(User.id == source_id))
    s.expunge(src)
