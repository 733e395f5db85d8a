"""Campaign rows → decision values: the pure `Spec` and the compiled audience predicate.

An audience compiles once per (campaign, version, referenced segment versions); a segment
edit therefore reaches every campaign using it on the next decision.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns import lifecycle, queries
from tidings.campaigns.message_plans import MessagePlan
from tidings.campaigns.models import Campaign
from tidings.db import Database
from tidings.inapp.decide import by_priority
from tidings.inapp.model import Return, Spec
from tidings.refreshes import Refreshes
from tidings.segments.actions import checked_rule
from tidings.segments.models import Segment
from tidings.targeting import Predicate, compile_rule

log = logging.getLogger("tidings.campaigns")
_CACHE_MAX = 10_000
_NEVER = datetime.min.replace(tzinfo=UTC)
# Keyed by database too: ids are per database (tests run two in one process).
_compiled: dict[tuple[int, int, int, int], Predicate] = {}


def _everyone(_profile: Any, _now: datetime) -> bool:
    return True


def spec_of(c: Campaign, now: datetime) -> Spec:
    controls = c.controls
    until = controls.get("until_completed")
    hours = controls.get("display_hours")
    frequency = controls.get("frequency") or {}
    return Spec(
        campaign_id=c.id,
        format=c.format,
        status=lifecycle.effective_status(c.status, c.starts_at, c.ends_at, now),
        priority=int(controls.get("priority", 100)),
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        max_impressions=int(frequency.get("max_impressions", 1)),
        per_days=frequency.get("per_days"),
        reeligible_after_days=controls.get("reeligible_after_days"),
        until_completed=Return(until["return_after_days"], until["max_returns"]) if until else None,
        exempt_from_budget=bool(controls.get("exempt_from_budget", False)),
        display_hours=(hours["start"], hours["end"]) if hours else None,
        variants=tuple((v["key"], int(v["weight"])) for v in c.variants),
        control_weight=c.control_weight,
        winner=c.winner,
    )


async def segment_versions(s: AsyncSession, app_id: int) -> dict[int, int]:
    rows = await s.execute(sa.select(Segment.id, Segment.version).where(Segment.app_id == app_id))
    return {sid: version for sid, version in rows.all()}


async def predicates(
    s: AsyncSession, db_key: int, app_id: int, campaigns: Sequence[Campaign]
) -> dict[int, Predicate]:
    """campaign id → audience predicate, compiled on first use of each version."""
    out: dict[int, Predicate] = {}
    versions: dict[int, int] | None = None
    for c in campaigns:
        if c.audience is None and c.segment_id is None:
            out[c.id] = _everyone
            continue
        if c.segment_id is not None or "segment" in str(c.audience):
            # Any segment may be referenced (nested); key on all their versions.
            versions = versions if versions is not None else await segment_versions(s, app_id)
            seg_key = hash(tuple(sorted(versions.items())))
        else:
            seg_key = 0
        key = (db_key, c.id, c.version, seg_key)
        predicate = _compiled.get(key)
        if predicate is None:
            raw = c.audience if c.audience is not None else {"segment": c.segment_id}
            predicate = compile_rule(await checked_rule(s, app_id, raw, root="audience"))
            if len(_compiled) >= _CACHE_MAX:
                _compiled.clear()
            _compiled[key] = predicate
        out[c.id] = predicate
    return out


# The app's live campaigns, their predicates and specs, kept briefly per process: the
# decision hot path then reads only the user. Changes made in this process drop the entry
# at once; changes made by other nodes (or a segment edit) are seen within LIVE_TTL plus
# one background check (`live_for`).
LIVE_TTL = 2.0


class Live(NamedTuple):
    """An app's active or scheduled campaigns, with what deciding needs of each."""

    predicates: dict[int, Predicate]
    # Built once per load (reading ORM attributes per request cost more than deciding);
    # `current` brings the status up to date.
    specs: dict[int, Spec]
    # Split once per load, not per decision: messages (by id) and inbox posts.
    messages: dict[int, Campaign]
    posts: list[Campaign]
    # The messages' specs in the order a decision lists them, and their prepared messages.
    order: tuple[Spec, ...]
    plans: dict[int, MessagePlan]

    def current(self, campaign_id: int, now: datetime) -> Spec:
        """The campaign's spec with its status as of `now`."""
        return self.now(self.specs[campaign_id], now)

    @staticmethod
    def now(spec: Spec, now: datetime) -> Spec:
        """`spec` with its status as of `now`."""
        if spec.starts_at is None and spec.ends_at is None and spec.status != "scheduled":
            return spec
        status = lifecycle.effective_status(spec.status, spec.starts_at, spec.ends_at, now)
        return spec if status == spec.status else replace(spec, status=status)


