"""Server routes for analytics and experiments (server key: reads `read`, winner `write`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response

from tidings.analytics import actions, lifecycle
from tidings.analytics.schemas import (
    Breakdown,
    CampaignReport,
    LifecycleDefinitions,
    LifecycleReport,
    Series,
    SurveyReport,
    Winner,
    WinnerIn,
)
from tidings.context import AppContext, context
from tidings.tenancy.auth import Caller, server_reader, server_writer

router = APIRouter(prefix="/v1", tags=["server", "analytics"])
CSV = "text/csv; charset=utf-8"


@router.get(
    "/campaigns/{campaign_id}/report", response_model=CampaignReport, summary="Campaign report"
)
async def campaign_report(
    campaign_id: int,
    influence_hours: int = Query(12, ge=1, le=168),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> CampaignReport:
    """Per variant and control: delivery funnel, conversions, lift with frequentist,
    always-valid and Bayesian statistics, SRM; records an automatic winner when due."""
    return await actions.campaign_report(ctx, caller, campaign_id, influence_hours=influence_hours)


@router.get("/campaigns/{campaign_id}/report.csv", summary="Campaign report as CSV")
async def campaign_report_csv(
    campaign_id: int, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> Response:
    body = await actions.report_csv(ctx, caller, campaign_id)
    return Response(body, media_type=CSV)


@router.get("/campaigns/{campaign_id}/series", response_model=Series, summary="Time series")
async def series(
    campaign_id: int,
    by: Literal["hour", "day"] = Query("day"),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Series:
    """First exposures, first clicks and first conversions per hour or day (UTC)."""
    return await actions.series(ctx, caller, campaign_id, by)


@router.get("/campaigns/{campaign_id}/breakdown", response_model=Breakdown, summary="Breakdown")
async def breakdown(
    campaign_id: int,
    by: Literal["platform", "locale", "country"] = Query(...),
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Breakdown:
    return await actions.breakdown(ctx, caller, campaign_id, by)


@router.get("/campaigns/{campaign_id}/survey", response_model=SurveyReport, summary="Survey")
async def survey(
    campaign_id: int, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> SurveyReport:
    """Responses, per-question distributions and means, and the NPS of `nps` questions."""
    return await actions.survey_report(ctx, caller, campaign_id)


@router.get("/campaigns/{campaign_id}/survey/answers.csv", summary="Free-text answers as CSV")
async def survey_text(
    campaign_id: int, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> Response:
    return Response(await actions.free_text_csv(ctx, caller, campaign_id), media_type=CSV)


@router.post("/campaigns/{campaign_id}/winner", response_model=Winner, summary="Pick a winner")
async def pick_winner(
    campaign_id: int,
    body: WinnerIn,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> Winner:
    """From now on every user not held out gets this variant (null: resume the split)."""
    return await actions.set_winner(ctx, caller, campaign_id, body.variant)


@router.get("/lifecycle", response_model=LifecycleReport, summary="Lifecycle report")
async def lifecycle_report(
    caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> LifecycleReport:
    """Users by stage (new, activated, engaged, dormant, churned) and who got messages."""
    return await lifecycle.report(ctx, caller)


@router.put(
    "/lifecycle/definitions", response_model=LifecycleDefinitions, summary="Stage definitions"
)
async def set_definitions(
    body: LifecycleDefinitions,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> LifecycleDefinitions:
    return await lifecycle.set_definitions(ctx, caller, body)


@router.get(
    "/lifecycle/definitions", response_model=LifecycleDefinitions, summary="Stage definitions"
)
async def get_definitions(caller: Caller = Depends(server_reader)) -> LifecycleDefinitions:
    return lifecycle.definitions_of(caller.settings)
