"""Server routes for segments and unsaved rules (server key; reads need `read`, changes
need `write`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from tidings.context import AppContext, context
from tidings.errors import ValidationFailed
from tidings.segments import actions
from tidings.segments.schemas import (
    EstimateIn,
    EstimateOut,
    Explanation,
    MemberPage,
    RuleExplainIn,
    RuleIn,
    RuleValidated,
    SegmentIn,
    SegmentList,
    SegmentOut,
    SegmentPatch,
)
from tidings.tenancy.auth import Caller, server_reader, server_writer

router = APIRouter(prefix="/v1", tags=["server"])


@router.post("/segments", response_model=SegmentOut, status_code=201, summary="Create a segment")
async def create_segment(
    body: SegmentIn, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> SegmentOut:
    """Save a named rule; an invalid rule is a 422 whose `field` is the bad node's path."""
    return await actions.create_segment(ctx, caller, body)


@router.get("/segments", response_model=SegmentList, summary="List segments")
async def list_segments(
    cursor: str | None = Query(None, max_length=20),
    limit: int = Query(100, ge=1, le=500),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> SegmentList:
    return await actions.list_segments(ctx, caller, cursor=cursor, limit=limit)


@router.get("/segments/{segment_id}", response_model=SegmentOut, summary="Get a segment")
async def get_segment(
    segment_id: int, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> SegmentOut:
    return await actions.get_segment(ctx, caller, segment_id)


@router.patch("/segments/{segment_id}", response_model=SegmentOut, summary="Update a segment")
async def update_segment(
    segment_id: int,
    body: SegmentPatch,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> SegmentOut:
    """Change name, description or rule; a new rule is validated and bumps `version`."""
    return await actions.update_segment(ctx, caller, segment_id, body)


@router.delete("/segments/{segment_id}", status_code=204, summary="Delete a segment")
async def delete_segment(
    segment_id: int, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> Response:
    """A segment that other segments refer to cannot be deleted (409)."""
    await actions.delete_segment(ctx, caller, segment_id)
    return Response(status_code=204)


@router.post(
    "/segments/{segment_id}/estimate", response_model=EstimateOut, summary="Count and sample"
)
async def estimate(
    segment_id: int,
    body: EstimateIn | None = None,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> EstimateOut:
    """How many users are in the segment now, and a random sample of them."""
    size = body.sample_size if body is not None else 10
    return await actions.estimate(ctx, caller, segment_id, None, size)


@router.get(
    "/segments/{segment_id}/members",
    response_model=MemberPage,
    summary="Export members",
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def members(
    segment_id: int,
    cursor: str | None = Query(None, max_length=20),
    limit: int = Query(1000, ge=1, le=actions.PAGE_MAX),
    format: Literal["json", "ndjson"] = Query(
        "json", description="`json`: one page; `ndjson`: every member from `cursor` on, streamed."
    ),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> MemberPage | StreamingResponse:
    """Members in ascending id order, paged by `cursor` (or streamed as JSON lines)."""
    if format == "ndjson":
        lines = await actions.stream_members(ctx, caller, segment_id, cursor=cursor)
        return StreamingResponse(lines, media_type="application/x-ndjson")
    return await actions.member_page(ctx, caller, segment_id, cursor=cursor, limit=limit)


@router.get(
    "/segments/{segment_id}/explain", response_model=Explanation, summary="Explain for a user"
)
async def explain_segment(
    segment_id: int,
    user_id: int | None = Query(None, ge=1),
    external_id: str | None = Query(None, min_length=1, max_length=255),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Explanation:
    """Why a user is (or is not) in the segment: every node's truth value and what it read."""
    _require_user(user_id, external_id)
    return await actions.explain_for(
        ctx, caller, segment_id=segment_id, raw=None, user_id=user_id, external_id=external_id
    )


@router.post("/rules/validate", response_model=RuleValidated, summary="Validate a rule")
async def validate_rule(
    body: RuleIn, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> RuleValidated:
    """Check an unsaved rule against the app's attributes and segments (422 if invalid)."""
    return await actions.validate_rule(ctx, caller, body.rule)


@router.post("/rules/estimate", response_model=EstimateOut, summary="Estimate an unsaved rule")
async def estimate_rule(
    body: RuleIn,
    sample_size: int = Query(10, ge=0, le=100),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> EstimateOut:
    return await actions.estimate(ctx, caller, None, body.rule, sample_size)


@router.post("/rules/explain", response_model=Explanation, summary="Explain an unsaved rule")
async def explain_rule(
    body: RuleExplainIn, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> Explanation:
    return await actions.explain_for(
        ctx,
        caller,
        segment_id=None,
        raw=body.rule,
        user_id=body.user_id,
        external_id=body.external_id,
    )


def _require_user(user_id: int | None, external_id: str | None) -> None:
    if user_id is None and external_id is None:
        raise ValidationFailed("user_id or external_id is required", field="user_id")
