"""Server routes for campaigns (server key; reads need `read`, changes need `write`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response

from tidings.campaigns import actions
from tidings.campaigns.explain import CampaignExplanation, explain_campaign
from tidings.campaigns.schemas import (
    BudgetIn,
    CampaignIn,
    CampaignList,
    CampaignOut,
    CampaignPatch,
    TransitionIn,
)
from tidings.context import AppContext, context
from tidings.errors import ValidationFailed
from tidings.tenancy.auth import Caller, server_reader, server_writer

router = APIRouter(prefix="/v1", tags=["server"])


@router.post("/campaigns", response_model=CampaignOut, status_code=201, summary="Create")
async def create_campaign(
    body: CampaignIn, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> CampaignOut:
    """Save a draft; formats, templates, rule and weights are validated (422 names the
    field)."""
    return await actions.create_campaign(ctx, caller, body)


@router.get("/campaigns", response_model=CampaignList, summary="List campaigns")
async def list_campaigns(
    status: Literal["draft", "active", "scheduled", "paused", "completed", "archived"]
    | None = Query(None),
    cursor: str | None = Query(None, max_length=20),
    limit: int = Query(100, ge=1, le=500),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> CampaignList:
    return await actions.list_campaigns(ctx, caller, status=status, cursor=cursor, limit=limit)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, summary="Get a campaign")
async def get_campaign(
    campaign_id: int, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> CampaignOut:
    return await actions.get_campaign(ctx, caller, campaign_id)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut, summary="Update")
async def update_campaign(
    campaign_id: int,
    body: CampaignPatch,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> CampaignOut:
    """Change fields; the whole campaign is re-validated and `version` grows."""
    return await actions.update_campaign(ctx, caller, campaign_id, body)


@router.post(
    "/campaigns/{campaign_id}/transition", response_model=CampaignOut, summary="Change status"
)
async def transition(
    campaign_id: int,
    body: TransitionIn,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> CampaignOut:
    """Activate (scheduled if `starts_at` is ahead), pause, complete or archive; a move the
    lifecycle does not allow is a 409 naming `to`."""
    return await actions.transition(ctx, caller, campaign_id, body.to)


@router.delete("/campaigns/{campaign_id}", status_code=204, summary="Delete a draft")
async def delete_campaign(
    campaign_id: int, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> Response:
    await actions.delete_campaign(ctx, caller, campaign_id)
    return Response(status_code=204)


@router.put("/attention-budget", response_model=BudgetIn, summary="Set the attention budget")
async def set_budget(
    body: BudgetIn, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> BudgetIn:
    """App-wide limits shared by every channel; campaigns may be exempt."""
    return await actions.set_budget(ctx, caller, body)


@router.get("/attention-budget", response_model=BudgetIn, summary="Get the attention budget")
async def get_budget(caller: Caller = Depends(server_reader)) -> BudgetIn:
    return actions.budget_of(caller.settings)


@router.get(
    "/campaigns/{campaign_id}/explain",
    response_model=CampaignExplanation,
    summary="Explain for a user",
)
async def explain(
    campaign_id: int,
    user_id: int | None = Query(None, ge=1),
    external_id: str | None = Query(None, min_length=1, max_length=255),
    session_id: str | None = Query(None, max_length=128),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> CampaignExplanation:
    """Why the campaign is (or is not) eligible for the user now: schedule, audience (each
    node), cap, display hours, budget (within `session_id` when given), variant."""
    if user_id is None and external_id is None:
        raise ValidationFailed("user_id or external_id is required", field="user_id")
    return await explain_campaign(
        ctx, caller, campaign_id, user_id=user_id, external_id=external_id, session_id=session_id
    )
