"""Server routes for devices (server key): a user's devices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from tidings.context import AppContext, context
from tidings.devices import queries
from tidings.devices.schemas import DeviceOut
from tidings.pagination import (
    DEFAULT_LIMIT,
    MAX_INT_ID,
    CursorQuery,
    LimitQuery,
    Page,
    decode_cursor,
    paginate,
)
from tidings.tenancy.auth import Caller, server_reader
from tidings.users.actions import owned_user
from tidings.users.server_schemas import USER_NOT_FOUND

server_router = APIRouter(prefix="/v1", tags=["server"])

DEVICES_CURSOR = "devices"


@server_router.get(
    "/users/{user_id}/devices",
    response_model=Page[DeviceOut],
    responses=USER_NOT_FOUND,
    summary="List a user's devices",
)
async def user_devices(
    user_id: Annotated[int, Path(description="The user's Tidings id.")],
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Page[DeviceOut]:
    """The user's devices (oldest first) with their facts and push address."""
    after_id = None
    if cursor is not None:
        after_id = decode_cursor(DEVICES_CURSOR, cursor, max_id=MAX_INT_ID)[1]
    async with ctx.db.read() as s:
        user = await owned_user(s, caller.app_id, user_id)
        rows = await queries.user_devices(
            s, caller.app_id, user.id, after_id=after_id, limit=limit + 1
        )
    devices, next_cursor = paginate(rows, limit, DEVICES_CURSOR, lambda d: (d.id, d.id))
    return Page[DeviceOut](data=[DeviceOut.of(d) for d in devices], next_cursor=next_cursor)
