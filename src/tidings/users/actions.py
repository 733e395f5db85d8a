"""User use-cases: identify (create/merge, typed attributes), update attributes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tidings.context import AppContext
from tidings.db import dialect_insert, table_of
from tidings.errors import NotFound
from tidings.tenancy.auth import Caller
from tidings.users import attributes as attrs
from tidings.users import queries
from tidings.users.identity import Identity, resolve
from tidings.users.models import AttributeDefinition, User
from tidings.users.schemas import IdentifyIn, IdentifyOut
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
        if body.locale is not None:
            user.locale = body.locale
        if body.timezone is not None:
            user.timezone = body.timezone
        if body.consent:
            user.consent = {**user.consent, **body.consent}
        if body.location is not None:
            apply_location(user, body.location.model_dump(exclude_none=True))
        user.updated_at = now
        return IdentifyOut(
            user_id=user.id, external_id=user.external_id, merged_user_ids=resolved.merged_user_ids
        )


def apply_location(target: Any, location: Mapping[str, Any]) -> None:
    """Copy the given location fields onto a user or device row."""
    for key in ("latitude", "longitude", "country", "region", "city"):
        if key in location:
            setattr(target, key, location[key])
