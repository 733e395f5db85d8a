"""Analytics use-cases: the campaign report (and the automatic winner it may record),
series, breakdowns, survey results, CSV export, and picking a winner by hand."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from tidings.analytics import queries, report, survey
from tidings.analytics.schemas import (
    Breakdown,
    CampaignReport,
    Point,
    Series,
    Slice,
    SurveyReport,
    Winner,
)
from tidings.analytics.sql import GoalSpec
from tidings.campaigns.models import Campaign
from tidings.campaigns.queries import get_campaign
from tidings.campaigns.specs import forget_live
from tidings.context import AppContext
from tidings.errors import NotFound, ValidationFailed
from tidings.experiments.assignment import CONTROL
from tidings.tenancy.auth import Caller


def goal_of(c: Campaign) -> GoalSpec | None:
    g = c.goal
    if not g:
        return None
    return GoalSpec(
        event=g["event"],
        where=tuple((f["property"], f["op"], f.get("value")) for f in g.get("where", [])),
        within_days=int(g.get("within_days", 7)),
        attribution=g.get("attribution", "last_touch"),
        revenue_property=g.get("revenue_property"),
    )


def keys_of(c: Campaign) -> list[str]:
    return [v["key"] for v in c.variants]


def weights_of(c: Campaign) -> dict[str, int]:
    weights = {v["key"]: int(v.get("weight", 1)) for v in c.variants}
    if c.control_weight:
        weights[CONTROL] = c.control_weight
    return weights


async def _campaign(ctx: AppContext, caller: Caller, campaign_id: int) -> Campaign:
    async with ctx.db.read() as s:
        c = await get_campaign(s, caller.app_id, campaign_id)
    if c is None:
        raise NotFound(f"no campaign {campaign_id}", field="campaign_id")
    return c


def _winner(c: Campaign) -> Winner:
    by = c.winner_by if c.winner_by in ("manual", "auto") else None
    return Winner(variant=c.winner, chosen_at=c.winner_at, chosen_by=by)


async def campaign_report(
    ctx: AppContext, caller: Caller, campaign_id: int, *, influence_hours: int = 12
) -> CampaignReport:
    """Per arm counts, rates, lift and statistics; records an automatic winner when the
    goal's `auto_winner` rule is met (durable: the next decision reads it)."""
    c = await _campaign(ctx, caller, campaign_id)
    now = ctx.clock.now()
    goal = goal_of(c)
    async with ctx.db.read() as s:
        counts = await queries.arm_counts(
            s, caller.app_id, c.id, goal, now, channel=c.channel, influence_hours=influence_hours
        )
        exposed = {k: a.exposed for k, a in counts.items()}
        if c.winner_at is not None:
            # After a winner, new users all go to it: only earlier ones test the split.
            exposed = await queries.first_exposed_before(s, c.id, now, c.winner_at)
    keys = keys_of(c)
    c = await apply_auto_winner(ctx, c, counts, now)
    return CampaignReport(
        campaign_id=c.id,
        channel=c.channel,
        goal=c.goal,
        arms=report.arm_reports(keys, counts),
        funnel=report.funnel(keys, counts),
        srm=report.srm(weights_of(c), exposed),
        winner=_winner(c),
        generated_at=now,
    )


def wants_auto_winner(c: Campaign) -> bool:
    """The goal has an `auto_winner` rule and no winner is set yet."""
    return c.winner is None and c.goal is not None and bool(c.goal.get("auto_winner"))


async def apply_auto_winner(
    ctx: AppContext, c: Campaign, counts: dict[str, queries.ArmCounts], now: datetime
) -> Campaign:
    """Record the winner the goal's `auto_winner` rule picks from `counts`, if any (the
    one path of the report read and the periodic job, analytics/winner_job.py)."""
    if not wants_auto_winner(c):
        return c
    rule = (c.goal or {})["auto_winner"]
    pick = report.auto_winner(
        keys_of(c), counts, min_exposed=int(rule["min_exposed"]), alpha=float(rule["alpha"])
    )
    if pick is None:
        return c
    return await _record_winner(ctx, c.app_id, c.id, pick, "auto", now, only_if_unset=True)


async def evaluate_auto_winner(ctx: AppContext, c: Campaign, now: datetime) -> Campaign:
    """Count `c`'s arms and apply its `auto_winner` rule (without reading a report)."""
    if not wants_auto_winner(c):
        return c
    async with ctx.db.read() as s:
        counts = await queries.arm_counts(s, c.app_id, c.id, goal_of(c), now, channel=c.channel)
    return await apply_auto_winner(ctx, c, counts, now)


