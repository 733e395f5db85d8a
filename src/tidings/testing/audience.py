"""Seeding a push audience straight into the database: many opted-in users with one
device each, for load tests and benchmarks where the identify API would be the slow part.

    async with ctx.db.write() as s:
        await seed_push_users(s, app_id, range(10_000), now=now)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import table_of
from tidings.devices.models import Device
from tidings.users.models import User


def default_address(prefix: str) -> Callable[[int], str]:
    return lambda i: f"{prefix}-token-{i}"


async def seed_push_users(
    s: AsyncSession,
    app_id: int,
    numbers: Iterable[int],
    *,
    now: datetime,
    prefix: str = "u",
    provider: str = "fcm",
    platform: str = "android",
    address: Callable[[int], str] | None = None,
    consents: Callable[[int], bool] = lambda i: True,
) -> dict[int, int]:
    """User `{prefix}{i}` with device `d{i}` (push address `address(i)`) for each i, in the
    caller's transaction; push consent as `consents(i)` says. Returns i → user id."""
    numbers = list(numbers)
    address = address or default_address(prefix)
    users, devices = table_of(User), table_of(Device)
    await s.execute(
        sa.insert(users),
        [
            {
                "app_id": app_id,
                "external_id": f"{prefix}{i}",
                "attributes": {},
                "consent": {"push": consents(i)},
                "last_values": {},
                "last_values_at": {},
                "session_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in numbers
        ],
    )
    external = {f"{prefix}{i}": i for i in numbers}
    found = await s.execute(
        sa.select(users.c.external_id, users.c.id).where(
            users.c.app_id == app_id, users.c.external_id.in_(list(external))
        )
    )
    ids = {external[e]: uid for e, uid in found.all()}
    await s.execute(
        sa.insert(devices),
        [
            {
                "app_id": app_id,
                "user_id": ids[i],
                "device_id": f"d{i}",
                "platform": platform,
                "push_provider": provider,
                "push_address": address(i),
                "push_address_hash": hashlib.sha256(address(i).encode()).hexdigest(),
                "push_active": True,
                "push_updated_at": now,
                "created_at": now,
                "last_seen_at": now,
            }
            for i in numbers
        ],
    )
    return ids
