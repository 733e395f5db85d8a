"""Load one user's `Profile` in one query: the user row with its daily counts, totals and
devices aggregated as JSON beside it. Never commits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import dialect_name, table_of
from tidings.devices.models import Device
from tidings.profiles.models import DAILY_WINDOW_DAYS, EventDailyCount, UserEventStat
from tidings.profiles.snapshot import DEVICE_FACTS, DeviceFacts, EventStat, Profile
from tidings.users.models import User

_users = table_of(User)
_daily = table_of(EventDailyCount)
_stats = table_of(UserEventStat)
_devices = table_of(Device)


def _aggregate(dialect: str, columns: list[Any], where: Any) -> Any:
    agg: Any
    if dialect == "postgresql":
        agg = sa.cast(sa.func.jsonb_agg(sa.func.jsonb_build_array(*columns)), sa.Text)
    else:
        agg = sa.func.json_group_array(sa.func.json_array(*columns), type_=sa.Text)
    return sa.select(sa.func.coalesce(agg, "[]")).where(where).scalar_subquery()


def profile_query(dialect: str, app_id: int, user_id: int, since: date) -> sa.Select[Any]:
    """The one query: user columns plus `daily`, `stats` and `devices` as JSON arrays."""
    mine = _users.c.id
    daily = _aggregate(
        dialect,
        [_daily.c.name, _daily.c.day, _daily.c.count],
        sa.and_(_daily.c.user_id == mine, _daily.c.day >= since),
    )
    stats = _aggregate(
        dialect,
        [_stats.c.name, _stats.c.first_at, _stats.c.last_at, _stats.c.count],
        _stats.c.user_id == mine,
    )
    devices = _aggregate(
        dialect,
        [*(_devices.c[name] for name in DEVICE_FACTS), _devices.c.push_active],
        _devices.c.user_id == mine,
    )
    return sa.select(
        _users,
        daily.label("daily_json"),
        stats.label("stats_json"),
        devices.label("devices_json"),
    ).where(_users.c.id == user_id, _users.c.app_id == app_id)


async def load_profile(
    s: AsyncSession, app_id: int, user_id: int, *, now: datetime
) -> Profile | None:
    """The user's profile (daily counts within the kept window), or None if not the app's."""
    since = now.astimezone(UTC).date() - timedelta(days=DAILY_WINDOW_DAYS)
    row = (await s.execute(profile_query(dialect_name(s), app_id, user_id, since))).first()
    if row is None:
        return None
    return profile_from_row(row._mapping)


def profile_from_row(r: Any) -> Profile:
    """Build a Profile from a `profile_query` row mapping."""
    daily: dict[str, dict[date, int]] = {}
    for name, day, count in _json(r["daily_json"]):
        daily.setdefault(name, {})[date.fromisoformat(str(day)[:10])] = int(count)
    stats = {
        name: EventStat(_moment(first), _moment(last), int(count))
        for name, first, last, count in _json(r["stats_json"])
    }
    devices = tuple(
        DeviceFacts(**dict(zip(DEVICE_FACTS, values, strict=False)), push_active=bool(values[-1]))
        for values in _json(r["devices_json"])
    )
    return Profile(
        id=r["id"],
        external_id=r["external_id"],
        attributes=r["attributes"] or {},
        consent=r["consent"] or {},
        country=r["country"],
        region=r["region"],
        city=r["city"],
        latitude=r["latitude"],
        longitude=r["longitude"],
        locale=r["locale"],
        timezone=r["timezone"],
        created_at=r["created_at"],
        first_seen_at=r["first_seen_at"],
        last_seen_at=r["last_seen_at"],
        session_count=r["session_count"] or 0,
        last_values=r["last_values"] or {},
        daily=daily,
        stats=stats,
        devices=devices,
    )


def _json(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        decoded: list[Any] = orjson.loads(value)
        return decoded
    return list(value)


def _moment(value: Any) -> datetime:
    # SQLite hands back "YYYY-MM-DD HH:MM:SS.ffffff", PostgreSQL's JSON "YYYY-MM-DDTHH:MM:SS";
    # both are naive UTC (see db.UTCDateTime).
    moment = datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
