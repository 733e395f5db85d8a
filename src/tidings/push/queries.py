"""Push statements: audience pages, recipients, delivery rows, outcomes; never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings import bulk
from tidings.db import table_of
from tidings.deliveries.models import Delivery
from tidings.devices.models import Device
from tidings.events.models import Event
from tidings.push.planner import Recipient
from tidings.users.models import User

deliveries = table_of(Delivery)
devices = table_of(Device)
users = table_of(User)
events = table_of(Event)
PUSH = "push"
CHANNELS = ("push", "device")  # delivery channels of push and in-device campaigns
PROVIDERS = {"push": ("fcm", "apns", "webpush"), "device": ("mqtt",)}


async def events_after(
    s: AsyncSession, condition: Any, app_id: int, name: str, *, after: int, limit: int
) -> list[Any]:
    """Events `name` of audience members with id above `after`, ascending; and the last
    id looked at (the cursor), whether or not its user is in the audience."""
    query = sa.select(events.c.id, events.c.user_id, events.c.timestamp, events.c.properties).where(
        events.c.app_id == app_id, events.c.name == name, events.c.id > after
    )
    if condition is not None:
        query = query.join(users, users.c.id == events.c.user_id).where(condition)
    rows = await s.execute(query.order_by(events.c.id).limit(limit))
    return list(rows.all())


async def last_event_id(s: AsyncSession, app_id: int) -> int:
    found = await s.execute(sa.select(sa.func.max(events.c.id)).where(events.c.app_id == app_id))
    return int(found.scalar_one() or 0)


async def audience_page(
    s: AsyncSession, condition: Any, app_id: int, *, after: int, limit: int
) -> list[int]:
    """User ids of the audience above `after`, ascending (keyset pagination)."""
    query = sa.select(users.c.id).where(users.c.app_id == app_id, users.c.id > after)
    if condition is not None:
        query = query.where(condition)
    rows = await s.execute(query.order_by(users.c.id).limit(limit))
    return [r[0] for r in rows.all()]


async def recipients(s: AsyncSession, user_ids: Sequence[int], since: datetime) -> list[Recipient]:
    """The planner's view of each user: consent, timezone, messages since `since`."""
    if not user_ids:
        return []
    rows = await s.execute(
        sa.select(users.c.id, users.c.consent, users.c.timezone).where(
            users.c.id.in_(list(user_ids))
        )
    )
    recent = await recent_messages(s, user_ids, since)
    return [
        Recipient(uid, consent or {}, tz, tuple(recent.get(uid, ())))
        for uid, consent, tz in rows.all()
    ]


async def recent_messages(
    s: AsyncSession,
    user_ids: Sequence[int],
    since: datetime,
    *,
    besides: tuple[int, set[tuple[int, int]]] | None = None,
) -> dict[int, list[datetime]]:
    """user id → moments of the messages they got after `since`, any channel: what the
    attention budget counts. One message to several of a user's devices counts once, at
    its first moment. `besides=(campaign id, {(user id, occurrence)})` leaves out those
    messages (the one being sent now)."""
    d = deliveries.c
    shown = await s.execute(
        sa.select(d.user_id, d.campaign_id, d.channel, d.occurrence, d.displayed_at).where(
            d.user_id.in_(list(user_ids)), d.displayed_at > since
        )
    )
    first: dict[tuple[int, int, str, int], datetime] = {}
    for uid, cid, channel, occurrence, at in shown.all():
        if besides is not None and cid == besides[0] and (uid, occurrence) in besides[1]:
            continue
        key = (uid, cid, channel, occurrence)
        if key not in first or at < first[key]:
            first[key] = at
    recent: dict[int, list[datetime]] = {}
    for (uid, *_), at in first.items():
        recent.setdefault(uid, []).append(at)
    return recent


async def push_devices(
    s: AsyncSession, user_ids: Sequence[int], channel: str = PUSH
) -> dict[int, list[int]]:
    """user id → ids of their devices with an active address for the channel."""
    if not user_ids:
        return {}
    rows = await s.execute(
        sa.select(devices.c.user_id, devices.c.id)
        .where(
            devices.c.user_id.in_(list(user_ids)),
            devices.c.push_active.is_(True),
            devices.c.push_provider.in_(PROVIDERS[channel]),
        )
        .order_by(devices.c.id)
    )
    out: dict[int, list[int]] = {}
    for uid, did in rows.all():
        out.setdefault(uid, []).append(did)
    return out


