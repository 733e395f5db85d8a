"""Track: judge each event on its own, store the valid ones once, update profiles.

Whole-request problems (auth, size, envelope, identity verification) reject the request;
event problems reject only that event, which is reported back and kept in
`dropped_events`. Events, profile deltas and dropped events commit in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.context import AppContext
from tidings.db import dialect_insert, table_of
from tidings.errors import ValidationFailed, field_path
from tidings.events import timing
from tidings.events.models import DroppedEvent, Event
from tidings.events.schemas import (
    MAX_EVENT_BYTES,
    EventError,
    EventIn,
    EventResult,
    TrackIn,
    TrackOut,
)
from tidings.ops.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, EVENTS_REJECTED
from tidings.profiles.aggregate import StoredEvent, fold
from tidings.profiles.queries import apply_deltas
from tidings.tenancy.auth import Caller
from tidings.users.identity import Identity, resolve
from tidings.users.verification import must_verify, verify

_events = table_of(Event)
_dropped = table_of(DroppedEvent)


@dataclass
class _Valid:
    index: int
    who: Identity
    user_hash: str | None
    message_id: str
    name: str
    properties: dict[str, Any]
    timestamp: datetime
    device_id: str | None


class _Rejected(Exception):
    def __init__(self, code: str, message: str, field: str | None) -> None:
        self.error = EventError(code=code, message=message, field=field)


def _judge(
    i: int, raw: Any, batch: TrackIn, sent_at: datetime | None, now: datetime
) -> tuple[_Valid, list[str]]:
    where = f"events[{i}]"
    try:
        size = len(orjson.dumps(raw))
    except TypeError as exc:
        raise _Rejected("invalid", f"not JSON-encodable: {exc}", where) from exc
    if size > MAX_EVENT_BYTES:
        raise _Rejected(
            "event_too_large", f"{size} bytes; an event is at most {MAX_EVENT_BYTES}", where
        )
    try:
        ev = EventIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _Rejected("invalid", first["msg"], field_path((where, *first["loc"]))) from exc
    ext = ev.external_id if ev.external_id is not None else batch.external_id
    anon = ev.anonymous_id if ev.anonymous_id is not None else batch.anonymous_id
    if ext is None and anon is None:
        raise _Rejected(
            "missing_identity",
            "an event needs external_id or anonymous_id (on the event or the batch)",
            f"{where}.external_id",
        )
    try:
        client_ts = timing.parse_time(ev.timestamp)
    except timing.TimeError as exc:
        raise _Rejected("invalid_timestamp", str(exc), f"{where}.timestamp") from exc
    placed = timing.place(client_ts, sent_at, now)
    valid = _Valid(
        index=i,
        who=Identity(ext, anon),
        user_hash=ev.user_hash if ev.user_hash is not None else batch.user_hash,
        message_id=ev.message_id or uuid.uuid4().hex,
        name=ev.name,
        properties=ev.properties,
        timestamp=placed.timestamp,
        device_id=ev.device_id if ev.device_id is not None else batch.device_id,
    )
    return valid, list(placed.warnings)


async def track(ctx: AppContext, caller: Caller, batch: TrackIn) -> TrackOut:
    """Store a batch; see the module docstring for what is judged where."""
    now = ctx.clock.now()
    try:
        sent_at = timing.parse_time(batch.sent_at)
    except timing.TimeError as exc:
        raise ValidationFailed(str(exc), field="sent_at") from exc

    results: list[EventResult] = []
    valid: list[_Valid] = []
    dropped: list[dict[str, Any]] = []
    for i, raw in enumerate(batch.events):
        try:
            ev, warnings = _judge(i, raw, batch, sent_at, now)
        except _Rejected as rej:
            results.append(EventResult(index=i, status="rejected", error=rej.error))
            dropped.append(
                {
                    "app_id": caller.app_id,
                    "received_at": now,
                    "code": rej.error.code,
                    "field": rej.error.field,
                    "message": rej.error.message[:500],
                    "excerpt": orjson.dumps(raw, default=str).decode()[:1024],
                }
            )
            continue
        valid.append(ev)
        results.append(
            EventResult(index=i, status="accepted", message_id=ev.message_id, warnings=warnings)
        )

    hashes: dict[str, str | None] = {}
    for ev in valid:
        if ev.who.external_id is not None:
            hashes.setdefault(ev.who.external_id, ev.user_hash)
    for ext, given in hashes.items():
        verify(caller, ctx.box, ext, given)

    # The first of several events sharing a message id wins; later ones are retries.
    fresh: dict[str, _Valid] = {}
    for ev in valid:
        if ev.message_id in fresh:
            results[ev.index].status = "duplicate"
        else:
            fresh[ev.message_id] = ev

    async with ctx.db.write() as s:
        inserted = await _store(s, ctx, caller, list(fresh.values()), now)
        if dropped:
            await s.execute(_dropped.insert(), dropped)
    for ev in fresh.values():
        if ev.message_id not in inserted:
            results[ev.index].status = "duplicate"

    accepted = sum(1 for r in results if r.status == "accepted")
    duplicates = sum(1 for r in results if r.status == "duplicate")
    EVENTS_ACCEPTED.inc(accepted)
    EVENTS_DUPLICATE.inc(duplicates)
    for r in results:
        if r.error is not None:
            EVENTS_REJECTED.labels(r.error.code).inc()
    return TrackOut(
        accepted=accepted, duplicates=duplicates, rejected=len(dropped), results=results
    )


async def _store(
    s: AsyncSession, ctx: AppContext, caller: Caller, events: list[_Valid], now: datetime
) -> set[str]:
    """Insert events not seen before; fold the new ones into profiles. Returns their ids."""
    if not events:
        return set()
    users: dict[Identity, int] = {}
    for ev in events:
        if ev.who in users:
            continue
        resolved = await resolve(s, caller.app_id, ev.who, now)
        if ev.who.external_id is None and must_verify(caller):
            verify(
                caller,
                ctx.box,
                resolved.external_id,
                ev.user_hash,
                field=f"events[{ev.index}].user_hash",
            )
        users[ev.who] = resolved.user_id
    rows: list[dict[str, Any]] = [
        {
            "app_id": caller.app_id,
            "user_id": users[ev.who],
            "message_id": ev.message_id,
            "name": ev.name,
            "properties": ev.properties,
            "timestamp": ev.timestamp,
            "received_at": now,
            "device_id": ev.device_id,
        }
        for ev in events
    ]
    stmt = (
        dialect_insert(s, _events)
        .on_conflict_do_nothing(index_elements=["app_id", "message_id"])
        .returning(_events.c.message_id)
    )
    inserted = set((await s.execute(stmt, rows)).scalars())
    tracked = caller.settings.get("profile_properties") or []
    stored = [
        StoredEvent(users[ev.who], ev.name, ev.timestamp, ev.properties)
        for ev in events
        if ev.message_id in inserted
    ]
    await apply_deltas(s, fold(stored, tracked if isinstance(tracked, list) else []))
    return inserted
