"""Track: judge each event on its own, store the valid ones once, update profiles.

Whole-request problems (auth, size, envelope, identity verification) reject the request;
event problems reject only that event, which is reported back and kept in
`dropped_events`. A batch's events, profile deltas and dropped events commit together
(see committer.py: concurrent batches share a transaction).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from tidings.context import AppContext
from tidings.errors import ValidationFailed, field_path
from tidings.events import timing
from tidings.events.committer import PendingEvent, Submission, committer_for
from tidings.events.schemas import MAX_EVENT_BYTES, EventIn, TrackIn, WellFormedTrackIn
from tidings.ops.metrics import EVENTS_ACCEPTED, EVENTS_DUPLICATE, EVENTS_REJECTED
from tidings.tenancy.auth import Caller
from tidings.users.identity import Identity, Resolved
from tidings.users.verification import must_verify, verify


class _Rejected(Exception):
    def __init__(self, code: str, message: str, field: str | None) -> None:
        self.error = {"code": code, "message": message, "field": field}


_ALL_EVENTS = TypeAdapter(list[EventIn])


def _excerpt(raw: Any) -> str:
    """At most 1 KB of a refused event, for `dropped_events`."""
    if isinstance(raw, EventIn):
        raw = raw.model_dump(exclude_none=True)
    return orjson.dumps(raw, default=str).decode()[:1024]


def _judge(
    i: int,
    raw: Any,
    batch: TrackIn,
    sent_at: datetime | None,
    now: datetime,
    *,
    parsed: EventIn | None = None,
    check_size: bool = True,
) -> tuple[PendingEvent, list[str]]:
    """The event at `batch.events[i]`, ready to store, with its warnings; or _Rejected.

    `parsed` is the event already validated; `check_size=False` when the whole body is
    smaller than one event may be.
    """
    where = f"events[{i}]"
    if check_size:
        try:
            size = (
                len(raw.model_dump_json(exclude_none=True))
                if isinstance(raw, EventIn)
                else len(orjson.dumps(raw))
            )
        except TypeError as exc:
            raise _Rejected("invalid", f"not JSON-encodable: {exc}", where) from exc
        if size > MAX_EVENT_BYTES:
            raise _Rejected(
                "event_too_large", f"{size} bytes; an event is at most {MAX_EVENT_BYTES}", where
            )
    if parsed is not None:
        ev = parsed
    else:
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
    pending = PendingEvent(
        index=i,
        who=Identity(ext, anon),
        user_hash=ev.user_hash if ev.user_hash is not None else batch.user_hash,
        message_id=ev.message_id or uuid.uuid4().hex,
        name=ev.name,
        properties=ev.properties,
        timestamp=placed.timestamp,
        device_id=ev.device_id if ev.device_id is not None else batch.device_id,
    )
    return pending, list(placed.warnings)


async def track(
    ctx: AppContext, caller: Caller, batch: TrackIn, *, body_bytes: int | None = None
) -> dict[str, Any]:
    """Store a batch; returns a `TrackOut`-shaped dict (plain: it is built per event).

    `body_bytes`, the size of the request body when known, lets small batches skip the
    per-event size check (no event can be larger than the body that carries it).
    """
    now = ctx.clock.now()
    try:
        sent_at = timing.parse_time(batch.sent_at)
    except timing.TimeError as exc:
        raise ValidationFailed(str(exc), field="sent_at") from exc

    results: list[dict[str, Any]] = []
    valid: list[PendingEvent] = []
    dropped: list[dict[str, Any]] = []
    check_size = body_bytes is None or body_bytes > MAX_EVENT_BYTES
    parsed: list[EventIn] | None
    if isinstance(batch, WellFormedTrackIn):
        parsed = batch.events
    else:
        try:  # the usual case: every event is well-formed, so validate them in one call
            parsed = _ALL_EVENTS.validate_python(batch.events)
        except ValidationError:
            parsed = None
    for i, raw in enumerate(batch.events):
        try:
            ev, warnings = _judge(
                i,
                raw,
                batch,
                sent_at,
                now,
                parsed=parsed[i] if parsed is not None else None,
                check_size=check_size,
            )
        except _Rejected as rej:
            results.append(
                {
                    "index": i,
                    "status": "rejected",
                    "message_id": None,
                    "error": rej.error,
                    "warnings": [],
                }
            )
            dropped.append(
                {
                    "app_id": caller.app_id,
                    "received_at": now,
                    "code": rej.error["code"],
                    "field": rej.error["field"],
                    "message": str(rej.error["message"])[:500],
                    "excerpt": _excerpt(raw),
                }
            )
            continue
        valid.append(ev)
        results.append(
            {
                "index": i,
                "status": "accepted",
                "message_id": ev.message_id,
                "error": None,
                "warnings": warnings,
            }
        )

    hashes: dict[str, str | None] = {}
    for ev in valid:
        if ev.who.external_id is not None:
            hashes.setdefault(ev.who.external_id, ev.user_hash)
    for ext, given in hashes.items():
        verify(caller, ctx.box, ext, given)

    # The first of several events sharing a message id wins; later ones are retries.
    fresh: dict[str, PendingEvent] = {}
    for ev in valid:
        if ev.message_id in fresh:
            results[ev.index]["status"] = "duplicate"
        else:
            fresh[ev.message_id] = ev

    def check_resolved(ev: PendingEvent, resolved: Resolved) -> None:
        # An anonymous id that belongs to a known user speaks for that user.
        if ev.who.external_id is None:
            verify(
                caller,
                ctx.box,
                resolved.external_id,
                ev.user_hash,
                field=f"events[{ev.index}].user_hash",
            )

    sub = Submission(
        caller, list(fresh.values()), dropped, now, check_resolved if must_verify(caller) else None
    )
    stored = await committer_for(ctx.db).submit(sub)
    for ev in fresh.values():
        if ev.message_id not in stored:
            results[ev.index]["status"] = "duplicate"

    accepted = sum(1 for r in results if r["status"] == "accepted")
    duplicates = sum(1 for r in results if r["status"] == "duplicate")
    EVENTS_ACCEPTED.inc(accepted)
    EVENTS_DUPLICATE.inc(duplicates)
    for row in dropped:
        EVENTS_REJECTED.labels(row["code"]).inc()
    return {
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": len(dropped),
        "results": results,
    }