ROW_COLUMNS = (
    "app_id",
    "campaign_id",
    "variant",
    "user_id",
    "channel",
    "device_id",
    "device_key",
    "occurrence",
    "status",
    "reason",
    "format",
    "session_id",
    "created_at",
    "data",
)
_ON_KEY = " ON CONFLICT (campaign_id, user_id, channel, device_key, occurrence) DO NOTHING"
# SQLite: one single-row statement run with executemany (prepared once, looped in C).
_INSERT_ONE_SQLITE = (
    f"INSERT INTO deliveries ({', '.join(ROW_COLUMNS)}) "
    f"VALUES ({bulk.rows_sql('sqlite', 1, len(ROW_COLUMNS))[1:-1]}){_ON_KEY}"
)


@lru_cache(maxsize=64)
def _insert_many_pg(n: int) -> str:
    casts = [""] * (len(ROW_COLUMNS) - 1) + ["::jsonb"]
    return (
        f"INSERT INTO deliveries ({', '.join(ROW_COLUMNS)}) VALUES "
        f"{bulk.rows_sql('postgresql', n, len(ROW_COLUMNS), casts)}{_ON_KEY}"
    )


async def insert_deliveries(s: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add delivery rows; a row whose key exists is left as it is (reruns add nothing).

    Driver-level statements with values converted once (`bulk`): a plan job writes a
    thousand rows, and SQLAlchemy's per-value type processing was most of its time
    (bench/fanout.py)."""
    if not rows:
        return
    conn = await s.connection()
    dialect = conn.dialect.name
    v = bulk.Values(dialect)
    stamps: dict[datetime, Any] = {}  # a batch's rows share their created_at

    def stamp(at: datetime) -> Any:
        found = stamps.get(at)
        if found is None:
            found = stamps[at] = v.time(at)
        return found

    values = [
        (
            r["app_id"],
            r["campaign_id"],
            r["variant"],
            r["user_id"],
            r["channel"],
            r.get("device_id"),
            r["device_key"],
            r["occurrence"],
            r["status"],
            r.get("reason"),
            r["format"],
            r.get("session_id"),
            stamp(r["created_at"]),
            v.json(r.get("data") or {}),
        )
        for r in rows
    ]
    if dialect == "sqlite":
        await bulk.run_many(conn, _INSERT_ONE_SQLITE, values)
        return
    for chunk in bulk.chunks(values):
        await bulk.run(conn, _insert_many_pg(len(chunk)), bulk.flat(chunk))


async def planned(
    s: AsyncSession, campaign_id: int, occurrences: Sequence[int], user_ids: Sequence[int]
) -> set[tuple[int, int]]:
    """(user id, occurrence) pairs that already have rows: a rerun never plans them again
    (its decision could differ now, e.g. the budget counting the push it already got)."""
    if not occurrences or not user_ids:
        return set()
    rows = await s.execute(
        sa.select(deliveries.c.user_id, deliveries.c.occurrence)
        .where(
            deliveries.c.campaign_id == campaign_id,
            deliveries.c.user_id.in_(list(user_ids)),
            deliveries.c.channel.in_(CHANNELS),
            deliveries.c.occurrence.in_(list(occurrences)),
        )
        .distinct()
    )
    return {(r[0], r[1]) for r in rows.all()}


async def queued_for(
    s: AsyncSession, campaign_id: int, occurrence: int | Sequence[int], user_ids: Sequence[int]
) -> list[tuple[int, int, datetime | None]]:
    """(delivery id, user id, planned send moment) of the occurrence(s)' rows still queued
    for these users."""
    occurrences = [occurrence] if isinstance(occurrence, int) else list(occurrence)
    if not user_ids or not occurrences:
        return []
    # Only `send_at` of the JSON, extracted by the database: no JSON decoding per row.
    send_at = deliveries.c.data["send_at"].as_string()
    rows = await s.execute(
        sa.select(deliveries.c.id, deliveries.c.user_id, send_at)
        .where(
            deliveries.c.campaign_id == campaign_id,
            deliveries.c.user_id.in_(list(user_ids)),
            deliveries.c.channel.in_(CHANNELS),
            deliveries.c.occurrence.in_(occurrences),
            deliveries.c.status == "queued",
        )
        .order_by(deliveries.c.id)
    )
    at = datetime.fromisoformat
    return [(r[0], r[1], at(r[2]) if r[2] else None) for r in rows.all()]


async def take(s: AsyncSession, ids: Sequence[int]) -> list[int]:
    """Mark queued rows `sending` and return those this caller took (a row is taken once:
    this is what stops a second send when two runs of a job overlap)."""
    if not ids:
        return []
    rows = await s.execute(
        sa.update(deliveries)
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.status == "queued")
        .values(status="sending")
        .returning(deliveries.c.id)
    )
    return [r[0] for r in rows.all()]


async def any_unfinished(s: AsyncSession, ids: Sequence[int]) -> bool:
    """Whether any of these rows was left `sending` (a read: most runs find none, and
    SQLite's one writer is precious)."""
    if not ids:
        return False
    found = await s.execute(
        sa.select(deliveries.c.id)
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.status == "sending")
        .limit(1)
    )
    return found.first() is not None


async def resume_unfinished(s: AsyncSession, ids: Sequence[int]) -> int:
    """Rows left `sending` by a run that died go back to `queued`: they may or may not have
    gone out, so they are sent again under the same collapse id, which the device shows
    as one notification (reliability matrix S4). Losing a push silently is worse."""
    if not ids:
        return 0
    rows = await s.execute(
        sa.update(deliveries)
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.status == "sending")
        .values(status="queued")
        .returning(deliveries.c.id)
    )
    return len(rows.all())


