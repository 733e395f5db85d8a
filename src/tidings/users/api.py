"""User routes: `POST /v1/identify` for SDKs; the server routes live in server_api.py."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tidings.context import AppContext, context
from tidings.tenancy.auth import Caller, client_caller
from tidings.users import actions
from tidings.users.schemas import IdentifyIn, IdentifyOut

client_router = APIRouter(prefix="/v1", tags=["client"])


@client_router.post("/identify", response_model=IdentifyOut, summary="Identify a user")
async def identify(
    body: IdentifyIn,
    caller: Caller = Depends(client_caller),
    ctx: AppContext = Depends(context),
) -> IdentifyOut:
    """Create or update a user; an anonymous history is merged into the identified user."""
    return await actions.identify(ctx, caller, body)
