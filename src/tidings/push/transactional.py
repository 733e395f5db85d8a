"""Transactional push: one campaign's message to one user now, behind an Idempotency-Key
(IETF draft semantics: same key and body → the stored response again; another body →
422; the first request still running → 409).

Transactional sends need push consent but skip the holdout, quiet hours and the budget:
the user is waiting for this message (a receipt, a sign-in code).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns import lifecycle
from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.db import dialect_insert, table_of
from tidings.errors import BadRequest, Conflict, NotFound, TidingsError, ValidationFailed
from tidings.jobs import queue
from tidings.push import queries
from tidings.push.fanout import SEND
from tidings.push.models import IdempotencyKey
from tidings.push.send import deliver
from tidings.tenancy.auth import Caller

keys = table_of(IdempotencyKey)
# A request still `in_flight` this long after it began died with its process: its key
# may be used again.
ABANDONED = timedelta(minutes=5)


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_id: Annotated[str, Field(min_length=1, max_length=255)]
    event: Annotated[dict[str, Any], Field(description="What `{{ event.* }}` reads.")] = {}


class DeliveryResult(BaseModel):
    id: int
    device_id: int | None
    status: str
    reason: str | None


class SendOut(BaseModel):
    campaign_id: int
    user_id: int
    status: str = Field(description="`sent` when any device got it, else `suppressed`/`failed`.")
    deliveries: list[DeliveryResult]


def _hash(campaign_id: int, body: SendIn) -> str:
    canonical = json.dumps(
        {"campaign_id": campaign_id, **body.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _claim_key(
    ctx: AppContext, app_id: int, scope: str, key: str, digest: str
) -> tuple[int, tuple[int, dict[str, Any]] | None]:
    """(key row id, stored response to replay or None when this request runs)."""
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        stmt = dialect_insert(s, keys).values(
            app_id=app_id,
            scope=scope,
            key=key,
            request_hash=digest,
            status="in_flight",
            created_at=now,
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=["app_id", "scope", "key"])
        new_id = (await s.execute(stmt.returning(keys.c.id))).scalar_one_or_none()
        if new_id is not None:
            return int(new_id), None
        row = (
            await s.execute(
                sa.select(keys).where(
                    keys.c.app_id == app_id, keys.c.scope == scope, keys.c.key == key
                )
            )
        ).one()
        if row.request_hash != digest:
            raise ValidationFailed(
                "this Idempotency-Key was used with a different request body",
                field="Idempotency-Key",
                code="idempotency_key_reused",
            )
        if row.status == "in_flight":
            if now - row.created_at < ABANDONED:
                raise Conflict(
                    "a request with this Idempotency-Key is still being processed",
                    field="Idempotency-Key",
                    code="request_in_flight",
                )
            await s.execute(sa.update(keys).where(keys.c.id == row.id).values(created_at=now))
            return int(row.id), None
        assert row.response_status is not None and row.response_body is not None
        return int(row.id), (int(row.response_status), dict(row.response_body))


async def _finish(ctx: AppContext, key_id: int, status: int, body: dict[str, Any]) -> None:
    async with ctx.db.write() as s:
        await s.execute(
            sa.update(keys)
            .where(keys.c.id == key_id)
            .values(
                status="done",
                response_status=status,
                response_body=body,
                finished_at=ctx.clock.now(),
            )
        )


async def _forget(ctx: AppContext, key_id: int) -> None:
    async with ctx.db.write() as s:
        await s.execute(sa.delete(keys).where(keys.c.id == key_id))


async def send_one(
    ctx: AppContext, caller: Caller, campaign_id: int, body: SendIn, key: str | None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, response body) of a transactional send, replayed for a repeated key."""
    if not key:
        raise BadRequest("an Idempotency-Key header is required", field="Idempotency-Key")
    if len(key) > 255:
        raise ValidationFailed("at most 255 characters", field="Idempotency-Key")
    scope = f"POST /v1/campaigns/{campaign_id}/sends"
    key_id, stored = await _claim_key(ctx, caller.app_id, scope, key, _hash(campaign_id, body))
    if stored is not None:
        return stored
    try:
        out = await _send(ctx, caller, campaign_id, body, occurrence=key_id)
    except TidingsError as exc:
        # A refusal is the answer to this request: the same request gets it again.
        await _finish(ctx, key_id, exc.status, exc.body())
        raise
    except BaseException:
        await _forget(ctx, key_id)  # nothing was stored: the client may try again
        raise
    result = (200, out.model_dump(mode="json"))
    await _finish(ctx, key_id, *result)
    return result


