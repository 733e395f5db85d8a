"""User look-ups; never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.users.models import AnonymousId, AttributeDefinition, User


async def declared_types(s: AsyncSession, app_id: int) -> dict[str, str]:
    rows = await s.execute(
        select(AttributeDefinition.name, AttributeDefinition.type).where(
            AttributeDefinition.app_id == app_id
        )
    )
    return {name: type_ for name, type_ in rows.all()}


async def get_user(s: AsyncSession, app_id: int, user_id: int) -> User | None:
    """The user if it belongs to `app_id`; missing and foreign look the same (None)."""
    user = await s.get(User, user_id)
    return user if user is not None and user.app_id == app_id else None


async def anonymous_ids(s: AsyncSession, user_id: int) -> list[str]:
    rows = await s.execute(
        select(AnonymousId.anonymous_id)
        .where(AnonymousId.user_id == user_id)
        .order_by(AnonymousId.created_at)
    )
    return list(rows.scalars())
