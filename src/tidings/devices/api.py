"""Device route for SDKs: `POST /v1/devices`; the server routes live in server_api.py."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tidings.context import AppContext, context
from tidings.devices import actions
from tidings.devices.schemas import DeviceIn, DeviceOut
from tidings.tenancy.auth import Caller, client_caller

client_router = APIRouter(prefix="/v1", tags=["client"])


@client_router.post("/devices", response_model=DeviceOut, summary="Register or update a device")
async def register_device(
    body: DeviceIn,
    caller: Caller = Depends(client_caller),
    ctx: AppContext = Depends(context),
) -> DeviceOut:
    """Upsert the device `device_id` for the named user; `push: null` clears its address."""
    return await actions.register(ctx, caller, body)