async def _plan_one(
    s: AsyncSession, caller: Caller, campaign_id: int, body: SendIn, occurrence: int, now: datetime
) -> tuple[Campaign, int, list[int]]:
    c = await s.get(Campaign, campaign_id)
    if c is None or c.app_id != caller.app_id or c.channel not in queries.CHANNELS:
        raise NotFound(f"no push campaign {campaign_id}", field="campaign_id")
    if lifecycle.effective_status(c.status, c.starts_at, c.ends_at, now) != "active":
        raise Conflict("the campaign is not active", field="campaign_id", code="not_active")
    user_id = (
        await s.execute(
            sa.select(queries.users.c.id).where(
                queries.users.c.app_id == caller.app_id,
                queries.users.c.external_id == body.external_id,
            )
        )
    ).scalar_one_or_none()
    if user_id is None:
        raise NotFound("no user with this external_id", field="external_id")
    [who] = await queries.recipients(s, [user_id], now)
    base = {
        "app_id": c.app_id,
        "campaign_id": c.id,
        "user_id": user_id,
        "channel": c.channel,
        "occurrence": occurrence,
        "format": c.format,
        "session_id": None,
        "created_at": now,
        "data": {"transactional": True},
        "variant": c.variants[0]["key"],
    }
    devices = (await queries.push_devices(s, [user_id], c.channel)).get(user_id, [])
    if c.channel == "push" and who.consent.get("push") is not True:
        rows = [
            {
                **base,
                "device_id": None,
                "device_key": 0,
                "status": "suppressed",
                "reason": "no_consent",
            }
        ]
    elif not devices:
        rows = [
            {
                **base,
                "device_id": None,
                "device_key": 0,
                "status": "suppressed",
                "reason": "no_device",
            }
        ]
    else:
        rows = [
            {**base, "device_id": d, "device_key": d, "status": "queued", "reason": None}
            for d in devices
        ]
    await queries.insert_deliveries(s, rows)
    return c, user_id, [i for i, _, _ in await queries.queued_for(s, c.id, occurrence, [user_id])]


async def _send(
    ctx: AppContext, caller: Caller, campaign_id: int, body: SendIn, *, occurrence: int
) -> SendOut:
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        c, user_id, ids = await _plan_one(s, caller, campaign_id, body, occurrence, now)
    ttl = int((c.controls.get("push") or {}).get("ttl_seconds", 86_400))
    expires = now + timedelta(seconds=ttl)
    result = await deliver(ctx, c, ids, expires_at=expires, event=body.event)
    if result.retry_after is not None:
        retry = [i for i, (status, _) in result.outcomes.items() if status == "queued"]
        async with ctx.db.write() as s:
            await queue.enqueue(
                s,
                SEND,
                {"campaign_id": c.id, "delivery_ids": retry, "expires_at": expires.isoformat()},
                now=now,
                run_at=now + timedelta(seconds=result.retry_after),
                unique_key=f"{c.id}:tx:{occurrence}",
                app_id=c.app_id,
            )
    async with ctx.db.read() as s:
        rows = (
            await s.execute(
                sa.select(
                    queries.deliveries.c.id,
                    queries.deliveries.c.device_id,
                    queries.deliveries.c.status,
                    queries.deliveries.c.reason,
                )
                .where(
                    queries.deliveries.c.campaign_id == c.id,
                    queries.deliveries.c.user_id == user_id,
                    queries.deliveries.c.channel == c.channel,
                    queries.deliveries.c.occurrence == occurrence,
                )
                .order_by(queries.deliveries.c.id)
            )
        ).all()
    results = [DeliveryResult(id=r[0], device_id=r[1], status=r[2], reason=r[3]) for r in rows]
    went = any(r.status in ("sent", "delivered") for r in results)
    overall = "sent" if went else (results[0].status if results else "failed")
    return SendOut(campaign_id=c.id, user_id=user_id, status=overall, deliveries=results)
