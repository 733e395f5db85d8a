"""User use-cases: identify (create/merge, typed attributes); list, read and patch users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tidings.context import AppContext
from tidings.db import dialect_insert, table_of
from tidings.errors import NotFound
from tidings.pagination import Page, decode_cursor, paginate
from tidings.tenancy.auth import Caller
from tidings.users import attributes as attrs
from tidings.users import queries
from tidings.users.identity import Identity, resolve
from tidings.users.models import AttributeDefinition, User
from tidings.users.schemas import IdentifyIn, IdentifyOut, UserOut
from tidings.users.server_schemas import (
    LOCATION_FIELDS,
    DailyCountsOut,
    EventTotalOut,
    UserFilters,
    UserPatchIn,
    UserProfileOut,
    attribute_filters,
    user_out,
)
from tidings.users.verification import must_verify, verify


async def declare_types(
    s: AsyncSession, app_id: int, new: Mapping[str, str], now: datetime
) -> None:
    """Record first-seen attribute types; a concurrent first sight keeps the earlier one."""
    if not new:
        return
    stmt = dialect_insert(s, table_of(AttributeDefinition)).on_conflict_do_nothing(
        index_elements=["app_id", "name"]
    )
    await s.execute(
        stmt, [{"app_id": app_id, "name": n, "type": t, "created_at": now} for n, t in new.items()]
    )


async def set_attributes(
    s: AsyncSession,
    user: User,
    given: Mapping[str, Any],
    now: datetime,
    *,
    prefix: str = "attributes",
) -> None:
    """Validate `given` against the app's declared types and apply it to `user`."""
    values, new = attrs.check_attributes(
        given, await queries.declared_types(s, user.app_id), prefix=prefix
    )
    await declare_types(s, user.app_id, new, now)
    user.attributes = attrs.apply(user.attributes, values)


async def identify(ctx: AppContext, caller: Caller, body: IdentifyIn) -> IdentifyOut:
    """Create or find the user, merging anonymous history; apply attributes and facts."""
    verify(caller, ctx.box, body.external_id, body.user_hash)
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        resolved = await resolve(
            s, caller.app_id, Identity(body.external_id, body.anonymous_id), now
        )
        if body.external_id is None and must_verify(caller):
            # An anonymous id that already belongs to a known user is that user's identity.
            verify(caller, ctx.box, resolved.external_id, body.user_hash)
        user = await s.get(User, resolved.user_id)
        if user is None:
            raise NotFound("user not found")
        await set_attributes(s, user, body.attributes, now)
        apply_facts(user, body, now)
        return IdentifyOut(
            user_id=user.id, external_id=user.external_id, merged_user_ids=resolved.merged_user_ids
        )


def apply_facts(user: User, body: IdentifyIn, now: datetime) -> None:
    """Locale, timezone, consent and location from `body` onto `user` (attributes aside)."""
    if body.locale is not None:
        user.locale = body.locale
    if body.timezone is not None:
        user.timezone = body.timezone
    if body.consent:
        user.consent = {**user.consent, **body.consent}
    if body.location is not None:
        apply_location(user, body.location.model_dump(exclude_none=True))
    user.updated_at = now


def apply_location(target: Any, location: Mapping[str, Any]) -> None:
    """Copy the given location fields onto a user or device row."""
    for key in ("latitude", "longitude", "country", "region", "city"):
        if key in location:
            setattr(target, key, location[key])


# --- server API -------------------------------------------------------------------------

USERS_CURSOR = "users"
DAILY_DAYS = 30


async def owned_user(s: AsyncSession, app_id: int, user_id: int) -> User:
    """The one access check for a user: missing and another app's look exactly alike (404)."""
    user = await queries.find_user(s, app_id, user_id)
    if user is None:
        raise NotFound("user not found", field="user_id")
    return user


async def list_users(
    ctx: AppContext,
    caller: Caller,
    filters: UserFilters,
    query: Iterable[tuple[str, str]],
    *,
    cursor: str | None,
    limit: int,
) -> Page[UserOut]:
    """One page of the app's users by id; `attr.<name>` items of `query` filter attributes."""
    after_id: int | None = None
    if cursor is not None:
        after_id = decode_cursor(USERS_CURSOR, cursor, max_id=queries.MAX_USER_ID)[1]
    async with ctx.db.read() as s:
        declared = await queries.declared_types(s, caller.app_id)
        filters = replace(filters, attributes=attribute_filters(query, declared))
        rows = await queries.list_users(
            s, caller.app_id, filters, after_id=after_id, limit=limit + 1
        )
        users, next_cursor = paginate(rows, limit, USERS_CURSOR, lambda u: (u.id, u.id))
        anon = await queries.anonymous_ids_of(s, [u.id for u in users])
    return Page[UserOut](data=[user_out(u, anon[u.id]) for u in users], next_cursor=next_cursor)


async def user_profile(ctx: AppContext, caller: Caller, user_id: int) -> UserProfileOut:
    """The user with its aggregates: per-event totals and the last 30 days' daily counts."""
    until = ctx.clock.now().date()
    since = until - timedelta(days=DAILY_DAYS - 1)
    async with ctx.db.read() as s:
        user = await owned_user(s, caller.app_id, user_id)
        anon = await queries.anonymous_ids(s, user.id)
        totals = await queries.event_totals(s, user.id)
        daily = await queries.daily_counts(s, user.id, since)
    counts: dict[str, dict[date, int]] = {}
    for row in daily:
        if row.day <= until:
            counts.setdefault(row.name, {})[row.day] = row.count
    return UserProfileOut(
        **user_out(user, anon).model_dump(),
        events=[
            EventTotalOut(name=t.name, count=t.count, first_at=t.first_at, last_at=t.last_at)
            for t in totals
        ],
        daily=DailyCountsOut(days=DAILY_DAYS, since=since, until=until, counts=counts),
    )


async def update_user(ctx: AppContext, caller: Caller, user_id: int, patch: UserPatchIn) -> UserOut:
    """Apply a server-side patch; a bad field rejects it whole and changes nothing."""
    now = ctx.clock.now()
    given = patch.model_fields_set
    async with ctx.db.write() as s:
        user = await owned_user(s, caller.app_id, user_id)
        await set_attributes(s, user, patch.attributes, now)
        if "locale" in given:
            user.locale = patch.locale
        if "timezone" in given:
            user.timezone = patch.timezone
        if patch.consent:
            consent = {**user.consent, **patch.consent}
            user.consent = {k: v for k, v in consent.items() if v is not None}
        if "location" in given:
            location = patch.location.model_dump() if patch.location else {}
            apply_location(user, {k: location.get(k) for k in LOCATION_FIELDS})
        user.updated_at = now
        await s.flush()
        return user_out(user, await queries.anonymous_ids(s, user.id))
