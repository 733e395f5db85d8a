"""Client (SDK) routes for in-app messages: decide, inbox, interactions (write key)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from tidings.campaigns import decisions, live
from tidings.campaigns.client_schemas import (
    DecideIn,
    DecideOut,
    InboxOut,
    InteractionsIn,
    InteractionsOut,
)
from tidings.context import AppContext, context
from tidings.deliveries import actions as delivery_actions
from tidings.errors import ValidationFailed
from tidings.fastroute import JsonPost
from tidings.tenancy.auth import Caller, client_caller
from tidings.users.schemas import IdentityIn
from tidings.users.verification import verify

client_router = APIRouter(prefix="/v1/inapp", tags=["client"])
# Served ahead of the documented routes of the same paths (tidings.fastroute).
hot_routes = [JsonPost("/v1/inapp/decide", DecideIn, decisions.decide_for)]


@client_router.post("/decide", response_model=DecideOut, summary="Session-start decision")
async def decide(
    body: DecideIn, caller: Caller = Depends(client_caller), ctx: AppContext = Depends(context)
) -> Response:
    """The user's eligible messages, rendered and localized, with triggers and display
    rules, highest priority first; the SDK evaluates the triggers. (Requests are answered
    by the equivalent `hot_routes` entry; this one documents the route.)"""
    decision = await decisions.decide_for(ctx, caller, body)
    # Plain values serialized once: FastAPI would validate and re-encode a model per request.
    return Response(orjson.dumps(decision, option=orjson.OPT_UTC_Z), media_type="application/json")


@client_router.post("/interactions", response_model=InteractionsOut, summary="Record a batch")
async def interactions(
    body: InteractionsIn,
    caller: Caller = Depends(client_caller),
    ctx: AppContext = Depends(context),
) -> InteractionsOut:
    """Impressions (caps and budget re-checked), clicks, dismissals, answers, inbox reads,
    tour steps; idempotent: a repeat is reported as `duplicate`."""
    return await delivery_actions.record(ctx, caller, body)


@client_router.get("/inbox", response_model=InboxOut, summary="The user's inbox")
async def inbox(
    external_id: str | None = Query(None, min_length=1, max_length=255),
    anonymous_id: str | None = Query(None, min_length=1, max_length=255),
    user_hash: str | None = Query(None, max_length=128),
    locale: str | None = Query(None, max_length=35),
    cursor: str | None = Query(None, max_length=12),
    limit: int = Query(20, ge=1, le=100),
    caller: Caller = Depends(client_caller),
    ctx: AppContext = Depends(context),
) -> InboxOut:
    """Posts, pinned first then newest, with read state and the unread count."""
    if external_id is None and anonymous_id is None:
        raise ValidationFailed("external_id or anonymous_id is required", field="external_id")
    who = IdentityIn(external_id=external_id, anonymous_id=anonymous_id, user_hash=user_hash)
    return await decisions.inbox(ctx, caller, who, locale=locale, cursor=cursor, limit=limit)


@client_router.get(
    "/stream",
    summary="Live stream (SSE)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    session_id: str = Query("live", min_length=1, max_length=128),
    external_id: str | None = Query(None, min_length=1, max_length=255),
    anonymous_id: str | None = Query(None, min_length=1, max_length=255),
    user_hash: str | None = Query(None, max_length=128),
    locale: str | None = Query(None, max_length=35),
    caller: Caller = Depends(client_caller),
    ctx: AppContext = Depends(context),
) -> StreamingResponse:
    """Server-sent events: `message` when a campaign goes live and this user is eligible
    (an outage notice reaches every connected user at once)."""
    if external_id is None and anonymous_id is None:
        raise ValidationFailed("external_id or anonymous_id is required", field="external_id")
    who = DecideIn(
        external_id=external_id,
        anonymous_id=anonymous_id,
        user_hash=user_hash,
        session_id=session_id,
        locale=locale,
    )
    verify(caller, ctx.box, external_id, user_hash)
    return StreamingResponse(
        live.events(ctx, caller, who, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