async def sendable(s: AsyncSession, ids: Sequence[int]) -> list[Any]:
    """Queued rows with what rendering and sending need: user facts and the address."""
    if not ids:
        return []
    rows = await s.execute(
        sa.select(
            deliveries.c.id,
            deliveries.c.user_id,
            deliveries.c.occurrence,
            deliveries.c.variant,
            deliveries.c.device_id,
            deliveries.c.data,
            users.c.external_id,
            users.c.attributes,
            users.c.locale,
            users.c.timezone,
            users.c.country,
            users.c.city,
            devices.c.push_provider,
            devices.c.push_address,
            devices.c.push_address_hash,
            devices.c.push_active,
        )
        .join(users, users.c.id == deliveries.c.user_id)
        .outerjoin(devices, devices.c.id == deliveries.c.device_id)
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.status == "queued")
        .order_by(deliveries.c.id)
    )
    return list(rows.all())


async def record(
    s: AsyncSession, outcomes: Iterable[tuple[int, str, str | None]], now: datetime
) -> None:
    """Write (delivery id, status, reason) for rows this run took. A row that went out
    gets `displayed_at` (the send moment) so it counts against the attention budget."""
    by_kind: dict[tuple[str, str | None], list[int]] = {}
    for did, status, reason in outcomes:
        by_kind.setdefault((status, reason), []).append(did)
    for (status, reason), ids in by_kind.items():
        values: dict[str, Any] = {"status": status, "reason": reason}
        if status in ("sent", "delivered"):
            values["displayed_at"] = now
        await s.execute(
            sa.update(deliveries)
            .where(deliveries.c.id.in_(ids), deliveries.c.status == "sending")
            .values(**values)
        )


async def expire(s: AsyncSession, ids: Sequence[int], reason: str) -> None:
    """Queued rows that must not go out any more: `failed` with `reason`."""
    if ids:
        await s.execute(
            sa.update(deliveries)
            .where(deliveries.c.id.in_(list(ids)), deliveries.c.status == "queued")
            .values(status="failed", reason=reason)
        )


async def deactivate(
    s: AsyncSession, device_id: int, address_hash: str, reason: str, since: datetime | None
) -> bool:
    """Turn off a device's push address the provider called invalid, unless the address
    changed meanwhile or was registered again after `since` (APNs' 410 timestamp)."""
    query = (
        sa.update(devices)
        .where(
            devices.c.id == device_id,
            devices.c.push_address_hash == address_hash,
            devices.c.push_active.is_(True),
        )
        .values(push_active=False, push_invalid_reason=reason[:200])
    )
    if since is not None:
        query = query.where(
            sa.or_(devices.c.push_updated_at.is_(None), devices.c.push_updated_at <= since)
        )
    rows = await s.execute(query.returning(devices.c.id))
    return rows.first() is not None


def recent_since(now: datetime) -> datetime:
    return now - timedelta(days=1)
