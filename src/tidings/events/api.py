"""Track route for SDKs: `POST /v1/track`."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tidings.context import AppContext, context
from tidings.events import ingest
from tidings.events.schemas import TrackIn, TrackOut
from tidings.tenancy.auth import Caller, client_caller

client_router = APIRouter(prefix="/v1", tags=["client"])


@client_router.post("/track", response_model=TrackOut, summary="Track a batch of events")
async def track(
    body: TrackIn,
    caller: Caller = Depends(client_caller),
    ctx: AppContext = Depends(context),
) -> TrackOut:
    """Store up to 500 events; each is judged on its own and reported in `results`."""
    return await ingest.track(ctx, caller, body)
