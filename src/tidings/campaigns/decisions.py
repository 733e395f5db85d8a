"""Client use-cases: the session-start decision and the inbox.

Reads only: the user, their profile, the app's live campaigns and the user's past
showings, in one read session; then the pure decision, rendering and localization.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tidings.campaigns import specs
from tidings.campaigns.actions import budget_of
from tidings.campaigns.client_schemas import (
    DecideIn,
    InboxOut,
    InboxPost,
)
from tidings.campaigns.decision_inputs import decision_inputs
from tidings.campaigns.message_plans import localized
from tidings.campaigns.models import Campaign
from tidings.context import AppContext
from tidings.deliveries import queries as delivery_queries
from tidings.errors import ValidationFailed
from tidings.inapp.decide import decide
from tidings.inapp.model import Budget, Shown, Spec
from tidings.inapp.policy import schedule, variant
from tidings.messages.render import render_content, user_variables
from tidings.profiles.loader import load_profile
from tidings.profiles.snapshot import Profile
from tidings.tenancy.auth import Caller
from tidings.users.schemas import IdentityIn
from tidings.users.verification import verify

# A session shows a handful of messages at most (the budget); rendering hundreds that
# can never all show is wasted work, so a decision carries the top ones by priority.
MAX_MESSAGES = 20


def budget_values(caller: Caller) -> Budget:
    b = budget_of(caller.settings)
    return Budget(b.max_inapp_per_session, b.max_per_day, b.min_gap_seconds)


def user_scope(profile: Profile) -> dict[str, Any]:
    """What templates may read of the user and their events (see messages.render.ROOTS);
    the same for every message of one decision."""
    user = user_variables(
        profile.attributes,
        external_id=profile.external_id,
        locale=profile.locale,
        timezone=profile.timezone,
        country=profile.country,
        city=profile.city,
    )
    # A decision comes before its trigger fires on the device, so `event` is the latest
    # value of each tracked event property (the app's `last_values` setting).
    return {"user": user, "event": dict(profile.last_values)}


def scope(profile: Profile, c: Campaign, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """What one message's templates may read; `base` is `user_scope(profile)` if known."""
    return {**(base or user_scope(profile)), "campaign": {"id": c.id, "name": c.name}}


def _budget_state(b: Budget, shown: list[Shown], session_id: str, now: datetime) -> dict[str, Any]:
    """A `BudgetState`, as plain JSON-ready values."""
    today = [s for s in shown if s.displayed_at and s.displayed_at > now - timedelta(days=1)]
    last = max((s.displayed_at for s in today if s.displayed_at), default=None)
    return {
        "max_inapp_per_session": b.max_inapp_per_session,
        "max_per_day": b.max_per_day,
        "min_gap_seconds": b.min_gap_seconds,
        "shown_this_session": sum(
            1 for s in shown if s.channel == "in_app" and s.session_id == session_id
        ),
        "shown_today": len(today),
        "next_allowed_at": last + timedelta(seconds=b.min_gap_seconds) if last else None,
    }


async def decide_for(ctx: AppContext, caller: Caller, body: DecideIn) -> dict[str, Any]:
    """The user's eligible in-app messages, rendered and localized, highest priority first:
    a `DecideOut` as plain JSON-ready values (built per session start, so no model objects
    are made and checked again: they cost more than the decision).

    An unknown user gets no messages (the SDK identifies first)."""
    verify(caller, ctx.box, body.external_id, body.user_hash)
    now = ctx.clock.now()
    found = await decision_inputs(
        ctx.db, caller.app_id, external_id=body.external_id, anonymous_id=body.anonymous_id, now=now
    )
    if found is None:
        return {
            "user_id": None,
            "session_id": body.session_id,
            "messages": [],
            "budget": None,
            "evaluated_at": now,
        }
    live = await specs.live_for(ctx.db, caller.app_id)
    profile, shown = found
    b = budget_values(caller)
    return {
        "user_id": profile.id,
        "session_id": body.session_id,
        "messages": decided_messages(live, profile, shown, body.session_id, b, body.locale, now),
        "budget": _budget_state(b, shown, body.session_id, now),
        "evaluated_at": now,
    }


def decided_messages(
    live: specs.Live,
    profile: Profile,
    shown: list[Shown],
    session_id: str,
    b: Budget,
    locale: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The decision proper (pure): the user's eligible messages of the live set, rendered
    and localized, highest priority first, as `DecidedMessage` plain values."""
    predicates = live.predicates

    def in_audience(sp: Spec) -> bool:
        return predicates[sp.campaign_id](profile, now)

    verdicts = decide(
        [live.now(sp, now) for sp in live.order],
        in_audience,
        user_id=profile.id,
        history=shown,
        session_id=session_id,
        budget=b,
        timezone=profile.timezone,
        now=now,
        limit=MAX_MESSAGES,
        ordered=True,
    )
    wanted = locale or profile.locale
    scope = user_scope(profile)
    plans = live.plans
    return [
        plans[v.campaign_id].message(
            variant=v.variant or "", occurrence=v.occurrence, wanted=wanted, scope=scope
        )
        for v in verdicts
    ]


def _post_visible(sp: Spec, content: dict[str, Any], now: datetime) -> bool:
    expires = content.get("expires_at")
    return expires is None or datetime.fromisoformat(expires) > now


async def inbox(
    ctx: AppContext,
    caller: Caller,
    who: IdentityIn,
    *,
    locale: str | None,
    cursor: str | None,
    limit: int,
) -> InboxOut:
    """The user's posts (pinned first, then newest) with read state, paged by `cursor`."""
    if cursor is not None and (not cursor.isdigit() or len(cursor) > 9):
        raise ValidationFailed("not a cursor from a previous page", field="cursor")
    verify(caller, ctx.box, who.external_id, who.user_hash)
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        found = await delivery_queries.find_user(
            s, caller.app_id, external_id=who.external_id, anonymous_id=who.anonymous_id
        )
        if found is None:
            return InboxOut(data=[], unread=0, next_cursor=None)
        profile = await load_profile(s, caller.app_id, found[0], now=now)
        live = await specs.live_set(s, id(ctx.db), caller.app_id)
        posts = live.posts
        read = await delivery_queries.read_posts(s, found[0], [c.id for c in posts])
        arms = await delivery_queries.variants_of(s, found[0], [c.id for c in posts])
    assert profile is not None
    items: list[InboxPost] = []
    for c in posts:
        sp = live.current(c.id, now)
        if schedule(sp, now) is not None or not live.predicates[c.id](profile, now):
            continue
        key = variant(sp, profile.id, arms.get(c.id) or None)
        if key == "control":
            continue
        loc, content = localized(c, key, locale or profile.locale)
        if not _post_visible(sp, content, now):
            continue
        items.append(
            InboxPost(
                campaign_id=c.id,
                variant=key,
                locale=loc,
                pinned=bool(content.get("pinned", False)),
                read=read.get(c.id, False),
                created_at=c.starts_at or c.updated_at,
                content=render_content(content, scope(profile, c)),
            )
        )
    items.sort(key=lambda p: (not p.pinned, -p.created_at.timestamp(), -p.campaign_id))
    start = int(cursor) if cursor else 0
    page = items[start : start + limit]
    more = start + limit < len(items)
    return InboxOut(
        data=page,
        unread=sum(1 for p in items if not p.read),
        next_cursor=str(start + limit) if more else None,
    )
