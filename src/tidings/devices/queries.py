"""Device look-ups for the server API; never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.devices.models import Device


async def user_devices(
    s: AsyncSession, app_id: int, user_id: int, *, after_id: int | None, limit: int
) -> list[Device]:
    """The user's devices by id, after `after_id`; at most `limit`."""
    stmt = select(Device).where(Device.app_id == app_id, Device.user_id == user_id)
    if after_id is not None:
        stmt = stmt.where(Device.id > after_id)
    return list((await s.execute(stmt.order_by(Device.id).limit(limit))).scalars())
