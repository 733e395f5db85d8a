"""Campaign use-cases: create and update (validated), lifecycle transitions, budget."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns import lifecycle, queries
from tidings.campaigns.models import Campaign
from tidings.campaigns.schemas import (
    BudgetIn,
    CampaignIn,
    CampaignList,
    CampaignOut,
    CampaignPatch,
)
from tidings.campaigns.specs import forget_live
from tidings.campaigns.stream import hub
from tidings.campaigns.validate import check_shape, check_variants
from tidings.context import AppContext
from tidings.errors import Conflict, NotFound, ValidationFailed
from tidings.push import validate as push_validate
from tidings.push.fanout import start_push
from tidings.push.schemas import Schedule
from tidings.segments import queries as segment_queries
from tidings.segments.actions import checked_rule
from tidings.targeting.rules import dump
from tidings.targeting.walk import unexpanded
from tidings.tenancy.actions import set_app_setting
from tidings.tenancy.auth import Caller


def out(c: Campaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        name=c.name,
        description=c.description,
        status=c.status,
        channel=c.channel,
        format=c.format,
        audience=c.audience,
        segment_id=c.segment_id,
        trigger=c.trigger,
        controls=c.controls,
        variants=c.variants,
        control_weight=c.control_weight,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        goal=c.goal,
        schedule=c.schedule,
        winner=c.winner,
        winner_at=c.winner_at,
        winner_by=c.winner_by,
        version=c.version,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


async def _checked(s: AsyncSession, caller: Caller, body: CampaignIn) -> dict[str, Any]:
    """Every column value of a valid campaign, or a 422 naming the field."""
    check_shape(body)
    schedule = None
    fmt: str
    if body.channel in ("push", "device"):
        fmt = body.channel
        variants = push_validate.check_push_variants(body.variants, body.channel)
        schedule = push_validate.check_schedule(body.schedule or Schedule())
    else:
        fmt, variants = check_variants(body.variants)
    audience = None
    if body.audience is not None:
        rule = await checked_rule(s, caller.app_id, body.audience, root="audience")
        audience = dump(unexpanded(rule))
    if (
        body.segment_id is not None
        and await segment_queries.get_segment(s, caller.app_id, body.segment_id) is None
    ):
        raise ValidationFailed(f"no segment {body.segment_id}", field="segment_id")
    return {
        "name": body.name,
        "description": body.description,
        "format": fmt,
        "audience": audience,
        "segment_id": body.segment_id,
        "trigger": body.trigger.model_dump(mode="json", exclude_none=True),
        "controls": body.controls.model_dump(mode="json"),
        "variants": variants,
        "control_weight": body.control_weight,
        "starts_at": body.starts_at,
        "ends_at": body.ends_at,
        "goal": body.goal.model_dump(mode="json") if body.goal else None,
        "schedule": schedule,
    }


async def create_campaign(ctx: AppContext, caller: Caller, body: CampaignIn) -> CampaignOut:
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        values = await _checked(s, caller, body)
        campaign = Campaign(
            app_id=caller.app_id,
            channel=body.channel,
            status="draft",
            version=1,
            created_at=now,
            updated_at=now,
            **values,
        )
        s.add(campaign)
        await s.flush()
        return out(campaign)


async def owned(s: AsyncSession, caller: Caller, campaign_id: int) -> Campaign:
    campaign = await queries.get_campaign(s, caller.app_id, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", field="campaign_id")
    return campaign


async def get_campaign(ctx: AppContext, caller: Caller, campaign_id: int) -> CampaignOut:
    async with ctx.db.read() as s:
        return out(await owned(s, caller, campaign_id))


async def list_campaigns(
    ctx: AppContext, caller: Caller, *, status: str | None, cursor: str | None, limit: int
) -> CampaignList:
    if cursor is not None and (not cursor.isdigit() or len(cursor) > 18):
        raise ValidationFailed("not a cursor from a previous page", field="cursor")
    after = int(cursor) if cursor else 0
    async with ctx.db.read() as s:
        rows = await queries.list_campaigns(
            s, caller.app_id, status=status, after=after, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return CampaignList(
        data=[out(r) for r in rows], next_cursor=str(rows[-1].id) if more and rows else None
    )


def _as_input(c: Campaign) -> dict[str, Any]:
    return {
        "name": c.name,
        "channel": c.channel,
        "schedule": c.schedule,
        "description": c.description,
        "audience": c.audience,
        "segment_id": c.segment_id,
        "trigger": c.trigger,
        "controls": c.controls,
        "variants": c.variants,
        "control_weight": c.control_weight,
        "starts_at": c.starts_at,
        "ends_at": c.ends_at,
        "goal": c.goal,
    }


async def update_campaign(
    ctx: AppContext, caller: Caller, campaign_id: int, patch: CampaignPatch
) -> CampaignOut:
    """Apply the fields given, re-validate the whole campaign, bump `version`."""
    async with ctx.db.write() as s:
        campaign = await owned(s, caller, campaign_id)
        if campaign.status not in lifecycle.EDITABLE:
            raise Conflict(f"a {campaign.status} campaign cannot be changed", field="campaign_id")
        merged = {**_as_input(campaign), **patch.model_dump(exclude_unset=True)}
        if "audience" in patch.model_fields_set and patch.audience is not None:
            merged["segment_id"] = None
        if "segment_id" in patch.model_fields_set and patch.segment_id is not None:
            merged["audience"] = None
        body = CampaignIn.model_validate(merged)
        for key, value in (await _checked(s, caller, body)).items():
            setattr(campaign, key, value)
        campaign.version += 1
        campaign.updated_at = ctx.clock.now()
        result = out(campaign)
    forget_live(caller.app_id)
    return result


async def transition(ctx: AppContext, caller: Caller, campaign_id: int, to: str) -> CampaignOut:
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        campaign = await owned(s, caller, campaign_id)
        current = lifecycle.effective_status(
            campaign.status, campaign.starts_at, campaign.ends_at, now
        )
        campaign.status = lifecycle.next_status(current, to, campaign.starts_at, now)
        campaign.updated_at = now
        if campaign.channel != "in_app" and campaign.status in ("active", "scheduled"):
            # Same transaction: an activated campaign always has its plan job.
            await start_push(s, campaign, now)
        result = out(campaign)
    forget_live(caller.app_id)
    if result.status == "active" and result.channel == "in_app":
        # After the commit, so a connection's re-decision sees the campaign live.
        hub.publish(caller.app_id, campaign_id)
    return result


async def delete_campaign(ctx: AppContext, caller: Caller, campaign_id: int) -> None:
    """Only drafts are deleted; anything that ran is archived instead (deliveries stay)."""
    async with ctx.db.write() as s:
        campaign = await owned(s, caller, campaign_id)
        if campaign.status != "draft":
            raise Conflict("only a draft can be deleted; archive it instead", field="campaign_id")
        await s.delete(campaign)


async def set_budget(ctx: AppContext, caller: Caller, body: BudgetIn) -> BudgetIn:
    """Store the app's attention budget in its settings."""
    await set_app_setting(ctx.db, caller.app_id, "attention_budget", body.model_dump())
    return body


def budget_of(settings: dict[str, object]) -> BudgetIn:
    raw = settings.get("attention_budget")
    return BudgetIn.model_validate(raw) if isinstance(raw, dict) else BudgetIn()
