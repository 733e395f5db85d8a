"""Track route for SDKs: `POST /v1/track`."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from tidings.context import AppContext, context
from tidings.errors import from_validation_errors
from tidings.events import ingest
from tidings.events.schemas import TrackIn, TrackOut, WellFormedTrackIn
from tidings.tenancy.auth import Caller, client_caller

client_router = APIRouter(prefix="/v1", tags=["client"])


@client_router.post(
    "/track",
    response_model=TrackOut,
    summary="Track a batch of events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": TrackIn.model_json_schema()}},
        }
    },
)
async def track(
    request: Request,
    caller: Caller = Depends(client_caller),
    ctx: AppContext = Depends(context),
) -> Response:
    """Store up to 500 events; each is judged on its own and reported in `results`."""
    # Parsed here rather than by FastAPI: pydantic's own JSON parser and one serialization
    # of plain results are a measurable share of ingestion (bench/ingest.py).
    body = await request.body()
    batch: TrackIn
    try:
        batch = WellFormedTrackIn.model_validate_json(body)
    except ValidationError:
        try:  # some event is malformed: read the envelope, then judge event by event
            batch = TrackIn.model_validate_json(body)
        except ValidationError as exc:
            raise from_validation_errors(exc.errors()) from exc
    out = await ingest.track(ctx, caller, batch, body_bytes=len(body))
    return Response(orjson.dumps(out), media_type="application/json")
