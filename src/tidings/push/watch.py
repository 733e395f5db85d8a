"""`on_event` push campaigns: a watch job reads the events named by the schedule since its
settled cursor (event id; see watch_cursor for PostgreSQL's out-of-order commits), plans
one occurrence per event (occurrence = event id, so each event sends at most once per
device) due `delay_seconds` after the event, and enqueues the next watch. Quiet hours,
consent, holdout and budget apply as for any push.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns import lifecycle
from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.jobs import queue
from tidings.jobs.queue import Claimed
from tidings.push import planner, queries, watch_cursor
from tidings.push.fanout import SEND, SEND_BATCH, audience_condition, rules_of
from tidings.tenancy.queries import get_app

WATCH = "push.watch"
WATCH_SECONDS = 2.0  # how often an on_event campaign looks for new events
EVENTS_BATCH = 1000


async def start_watch(s: AsyncSession, c: Campaign, now: datetime) -> None:
    """The first watch of an activated `on_event` campaign: events from now on."""
    after = await queries.last_event_id(s, c.app_id)
    stamp = now.isoformat()
    payload = {"campaign_id": c.id, "after": after, "stamp": stamp, "seq": 0}
    await queue.enqueue(s, WATCH, payload, now=now, unique_key=f"{c.id}:{stamp}:0", app_id=c.app_id)


async def watch(ctx: AppContext, job: Claimed) -> None:
    """Handler of `push.watch`."""
    p = job.payload
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        c = await s.get(Campaign, p["campaign_id"])
        if c is None or c.schedule is None or c.schedule.get("type") != "on_event":
            return
        status = lifecycle.effective_status(c.status, c.starts_at, c.ends_at, now)
        if status in ("completed", "archived", "paused"):
            return  # activating again starts a new watch from that moment
        # Before any write: the snapshot bounds say which ids have settled (watch_cursor).
        seen = await watch_cursor.horizon(s)
        found: list[Any] = []
        if status == "active":
            found = await _plan_events(s, c, p, now)
        before, held = int(p["after"]), p.get("held") or []
        top = int(found[-1].id) if found else before
        after, pending = watch_cursor.advance(before, held, top, seen)
        seq = int(p["seq"]) + 1
        nxt = {**p, "after": after, "held": pending, "seq": seq}
        # A full batch reads on at once while the cursor moves (or a pending top awaits
        # its stamp); a cursor held by a long transaction waits, instead of spinning.
        moving = after > before or any(x is None for _, x in held)
        full = len(found) == EVENTS_BATCH and moving
        run_at = now if full else now + timedelta(seconds=WATCH_SECONDS)
        await queue.enqueue(
            s,
            WATCH,
            nxt,
            now=now,
            run_at=run_at,
            unique_key=f"{c.id}:{p['stamp']}:{seq}",
            app_id=c.app_id,
        )


async def _plan_events(s: AsyncSession, c: Campaign, p: dict[str, Any], now: datetime) -> list[Any]:
    schedule = c.schedule or {}
    condition = await audience_condition(s, c, now)
    found = await queries.events_after(
        s, condition, c.app_id, schedule["event"], after=int(p["after"]), limit=EVENTS_BATCH
    )
    if not found:
        return found
    app = await get_app(s, c.app_id)
    rules = rules_of(c, app.settings if app is not None else {})
    user_ids = sorted({e.user_id for e in found})
    people = {r.user_id: r for r in await queries.recipients(s, user_ids, now - timedelta(days=1))}
    devices = await queries.push_devices(s, user_ids, c.channel)
    delay = timedelta(seconds=int(schedule.get("delay_seconds", 0)))
    done = await queries.planned(s, c.id, [int(e.id) for e in found], user_ids)
    rows: list[dict[str, Any]] = []
    due: list[int] = []
    for e in found:
        who = people.get(e.user_id)
        if who is None or (e.user_id, int(e.id)) in done:
            continue
        d = planner.decide(who, rules, e.timestamp + delay, now)
        base = {
            "app_id": c.app_id,
            "campaign_id": c.id,
            "user_id": e.user_id,
            "channel": c.channel,
            "occurrence": int(e.id),
            "format": c.format,
            "session_id": None,
            "created_at": now,
            "variant": d.variant,
            "reason": d.reason,
            "device_id": None,
            "device_key": 0,
            "status": d.status,
            "data": {"event": e.properties or {}},
        }
        mine = devices.get(e.user_id, [])
        if d.status == planner.SUPPRESSED:
            rows.append(base)
        elif not mine:
            rows.append({**base, "status": "suppressed", "reason": "no_device"})
        else:
            due.append(int(e.id))
            data = {"event": e.properties or {}, "send_at": d.send_at.isoformat()}
            rows.extend({**base, "device_id": i, "device_key": i, "data": data} for i in mine)
    await queries.insert_deliveries(s, rows)
    queued = [(i, at) for i, _, at in await queries.queued_for(s, c.id, due, user_ids)]
    push = c.controls.get("push") or {}
    ttl = timedelta(seconds=int(push.get("ttl_seconds", 86_400)))
    groups: dict[datetime, list[int]] = {}
    for did, planned_at in queued:
        at = (planned_at or now).replace(second=0, microsecond=0)
        groups.setdefault(max(at, now), []).append(did)
    for at, ids in sorted(groups.items()):
        for i in range(0, len(ids), SEND_BATCH):
            chunk = ids[i : i + SEND_BATCH]
            payload = {
                "campaign_id": c.id,
                "delivery_ids": chunk,
                "expires_at": (at + ttl).isoformat(),
            }
            await queue.enqueue(
                s,
                SEND,
                payload,
                now=now,
                run_at=at,
                unique_key=f"{c.id}:event:{chunk[0]}:{len(chunk)}",
                app_id=c.app_id,
            )
    return found