async def _record_winner(
    ctx: AppContext,
    app_id: int,
    campaign_id: int,
    variant: str | None,
    by: str,
    now: datetime,
    *,
    only_if_unset: bool = False,
) -> Campaign:
    async with ctx.db.write() as s:
        c = await get_campaign(s, app_id, campaign_id)
        if c is None:
            raise NotFound(f"no campaign {campaign_id}", field="campaign_id")
        if variant is not None and variant not in keys_of(c):
            raise ValidationFailed(f"no variant {variant!r} in this campaign", field="variant")
        if only_if_unset and c.winner is not None:
            return c
        c.winner = variant
        c.winner_at = now if variant is not None else None
        c.winner_by = by if variant is not None else None
        c.updated_at = now
    forget_live(app_id)
    return c


async def set_winner(
    ctx: AppContext, caller: Caller, campaign_id: int, variant: str | None
) -> Winner:
    c = await _record_winner(ctx, caller.app_id, campaign_id, variant, "manual", ctx.clock.now())
    return _winner(c)


async def series(ctx: AppContext, caller: Caller, campaign_id: int, by: str) -> Series:
    c = await _campaign(ctx, caller, campaign_id)
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        found = await queries.series(s, caller.app_id, c.id, goal_of(c), now, by)
    suffix = ":00:00Z" if by == "hour" else "T00:00:00Z"
    points = [
        Point(
            bucket=(bucket.replace(" ", "T") + suffix),
            variant=variant,
            exposed=n[0],
            clicked=n[1],
            converted=n[2],
        )
        for (bucket, variant), n in sorted(found.items())
    ]
    return Series(by=by, points=points)


async def breakdown(ctx: AppContext, caller: Caller, campaign_id: int, dimension: str) -> Breakdown:
    c = await _campaign(ctx, caller, campaign_id)
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        rows = await queries.breakdown(s, caller.app_id, c.id, goal_of(c), now, dimension)
    slices = [
        Slice(
            value=r["value"],
            variant=r["variant"],
            exposed=r["exposed"],
            clicked=r["clicked"],
            converted=r["converted"],
            conversion_rate=r["converted"] / r["exposed"] if r["exposed"] else 0.0,
        )
        for r in sorted(rows, key=lambda r: (str(r["value"]), r["variant"]))
    ]
    return Breakdown(dimension=dimension, slices=slices)


async def _answers(
    ctx: AppContext, caller: Caller, campaign_id: int
) -> tuple[list[dict[str, Any]], list[tuple[str, int, dict[str, Any]]]]:
    c = await _campaign(ctx, caller, campaign_id)
    async with ctx.db.read() as s:
        rows = await queries.answers(s, c.id, ctx.clock.now())
    given = [(v, u, dict(data.get("answers") or {})) for v, u, data, _ in rows]
    return survey.questions_of(c.variants), given


async def survey_report(ctx: AppContext, caller: Caller, campaign_id: int) -> SurveyReport:
    questions, given = await _answers(ctx, caller, campaign_id)
    responses = [a for _, _, a in given if a]
    return SurveyReport(responses=len(responses), questions=survey.summarize(questions, responses))


async def free_text_csv(ctx: AppContext, caller: Caller, campaign_id: int) -> str:
    questions, given = await _answers(ctx, caller, campaign_id)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["variant", "user_id", "question", "answer"])
    w.writerows(survey.free_text(questions, given))
    return buf.getvalue()


REPORT_COLUMNS = (
    "variant", "targeted", "sent", "delivered", "exposed", "displayed", "clicked", "ctr",
    "dismissed", "completed", "opens", "influenced_opens", "converted", "conversion_rate",
    "conversions", "revenue", "absolute_lift", "absolute_low", "absolute_high",
    "relative_lift", "relative_low", "relative_high", "p_value", "p_adjusted",
    "sequential_p", "chance_to_beat", "expected_loss",
)  # fmt: skip


async def report_csv(ctx: AppContext, caller: Caller, campaign_id: int) -> str:
    r = await campaign_report(ctx, caller, campaign_id)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(REPORT_COLUMNS)
    for a in r.arms:
        lift = a.lift
        rel_ci = lift.relative_ci if lift else None
        w.writerow(
            [
                a.variant, a.targeted, a.sent, a.delivered, a.exposed, a.displayed, a.clicked,
                a.ctr, a.dismissed, a.completed, a.opens, a.influenced_opens, a.converted,
                a.conversion_rate, a.conversions, a.revenue,
                *(
                    [lift.absolute, lift.absolute_ci.low, lift.absolute_ci.high, lift.relative,
                     rel_ci.low if rel_ci else "", rel_ci.high if rel_ci else "", lift.p_value,
                     lift.p_adjusted, lift.sequential_p, lift.chance_to_beat, lift.expected_loss]
                    if lift
                    else [""] * 11
                ),
            ]
        )  # fmt: skip
    return buf.getvalue()
