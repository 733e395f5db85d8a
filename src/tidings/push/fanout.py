"""Fan-out: activating a push campaign enqueues its plan; each plan job takes one batch
of the audience (keyset by user id), writes its delivery rows and send jobs, and enqueues
the plan of the next batch, all in one transaction. A rerun of any batch adds nothing:
delivery rows and jobs are keyed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns import lifecycle
from tidings.campaigns.models import Campaign
from tidings.campaigns.schemas import BudgetIn
from tidings.context import AppContext
from tidings.db import dialect_name
from tidings.jobs import queue
from tidings.jobs.queue import Claimed
from tidings.push import planner, queries
from tidings.push.planner import Budget, Rules
from tidings.segments.actions import checked_rule
from tidings.targeting import sql
from tidings.tenancy.queries import get_app

PLAN, SEND = "push.plan", "push.send"
PLAN_BATCH = 1000  # users per plan job
SEND_BATCH = 500  # deliveries per send job


def _time(text: str) -> time:
    return time.fromisoformat(text)


async def start_push(s: AsyncSession, c: Campaign, now: datetime) -> None:
    """Enqueue the first plan job of an activated push campaign (caller's transaction)."""
    schedule = c.schedule or {"type": "now"}
    kind = schedule["type"]
    if kind == "api":
        return  # transactional sends only
    start = max(now, c.starts_at or now)
    payload: dict[str, Any] = {
        "campaign_id": c.id,
        "after": 0,
        "queued": 0,
        "from": start.isoformat(),
    }
    if kind == "recurring":
        day = planner.first_period(schedule["every"], schedule.get("weekday"), start)
        run_at = max(start, planner.period_starts(day, _time(schedule["time"])))
        payload.update(occurrence=day.toordinal(), day=day.isoformat())
        # One chain per campaign and period: activating again joins the existing chain.
        key = f"{c.id}:{day.toordinal()}:0"
    elif kind == "on_event":
        from tidings.push.watch import start_watch  # the watch builds on this module

        await start_watch(s, c, now)
        return
    else:
        run_at = start
        if kind == "at":
            run_at = max(start, datetime.fromisoformat(schedule["at"]))
        payload.update(occurrence=1)
        # Keyed by activation: re-activating re-plans (rows already written stay as they are).
        key = f"{c.id}:1:{now.isoformat()}:0"
    await queue.enqueue(s, PLAN, payload, now=now, run_at=run_at, unique_key=key, app_id=c.app_id)


async def audience_condition(s: AsyncSession, c: Campaign, now: datetime) -> Any:
    """The campaign's audience as a SQL condition over users (None: everyone)."""
    if c.audience is None and c.segment_id is None:
        return None
    raw = c.audience if c.audience is not None else {"segment": c.segment_id}
    rule = await checked_rule(s, c.app_id, raw, root="audience")
    await sql.prepare(s)
    return sql.condition(rule, dialect=dialect_name(s), now=now)


def rules_of(c: Campaign, settings: dict[str, Any]) -> Rules:
    controls = c.controls
    push = controls.get("push") or {}
    quiet = push.get("quiet_hours")
    raw = settings.get("attention_budget")
    b = BudgetIn.model_validate(raw) if isinstance(raw, dict) else BudgetIn()
    return Rules(
        campaign_id=c.id,
        variants=tuple((v["key"], int(v["weight"])) for v in c.variants),
        control_weight=c.control_weight,
        quiet_hours=(quiet["start"], quiet["end"]) if quiet else None,
        budget=Budget(b.max_per_day, b.min_gap_seconds),
        exempt_from_budget=bool(controls.get("exempt_from_budget", False)),
        # In-device messages reach a fleet's screens, not a person's phone: no opt-in.
        consent_channel="push" if c.channel == "push" else None,
        winner=c.winner,
    )


async def plan_batch(ctx: AppContext, job: Claimed) -> None:
    """Handler of `push.plan`: one audience batch of one occurrence.

    The audience is read and planned in a read transaction; only the writes (rows, send
    jobs, the next plan) take the write transaction, so on SQLite the sends' marks and
    outcomes are not held up while a batch is planned. The rows are keyed, and a send
    re-checks the budget and the campaign's status, so a change landing in between
    plans nothing twice and sends nothing it must not."""
    p = job.payload
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        c = await s.get(Campaign, p["campaign_id"])
        if c is None:
            return
        if lifecycle.effective_status(c.status, c.starts_at, c.ends_at, now) != "active":
            planned = None
        else:
            planned = await _plan(s, c, p, now)
    async with ctx.db.write() as s:
        c = await s.get(Campaign, p["campaign_id"])
        if c is None:
            return
        schedule = c.schedule or {"type": "now"}
        status = lifecycle.effective_status(c.status, c.starts_at, c.ends_at, now)
        recurring = schedule["type"] == "recurring"
        if status != "active" or planned is None:
            if recurring and status in ("paused", "scheduled") and p["after"] == 0:
                await _next_period(s, c, schedule, p, now)
            return
        ids, occurrence, rows = planned
        await queries.insert_deliveries(s, rows)
        queued = await queries.queued_for(s, c.id, occurrence, ids)
        count = await _enqueue_sends(s, c, p, queued, now)
        if len(ids) == PLAN_BATCH:
            nxt = {**p, "after": ids[-1], "queued": int(p.get("queued", 0)) + count}
            key = f"{job.unique_key.rsplit(':', 1)[0]}:{ids[-1]}" if job.unique_key else None
            await queue.enqueue(s, PLAN, nxt, now=now, unique_key=key, app_id=c.app_id)
        elif recurring:
            await _next_period(s, c, schedule, p, now)


async def _plan(
    s: AsyncSession, c: Campaign, p: dict[str, Any], now: datetime
) -> tuple[list[int], int, list[dict[str, Any]]]:
    """The batch's user ids, its occurrence and the delivery rows to write."""
    schedule = c.schedule or {"type": "now"}
    app = await get_app(s, c.app_id)
    settings = app.settings if app is not None else {}
    condition = await audience_condition(s, c, now)
    ids = await queries.audience_page(s, condition, c.app_id, after=p["after"], limit=PLAN_BATCH)
    occurrence = int(p["occurrence"])
    wanted_kw: dict[str, Any] = {}
    if schedule["type"] in ("local_time", "recurring"):
        wanted_kw["at_time"] = _time(schedule["time"])
        day = p.get("day") or schedule.get("date")
        wanted_kw["on_day"] = date.fromisoformat(day) if day else None
    rules = rules_of(c, settings)
    people = await queries.recipients(s, ids, queries.recent_since(now))
    devices = await queries.push_devices(s, ids, c.channel)
    done = {uid for uid, _ in await queries.planned(s, c.id, [occurrence], ids)}
    rows: list[dict[str, Any]] = []
    for r in people:
        if r.user_id in done:
            continue  # planned by an earlier run of this batch
        wanted = planner.wanted_moment(schedule["type"], timezone=r.timezone, now=now, **wanted_kw)
        base = _row(c, r.user_id, occurrence, now)
        if wanted is None:
            rows.append({**base, "status": "suppressed", "reason": "missed", "variant": ""})
            continue
        d = planner.decide(r, rules, wanted, now)
        if d.status == planner.SUPPRESSED:
            rows.append({**base, "status": d.status, "reason": d.reason, "variant": d.variant})
            continue
        mine = devices.get(r.user_id, [])
        if not mine:
            rows.append(
                {**base, "status": "suppressed", "reason": "no_device", "variant": d.variant}
            )
            continue
        for device_id in mine:
            rows.append(
                {
                    **base,
                    "status": "queued",
                    "variant": d.variant,
                    "device_id": device_id,
                    "device_key": device_id,
                    "data": {"send_at": d.send_at.isoformat()},
                }
            )
    return ids, occurrence, rows


async def _enqueue_sends(
    s: AsyncSession,
    c: Campaign,
    p: dict[str, Any],
    queued: list[tuple[int, int, datetime | None]],
    now: datetime,
) -> int:
    """Send jobs for queued rows, grouped by send minute; a rate limit spreads them out."""
    push = c.controls.get("push") or {}
    ttl = int(push.get("ttl_seconds", 86_400))
    rate = push.get("rate_limit_per_second")
    start = datetime.fromisoformat(p["from"])
    groups: dict[datetime, list[int]] = {}
    for did, _, planned_at in queued:
        at = (planned_at or now).replace(second=0, microsecond=0)
        groups.setdefault(at, []).append(did)
    done = int(p.get("queued", 0))
    for at, dids in sorted(groups.items()):
        for i in range(0, len(dids), SEND_BATCH):
            chunk = dids[i : i + SEND_BATCH]
            run_at = max(at, now)
            if rate:
                run_at = max(run_at, start + timedelta(seconds=done / float(rate)))
            payload = {
                "campaign_id": c.id,
                "delivery_ids": chunk,
                "expires_at": (run_at + timedelta(seconds=ttl)).isoformat(),
            }
            await queue.enqueue(
                s,
                SEND,
                payload,
                now=now,
                run_at=run_at,
                unique_key=f"{c.id}:{chunk[0]}:{len(chunk)}:{p['from']}",
                app_id=c.app_id,
            )
            done += len(chunk)
    return done - int(p.get("queued", 0))


async def _next_period(
    s: AsyncSession, c: Campaign, schedule: dict[str, Any], p: dict[str, Any], now: datetime
) -> None:
    day = planner.next_period(schedule["every"], date.fromisoformat(p["day"]))
    run_at = planner.period_starts(day, _time(schedule["time"]))
    payload = {**p, "after": 0, "queued": 0, "occurrence": day.toordinal(), "day": day.isoformat()}
    await queue.enqueue(
        s,
        PLAN,
        payload,
        now=now,
        run_at=run_at,
        unique_key=f"{c.id}:{day.toordinal()}:0",
        app_id=c.app_id,
    )


def _row(c: Campaign, user_id: int, occurrence: int, now: datetime) -> dict[str, Any]:
    return {
        "app_id": c.app_id,
        "campaign_id": c.id,
        "user_id": user_id,
        "channel": c.channel,
        "device_id": None,
        "device_key": 0,
        "occurrence": occurrence,
        "reason": None,
        "format": c.format,
        "session_id": None,
        "created_at": now,
        "data": {},
    }