class _Cached(NamedTuple):
    checked: float  # monotonic time of the last load or stamp check
    stamp: tuple[object, ...]
    live: Live


_live: dict[tuple[int, int], _Cached] = {}
# Bumped by `forget_live`: loads that began before a change do not store what they read.
_generations: dict[int, int] = {}
_refreshes: Refreshes[tuple[int, int]] = Refreshes()


async def live_for(db: Database, app_id: int) -> Live:
    """The app's live campaigns for a decision. Past LIVE_TTL the cached set still
    answers while one background task checks and reloads it."""
    key = (id(db), app_id)
    cached = _live.get(key)
    if cached is None:
        async with db.read() as s:
            return await live_set(s, id(db), app_id)
    if time.monotonic() - cached.checked >= LIVE_TTL:
        _refreshes.start(key, lambda: _refresh(db, app_id))
    return cached.live


async def _refresh(db: Database, app_id: int) -> None:
    try:
        async with db.read() as s:
            await live_set(s, id(db), app_id)
    except Exception:
        # The next decision loads it itself, and meets the error in its own request.
        log.exception("could not reload the live campaigns", extra={"app_id": app_id})
        _live.pop((id(db), app_id), None)


async def live_set(s: AsyncSession, db_key: int, app_id: int) -> Live:
    """The app's live campaigns, from the cache when fresh. Past LIVE_TTL a small query
    (`queries.live_stamp`) says whether anything changed; only then is the set loaded
    again: a load of hundreds of campaigns holds the event loop for tens of
    milliseconds, which every request in flight would wait out (bench/decide.py p99)."""
    key = (db_key, app_id)
    cached = _live.get(key)
    moment = time.monotonic()
    if cached is not None and moment - cached.checked < LIVE_TTL:
        return cached.live
    # A change made meanwhile in this process (`forget_live`) wins over what this read.
    generation = _generations.get(app_id, 0)
    stamp = await queries.live_stamp(s, app_id)
    if cached is not None and cached.stamp == stamp:
        if _generations.get(app_id, 0) == generation and _live.get(key) is cached:
            _live[key] = cached._replace(checked=moment)
        return cached.live
    campaigns = await queries.live_campaigns(s, app_id)
    live = assemble(campaigns, await predicates(s, db_key, app_id, campaigns))
    if _generations.get(app_id, 0) == generation:
        if len(_live) >= _CACHE_MAX:
            _live.clear()
        _live[key] = _Cached(moment, stamp, live)
    return live


def assemble(campaigns: Sequence[Campaign], found: dict[int, Predicate]) -> Live:
    """The live set of these campaigns (pure): specs, order and prepared messages."""
    # Stored status here; `Live.current` applies start and end times per decision.
    specs = {c.id: replace(spec_of(c, _NEVER), status=c.status) for c in campaigns}
    messages = {c.id: c for c in campaigns if c.format != "post"}
    posts = [c for c in campaigns if c.format == "post"]
    order = tuple(by_priority([specs[cid] for cid in messages]))
    plans = {cid: MessagePlan(c, specs[cid]) for cid, c in messages.items()}
    return Live(found, specs, messages, posts, order, plans)


def forget_live(app_id: int) -> None:
    """Drop the app's cached live set (after a change in this process); a load already
    under way keeps what it read to itself."""
    _generations[app_id] = _generations.get(app_id, 0) + 1
    for key in [k for k in _live if k[1] == app_id]:
        del _live[key]
