"""Why a campaign is or is not eligible for a user right now: every check in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tidings.campaigns import specs
from tidings.campaigns.actions import owned
from tidings.campaigns.decisions import budget_values
from tidings.context import AppContext
from tidings.deliveries import queries as delivery_queries
from tidings.errors import NotFound
from tidings.inapp import policy
from tidings.inapp.decide import verdict
from tidings.profiles.loader import load_profile
from tidings.segments.actions import checked_rule
from tidings.segments.queries import find_user_id
from tidings.targeting.explain import explain
from tidings.tenancy.auth import Caller


class Check(BaseModel):
    check: str
    passed: bool
    reason: str | None
    detail: str


class CampaignExplanation(BaseModel):
    campaign_id: int
    user_id: int
    eligible: bool
    reason: str = Field(description="`eligible`, or the first check that failed.")
    variant: str | None
    occurrence: int
    checks: list[Check]
    audience: dict[str, Any] | None = Field(
        description="The audience rule's tree for this user (null: everyone)."
    )
    evaluated_at: datetime


async def explain_campaign(
    ctx: AppContext,
    caller: Caller,
    campaign_id: int,
    *,
    user_id: int | None,
    external_id: str | None,
    session_id: str | None,
) -> CampaignExplanation:
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        c = await owned(s, caller, campaign_id)
        uid = await find_user_id(s, caller.app_id, user_id=user_id, external_id=external_id)
        profile = None if uid is None else await load_profile(s, caller.app_id, uid, now=now)
        if profile is None:
            field = "user_id" if user_id is not None else "external_id"
            raise NotFound("no such user in this app", field=field)
        tree = None
        in_audience = True
        if c.audience is not None or c.segment_id is not None:
            raw = c.audience if c.audience is not None else {"segment": c.segment_id}
            tree = explain(await checked_rule(s, caller.app_id, raw, root="audience"), profile, now)
            in_audience = bool(tree["result"])
        shown = await delivery_queries.history(s, profile.id)
    spec = specs.spec_of(c, now)
    budget = budget_values(caller)
    mine = [x for x in shown if x.campaign_id == c.id and x.channel == "in_app"]
    steps: list[tuple[str, tuple[str, str] | None]] = [
        ("schedule", policy.schedule(spec, now)),
        ("audience", None if in_audience else ("audience", "the user is not in the audience")),
        ("cap", policy.cap(spec, mine, now)),
        ("display_hours", policy.display_hours(spec, now, profile.timezone)),
        (
            "budget",
            None if spec.format == "post" else policy.budget(spec, shown, session_id, budget, now),
        ),
    ]
    key = policy.variant(spec, profile.id, policy.stored_arm(mine))
    steps.append(
        ("variant", ("control", "in the holdout group") if key == policy.CONTROL else None)
    )
    v = verdict(
        spec,
        user_id=profile.id,
        in_audience=in_audience,
        history=shown,
        session_id=session_id,
        budget=budget,
        timezone=profile.timezone,
        now=now,
    )
    return CampaignExplanation(
        campaign_id=c.id,
        user_id=profile.id,
        eligible=v.eligible,
        reason=v.reason,
        variant=key,
        occurrence=v.occurrence,
        checks=[
            Check(
                check=name,
                passed=failure is None,
                reason=failure[0] if failure else None,
                detail=failure[1] if failure else "",
            )
            for name, failure in steps
        ],
        audience=tree,
        evaluated_at=now,
    )
