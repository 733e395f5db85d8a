"""Load one user's `Profile` in one query: the user row with its daily counts, totals and
devices aggregated as JSON beside it. Never commits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
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


def json_rows(dialect: str, columns: list[Any], where: Any) -> Any:
    """A scalar subquery: the matching rows as one JSON array of arrays (text)."""
    agg: Any
    if dialect == "postgresql":
        agg = sa.cast(sa.func.jsonb_agg(sa.func.jsonb_build_array(*columns)), sa.Text)
    else:
        agg = sa.func.json_group_array(sa.func.json_array(*columns), type_=sa.Text)
    return sa.select(sa.func.coalesce(agg, "[]")).where(where).scalar_subquery()


def profile_columns(dialect: str) -> list[Any]:
    """The user columns plus `daily_json` (from the `since` parameter), `stats_json` and
    `devices_json`, correlated to the outer `users` row."""
    mine = _users.c.id
    daily = json_rows(
        dialect,
        [_daily.c.name, _daily.c.day, _daily.c.count],
        sa.and_(_daily.c.user_id == mine, _daily.c.day >= sa.bindparam("since", type_=sa.Date)),
    )
    stats = json_rows(
        dialect,
        [_stats.c.name, _stats.c.first_at, _stats.c.last_at, _stats.c.count],
        _stats.c.user_id == mine,
    )
    devices = json_rows(
        dialect,
        [*(_devices.c[name] for name in DEVICE_FACTS), _devices.c.push_active],
        _devices.c.user_id == mine,
    )
    return [
        _users,
        daily.label("daily_json"),
        stats.label("stats_json"),
        devices.label("devices_json"),
    ]


@lru_cache(maxsize=4)
def profile_query(dialect: str) -> sa.Select[Any]:
    """The one query, built once per dialect (parameters `app_id`, `user_id`, `since`):
    building SQLAlchemy statements per request costs more than running them."""
    return sa.select(*profile_columns(dialect)).where(
        _users.c.id == sa.bindparam("user_id"), _users.c.app_id == sa.bindparam("app_id")
    )


def window_start(now: datetime) -> date:
    """The first UTC day of daily counts a profile holds."""
    return now.astimezone(UTC).date() - timedelta(days=DAILY_WINDOW_DAYS)


async def load_profile(
    s: AsyncSession, app_id: int, user_id: int, *, now: datetime
) -> Profile | None:
    """The user's profile (daily counts within the kept window), or None if not the app's."""
    params = {"app_id": app_id, "user_id": user_id, "since": window_start(now)}
    row = (await s.execute(profile_query(dialect_name(s)), params)).first()
    if row is None:
        return None
    return profile_from_row(row._mapping)


def profile_from_row(r: Any) -> Profile:
    """Build a Profile from a `profile_query` row mapping."""
    daily: dict[str, dict[date, int]] = {}
    for name, day, count in decode_json_rows(r["daily_json"]):
        daily.setdefault(name, {})[date.fromisoformat(str(day)[:10])] = int(count)
    stats = {
        name: EventStat(moment(first), moment(last), int(count))
        for name, first, last, count in decode_json_rows(r["stats_json"])
    }
    devices = tuple(
        DeviceFacts(**dict(zip(DEVICE_FACTS, values, strict=False)), push_active=bool(values[-1]))
        for values in decode_json_rows(r["devices_json"])
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


def decode_json_rows(value: Any) -> list[Any]:
    """A `json_rows` value as a list of row lists (SQLite hands text, PostgreSQL too)."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        decoded: list[Any] = orjson.loads(value)
        return decoded
    return list(value)


def moment(value: Any) -> datetime:
    """A datetime read out of a `json_rows` value, as aware UTC."""
    # SQLite hands back "YYYY-MM-DD HH:MM:SS.ffffff", PostgreSQL's JSON "YYYY-MM-DDTHH:MM:SS";
    # both are naive UTC (see db.UTCDateTime).
    at = datetime.fromisoformat(str(value))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
