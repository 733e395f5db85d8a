"""Apply profile deltas and merge aggregates; never commit."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import UTCDateTime, dialect_insert, dialect_name, table_of
from tidings.profiles.aggregate import ProfileDeltas
from tidings.profiles.models import EventDailyCount, UserEventStat
from tidings.users.models import User

_daily = table_of(EventDailyCount)
_stats = table_of(UserEventStat)
_users = table_of(User)


def _daily_upsert(s: AsyncSession) -> Any:
    ins = dialect_insert(s, _daily)
    return ins.on_conflict_do_update(
        index_elements=["user_id", "name", "day"],
        set_={"count": _daily.c.count + ins.excluded.count},
    )


def _stats_upsert(s: AsyncSession) -> Any:
    ins = dialect_insert(s, _stats)
    ex = ins.excluded
    return ins.on_conflict_do_update(
        index_elements=["user_id", "name"],
        set_={
            "count": _stats.c.count + ex.count,
            "first_at": case(
                (ex.first_at < _stats.c.first_at, ex.first_at), else_=_stats.c.first_at
            ),
            "last_at": case((ex.last_at > _stats.c.last_at, ex.last_at), else_=_stats.c.last_at),
        },
    )


_touch_user = (
    update(_users)
    .where(_users.c.id == bindparam("uid"))
    .values(
        first_seen_at=case(
            (_users.c.first_seen_at.is_(None), bindparam("first", type_=UTCDateTime())),
            (
                bindparam("first", type_=UTCDateTime()) < _users.c.first_seen_at,
                bindparam("first", type_=UTCDateTime()),
            ),
            else_=_users.c.first_seen_at,
        ),
        last_seen_at=case(
            (_users.c.last_seen_at.is_(None), bindparam("last", type_=UTCDateTime())),
            (
                bindparam("last", type_=UTCDateTime()) > _users.c.last_seen_at,
                bindparam("last", type_=UTCDateTime()),
            ),
            else_=_users.c.last_seen_at,
        ),
        session_count=_users.c.session_count + bindparam("sessions"),
    )
)


async def apply_deltas(s: AsyncSession, deltas: ProfileDeltas) -> None:
    """Upsert counts and totals, move first/last seen, add sessions, set last values."""
    if deltas.daily:
        await s.execute(
            _daily_upsert(s),
            [
                {"user_id": u, "name": n, "day": d, "count": c}
                for (u, n, d), c in deltas.daily.items()
            ],
        )
    if deltas.stats:
        await s.execute(
            _stats_upsert(s),
            [
                {
                    "user_id": u,
                    "name": n,
                    "first_at": st.first_at,
                    "last_at": st.last_at,
                    "count": st.count,
                }
                for (u, n), st in deltas.stats.items()
            ],
        )
    if deltas.users:
        await s.execute(
            _touch_user,
            [
                {"uid": uid, "first": d.first_seen, "last": d.last_seen, "sessions": d.sessions}
                for uid, d in deltas.users.items()
            ],
        )
    for uid, d in deltas.users.items():
        if not d.last_values:
            continue
        # Rare path (only for the app's chosen properties): read-modify-write under lock.
        stmt = select(_users.c.last_values).where(_users.c.id == uid)
        if dialect_name(s) == "postgresql":
            stmt = stmt.with_for_update()
        current = (await s.execute(stmt)).scalar_one()
        merged = {**(current or {}), **{k: v for k, (_, v) in d.last_values.items()}}
        await s.execute(update(_users).where(_users.c.id == uid).values(last_values=merged))


async def merge_aggregates(s: AsyncSession, *, source_id: int, target_id: int) -> None:
    """Add `source`'s counts and totals onto `target` and remove them from `source`."""
    rows = (await s.execute(select(_daily).where(_daily.c.user_id == source_id))).all()
    if rows:
        await s.execute(
            _daily_upsert(s),
            [{"user_id": target_id, "name": r.name, "day": r.day, "count": r.count} for r in rows],
        )
    stats = (await s.execute(select(_stats).where(_stats.c.user_id == source_id))).all()
    if stats:
        await s.execute(
            _stats_upsert(s),
            [
                {
                    "user_id": target_id,
                    "name": r.name,
                    "first_at": r.first_at,
                    "last_at": r.last_at,
                    "count": r.count,
                }
                for r in stats
            ],
        )
    await s.execute(delete(_daily).where(_daily.c.user_id == source_id))
    await s.execute(delete(_stats).where(_stats.c.user_id == source_id))


async def prune_daily_counts(s: AsyncSession, before: date) -> int:
    """Delete daily counts older than the rolling window; returns rows removed."""
    result = await s.execute(delete(_daily).where(_daily.c.day < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
