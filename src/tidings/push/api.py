"""Push routes: transactional send and the push report (server key), push opens (SDK)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from tidings.context import AppContext, context
from tidings.push import report, transactional
from tidings.push.report import PushOpenIn, PushOpenOut, PushReport
from tidings.push.transactional import SendIn, SendOut
from tidings.tenancy.auth import Caller, client_caller, server_reader, server_writer

router = APIRouter(prefix="/v1", tags=["server"])
client_router = APIRouter(prefix="/v1", tags=["client"])


@router.post(
    "/campaigns/{campaign_id}/sends",
    response_model=SendOut,
    summary="Send a push campaign's message to one user now",
    responses={409: {"description": "The same key is still in flight."}},
)
async def send(
    campaign_id: int,
    body: SendIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> JSONResponse:
    """Transactional send (consent required; no holdout, quiet hours or budget). The same
    `Idempotency-Key` with the same body replays the first response; with another body it
    is a 422; while the first request runs, a 409."""
    status, out = await transactional.send_one(ctx, caller, campaign_id, body, idempotency_key)
    return JSONResponse(out, status_code=status)


@router.get(
    "/campaigns/{campaign_id}/push-report", response_model=PushReport, summary="Push metrics"
)
async def push_report(
    campaign_id: int, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> PushReport:
    """Queued, suppressed (by reason), sent, delivered, failed (by reason), opened and
    influenced opens (a session within `TIDINGS_PUSH_INFLUENCE_HOURS` of the send)."""
    return await report.push_report(ctx, caller, campaign_id)


@client_router.post("/push/opened", response_model=PushOpenOut, summary="Report a push open")
async def opened(
    body: PushOpenIn, caller: Caller = Depends(client_caller), ctx: AppContext = Depends(context)
) -> PushOpenOut:
    """The SDK reports that the user opened a push; `delivery_id` is the push's
    `data.tidings_id`. Idempotent."""
    return await report.record_open(ctx, caller, body)
