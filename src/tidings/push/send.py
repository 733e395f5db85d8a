"""Sending queued push deliveries: render per user, send through the app's senders, write
every outcome on its delivery row, deactivate addresses the provider calls invalid.

A row is marked `sending` in a committed transaction just before its request goes on the
wire (the connection slot is already held), and a run only sends rows still `queued`, so
two runs never both send a row. A run killed in between leaves rows `sending`; the job's
retry sends them again (the provider may or may not have taken them), always under the
campaign's collapse id, so a device that gets both shows one notification (reliability
matrix S4): a push is never lost and never shown twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns import lifecycle
from tidings.campaigns.models import Campaign
from tidings.clock import Clock
from tidings.context import AppContext
from tidings.delivery.payloads import PushContent
from tidings.delivery.providers.base import Delivered, Outcome, Rejected, Retry
from tidings.jobs.handlers import RetryLater
from tidings.jobs.queue import Claimed
from tidings.messages.render import render_content, user_variables
from tidings.push import content as rendering
from tidings.push import ledger_sqlite, pacing, queries, send_budget
from tidings.push.batcher import Batcher
from tidings.push.senders import Sender, sender_for
from tidings.push.waves import send_in_waves

REASON_CHARS = 64


def default_collapse_key(campaign_id: int) -> str:
    """The collapse id of a campaign without its own: a resent push replaces, on the
    device, the copy it may already show."""
    return f"tidings-{campaign_id}"


@dataclass
class Result:
    """What one send run did: delivery id → (status, reason), and the longest retry wait."""

    outcomes: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    retry_after: float | None = None
    retry_reason: str = ""
    pacer: pacing.Pacer | None = None  # its slot of the campaign's rate, when each send went


@dataclass(frozen=True)
class _Written:
    delivery_id: int
    status: str
    reason: str | None
    device_id: int | None = None
    address_hash: str | None = None
    invalid: Rejected | None = None


Entry = int | _Written  # a delivery id to mark `sending`, or an outcome to record


def _ledger_writer(clock: Clock) -> Any:
    async def write(s: AsyncSession, items: Sequence[Entry]) -> list[bool | None]:
        """Outcomes first, then marks: one transaction for everything sends of the
        process submitted meanwhile (SQLite has one writer: fewer, larger commits)."""
        outcomes = [w for w in items if isinstance(w, _Written)]
        if outcomes:
            now = clock.now()
            await queries.record(s, ((w.delivery_id, w.status, w.reason) for w in outcomes), now)
            for w in outcomes:
                if w.invalid is not None and w.device_id is not None and w.address_hash:
                    await queries.deactivate(
                        s, w.device_id, w.address_hash, w.invalid.reason, w.invalid.invalid_since
                    )
        ids = [i for i in items if isinstance(i, int)]
        taken = set(await queries.take(s, ids)) if ids else set()
        return [None if isinstance(i, _Written) else i in taken for i in items]

    return write


# One ledger per database and event loop, shared by every send job the process runs.
_ledgers: dict[tuple[int, int], Batcher[Entry, bool | None]] = {}


def _ledger(ctx: AppContext) -> Batcher[Entry, bool | None]:
    key = (id(ctx.db), id(asyncio.get_running_loop()))
    ledger = _ledgers.get(key)
    if ledger is None or ledger.db is not ctx.db:  # ids of dead objects get reused
        ledger = _ledgers[key] = Batcher(
            ctx.db, _ledger_writer(ctx.clock), partial(ledger_sqlite.write, ctx.clock)
        )
    return ledger


def _clip(reason: str | None) -> str | None:
    return reason[:REASON_CHARS] if reason else reason


async def deliver(
    ctx: AppContext,
    c: Campaign,
    ids: Sequence[int],
    *,
    expires_at: datetime | None,
    event: dict[str, Any] | None = None,
) -> Result:
    """Send the rows of `ids` still queued; returns every outcome written."""
    now = ctx.clock.now()
    result = Result()
    async with ctx.db.read() as s:
        rows = await queries.sendable(s, ids)
    if not rows:
        return result
    if expires_at is not None and now > expires_at:
        async with ctx.db.write() as s:
            await queries.expire(s, [r.id for r in rows], "expired")
        result.outcomes.update({r.id: ("failed", "expired") for r in rows})
        return result
    spent = set(await send_budget.hold_back(ctx, c, rows, now))
    if spent:
        result.outcomes.update({i: ("suppressed", send_budget.REASON) for i in spent})
        rows = [r for r in rows if r.id not in spent]
    push = c.controls.get("push") or {}
    ttl = push.get("ttl_seconds")
    if expires_at is not None:
        ttl = max(0, int((expires_at - now).total_seconds()))
    collapse = push.get("collapse_key") or default_collapse_key(c.id)
    pacer = await pacing.pacer_for(ctx, c.id, push.get("rate_limit_per_second"), len(rows))
    result.pacer = pacer
    variants = {v["key"]: v for v in c.variants}
    senders: dict[str, Sender | None] = {}
    for provider in {r.push_provider for r in rows if r.push_provider}:
        senders[provider] = await sender_for(ctx, c.app_id, provider)
    ledger = _ledger(ctx)
    plain: dict[tuple[str, str | None], PushContent] = {}
    prepared: dict[tuple[str, int], bytes | None] = {}  # (provider, id(content)) → body
    unsendable: list[tuple[int, str]] = []

    def scope_for(r: Any) -> dict[str, Any]:
        user = user_variables(
            r.attributes,
            external_id=r.external_id,
            locale=r.locale,
            timezone=r.timezone,
            country=r.country,
            city=r.city,
        )
        stored = (r.data or {}).get("event") if isinstance(r.data, dict) else None
        return rendering.scope(user, {"id": c.id, "name": c.name}, stored or event)

    def message_for(r: Any) -> dict[str, Any]:
        return rendering.pick(variants.get(r.variant) or c.variants[0], r.locale)

    def content_for(r: Any) -> PushContent:
        key = (r.variant, r.locale)
        shared = plain.get(key)
        if shared is not None:  # the message depends on the variant and locale only
            return shared
        message = message_for(r)
        if not rendering.has_templates(message):
            plain[key] = rendering.render(message, None, ttl_seconds=ttl, collapse_key=collapse)
            return plain[key]
        return rendering.render(message, scope_for(r), ttl_seconds=ttl, collapse_key=collapse)

    def payload_for(r: Any) -> dict[str, Any]:
        message = message_for(r)
        if not rendering.has_templates(message):
            return dict(message["payload"])
        return dict(render_content(message["payload"], scope_for(r)))

    async def one_device(r: Any, sender: Sender) -> None:
        payload = payload_for(r)
        async with sender.slots:
            await pacer.wait()
            if not await ledger.submit(r.id):
                return  # another run took it
            outcome = await sender.send_device(r.push_address, payload, r.id, ttl)
        await ledger.submit(_outcome(r, outcome, result))

    async def one(r: Any, sender: Sender) -> None:
        message = content_for(r)
        body = None
        if any(message is p for p in plain.values()):  # shared by many: encode once
            key = (sender.provider, id(message))
            if key not in prepared:
                prepared[key] = sender.prepare(message)
            body = prepared[key]
        async with sender.slots:
            await sender.ready()
            await pacer.wait()
            # Connected before the mark: from the mark on, nothing waits before the wire.
            lease = await sender.lease(r.push_address)
            if lease is not None and body is not None:
                staged = sender.fcm_body(body, r.push_address, r.id)
                if staged is not None:
                    await sender.stage(lease, staged)
            taken = False
            try:
                taken = bool(await ledger.submit(r.id))
            finally:
                if lease is not None and not taken:
                    sender.give_back(lease)
            if not taken:
                return  # another run took it
            # data.tidings_id carries the delivery id: the SDK reports an open with it.
            outcome = await sender.send_one(r.push_address, message, r.id, now, body, lease)
        await ledger.submit(_outcome(r, outcome, result))

    def wave_body(r: Any, sender: Sender) -> bytes | None:
        message = content_for(r)
        body = None
        if any(message is p for p in plain.values()):
            key = (sender.provider, id(message))
            if key not in prepared:
                prepared[key] = sender.prepare(message)
            body = prepared[key]
        return sender.fcm_request(message, body, r.push_address, r.id)

    # Unpaced FCM sends go out in waves (push.waves): one mark and one outcome write per
    # wave instead of per push. Paced ones, and anything unusual, go one by one.
    fcm = senders.get("fcm")
    in_waves: list[tuple[Any, bytes]] = []
    batched = (
        c.channel == "push"
        and not push.get("rate_limit_per_second")
        and fcm is not None
        and fcm.batches_fcm
    )
    tasks = []
    for r in rows:
        sender = senders.get(r.push_provider) if r.push_provider else None
        if not r.push_active or not r.push_address:
            unsendable.append((r.id, "address_inactive"))
        elif sender is None:
            unsendable.append((r.id, f"no_{r.push_provider}_credentials"))
        else:
            body = None
            if batched and sender is fcm:
                try:
                    body = wave_body(r, sender)
                except Exception:
                    body = None  # the per-row path meets the same error and reports it
            if body is not None:
                in_waves.append((r, body))
            else:
                tasks.append(one_device(r, sender) if c.channel == "device" else one(r, sender))
    if in_waves and fcm is not None:
        tasks.append(
            send_in_waves(
                fcm,
                ledger,
                in_waves,
                lambda r, outcome: _outcome(r, outcome, result),
                lambda r: one(r, fcm),
            )
        )
    if unsendable:
        async with ctx.db.write() as s:
            for reason in {why for _, why in unsendable}:
                await queries.expire(s, [i for i, why in unsendable if why == reason], reason)
        result.outcomes.update({i: ("failed", why) for i, why in unsendable})
    # Every send finishes (or fails) before the job does; then the first error, if any.
    for failure in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(failure, BaseException):
            raise failure
    return result


def _outcome(r: Any, outcome: Outcome, result: Result) -> _Written:
    if isinstance(outcome, Delivered):
        result.outcomes[r.id] = ("delivered", None)
        return _Written(r.id, "delivered", None)
    if isinstance(outcome, Retry):
        if result.retry_after is None or outcome.after_seconds > result.retry_after:
            result.retry_after = outcome.after_seconds
            result.retry_reason = outcome.reason
        result.outcomes[r.id] = ("queued", _clip(outcome.reason))
        return _Written(r.id, "queued", _clip(outcome.reason))
    reason = _clip(outcome.reason)
    result.outcomes[r.id] = ("failed", reason)
    if outcome.token_invalid:
        return _Written(r.id, "failed", reason, r.device_id, r.push_address_hash, outcome)
    return _Written(r.id, "failed", reason)


async def send_batch(ctx: AppContext, job: Claimed) -> None:
    """Handler of `push.send`: one batch of deliveries of one campaign."""
    p = job.payload
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        c = await s.get(Campaign, p["campaign_id"])
    if c is None:
        return
    if lifecycle.effective_status(c.status, c.starts_at, c.ends_at, now) != "active":
        return  # rows stay queued; activating the campaign again plans them again
    ids = [int(i) for i in p["delivery_ids"]]
    async with ctx.db.read() as s:
        unfinished = await queries.any_unfinished(s, ids)
    if unfinished:  # only this job's runs mark its rows: none can appear meanwhile
        async with ctx.db.write() as s:
            await queries.resume_unfinished(s, ids)
    expires = p.get("expires_at")
    result = await deliver(
        ctx, c, ids, expires_at=datetime.fromisoformat(expires) if expires else None
    )
    if result.retry_after is not None:
        raise RetryLater(result.retry_reason, retry_after=result.retry_after)
