"""Apply profile deltas, merge and prune aggregates; never commit.

The upserts are multi-row statements (see tidings.bulk): they run on every ingested batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tidings.bulk import Values, chunks, flat, placeholder, rows_sql, run, run_many
from tidings.db import table_of
from tidings.profiles.aggregate import ProfileDeltas
from tidings.profiles.models import EventDailyCount, UserEventStat
from tidings.users.models import User

_daily = table_of(EventDailyCount)
_stats = table_of(UserEventStat)
_users = table_of(User)


@lru_cache(maxsize=1024)
def _upsert_daily(dialect: str, n: int) -> str:
    return (
        "INSERT INTO event_daily_counts (user_id, name, day, count) "
        f"VALUES {rows_sql(dialect, n, 4)} "
        "ON CONFLICT (user_id, name, day) DO UPDATE "
        "SET count = event_daily_counts.count + excluded.count"
    )


@lru_cache(maxsize=1024)
def _upsert_stats(dialect: str, n: int) -> str:
    t = "user_event_stats"
    return (
        f"INSERT INTO {t} (user_id, name, first_at, last_at, count) "
        f"VALUES {rows_sql(dialect, n, 5)} "
        "ON CONFLICT (user_id, name) DO UPDATE SET "
        f"count = {t}.count + excluded.count, "
        f"first_at = CASE WHEN excluded.first_at < {t}.first_at THEN excluded.first_at "
        f"ELSE {t}.first_at END, "
        f"last_at = CASE WHEN excluded.last_at > {t}.last_at THEN excluded.last_at "
        f"ELSE {t}.last_at END"
    )


@lru_cache(maxsize=4)
def _touch_user(dialect: str) -> str:
    first, last, sessions, uid = (placeholder(dialect, i) for i in (1, 2, 3, 4))
    return (
        "UPDATE users SET "
        f"first_seen_at = CASE WHEN first_seen_at IS NULL OR {first} < first_seen_at "
        f"THEN {first} ELSE first_seen_at END, "
        f"last_seen_at = CASE WHEN last_seen_at IS NULL OR {last} > last_seen_at "
        f"THEN {last} ELSE last_seen_at END, "
        f"session_count = session_count + {sessions} "
        f"WHERE id = {uid}"
    )


async def _upsert(
    conn: AsyncConnection, daily: Sequence[Sequence[Any]], stats: Sequence[Sequence[Any]]
) -> None:
    dialect = conn.dialect.name
    if dialect == "sqlite":  # one prepared single-row statement each, looped in C
        if daily:
            await run_many(conn, upsert_daily_sql(dialect), daily)
        if stats:
            await run_many(conn, upsert_stats_sql(dialect), stats)
        return
    for chunk in chunks(daily):
        await run(conn, _upsert_daily(dialect, len(chunk)), flat(chunk))
    for chunk in chunks(stats):
        await run(conn, _upsert_stats(dialect, len(chunk)), flat(chunk))


class DeltaRows(NamedTuple):
    """Deltas as statement parameters: daily counts, totals, and touched users."""

    daily: list[tuple[Any, ...]]
    stats: list[tuple[Any, ...]]
    touch: list[tuple[Any, ...]]


def delta_rows(deltas: ProfileDeltas, v: Values) -> DeltaRows:
    return DeltaRows(
        [(u, n, v.day(d), c) for (u, n, d), c in deltas.daily.items()],
        [
            (u, n, v.time(s.first_at), v.time(s.last_at), s.count)
            for (u, n), s in deltas.stats.items()
        ],
        [
            (v.time(d.first_seen), v.time(d.last_seen), d.sessions, uid)
            for uid, d in deltas.users.items()
        ],
    )


def upsert_daily_sql(dialect: str) -> str:
    """The single-row daily-count upsert (for executemany)."""
    return _upsert_daily(dialect, 1)


def upsert_stats_sql(dialect: str) -> str:
    """The single-row totals upsert (for executemany)."""
    return _upsert_stats(dialect, 1)


def touch_user_sql(dialect: str) -> str:
    """First/last seen and sessions for one user (for executemany)."""
    return _touch_user(dialect)


async def apply_deltas(conn: AsyncConnection, deltas: ProfileDeltas) -> None:
    """Upsert counts and totals, move first/last seen, add sessions, set last values."""
    rows = delta_rows(deltas, Values(conn.dialect.name))
    await _upsert(conn, rows.daily, rows.stats)
    if rows.touch:
        await run_many(conn, _touch_user(conn.dialect.name), rows.touch)
    for uid, d in deltas.users.items():
        if not d.last_values:
            continue
        # Rare path (only the app's chosen properties): read-modify-write under the row lock.
        stmt = select(_users.c.last_values, _users.c.last_values_at).where(_users.c.id == uid)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        values, times = (await conn.execute(stmt)).one()
        fresh = {k: (iso_utc(ts), val) for k, (ts, val) in d.last_values.items()}
        values, times = newest_values((values or {}, times or {}), fresh)
        await conn.execute(
            update(_users)
            .where(_users.c.id == uid)
            .values(last_values=values, last_values_at=times)
        )


def iso_utc(ts: datetime) -> str:
    """Fixed-width ISO UTC text, so comparing the strings compares the times."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def newest_values(
    current: tuple[Mapping[str, Any], Mapping[str, str]],
    incoming: Mapping[str, tuple[str, Any]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Last values with their times: per property, the later one wins (ties: incoming)."""
    values, times = dict(current[0]), dict(current[1])
    for prop, (at, value) in incoming.items():
        if prop not in times or at >= times[prop]:
            values[prop], times[prop] = value, at
    return values, times


async def merge_aggregates(conn: AsyncConnection, *, source_id: int, target_id: int) -> None:
    """Add `source`'s counts and totals onto `target` and remove them from `source`."""
    v = Values(conn.dialect.name)
    daily = (await conn.execute(select(_daily).where(_daily.c.user_id == source_id))).all()
    stats = (await conn.execute(select(_stats).where(_stats.c.user_id == source_id))).all()
    await _upsert(
        conn,
        [(target_id, r.name, v.day(r.day), r.count) for r in daily],
        [(target_id, r.name, v.time(r.first_at), v.time(r.last_at), r.count) for r in stats],
    )
    await conn.execute(delete(_daily).where(_daily.c.user_id == source_id))
    await conn.execute(delete(_stats).where(_stats.c.user_id == source_id))


async def prune_daily_counts(conn: AsyncConnection, before: date) -> int:
    """Delete daily counts older than the rolling window; returns rows removed."""
    result = await conn.execute(delete(_daily).where(_daily.c.day < before))
    return int(result.rowcount)
