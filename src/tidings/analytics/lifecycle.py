"""Lifecycle report: users by stage, and how many of each stage received messages.

Stages, first match wins (definitions are per app, `LifecycleDefinitions`):
churned (not seen for `churned_after_days`), dormant (not seen for `dormant_after_days`),
new (not yet activated), engaged (activated, at least `engaged_sessions` sessions),
activated (did `activation_event`, or reached `activation_sessions` sessions).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import func

from tidings.analytics.schemas import LifecycleDefinitions, LifecycleReport, Stage
from tidings.analytics.sql import deliveries, users
from tidings.context import AppContext
from tidings.db import table_of
from tidings.errors import ValidationFailed
from tidings.profiles.models import UserEventStat
from tidings.tenancy.actions import set_app_setting
from tidings.tenancy.auth import Caller

event_stats = table_of(UserEventStat)
STAGES = ("new", "activated", "engaged", "dormant", "churned")
SETTINGS_KEY = "lifecycle"


def definitions_of(settings: dict[str, object]) -> LifecycleDefinitions:
    raw = settings.get(SETTINGS_KEY)
    return (
        LifecycleDefinitions.model_validate(raw)
        if isinstance(raw, dict)
        else LifecycleDefinitions()
    )


async def set_definitions(
    ctx: AppContext, caller: Caller, body: LifecycleDefinitions
) -> LifecycleDefinitions:
    if body.dormant_after_days >= body.churned_after_days:
        raise ValidationFailed(
            "dormant_after_days must be below churned_after_days", field="dormant_after_days"
        )
    await set_app_setting(ctx.db, caller.app_id, SETTINGS_KEY, body.model_dump())
    return body


async def report(ctx: AppContext, caller: Caller) -> LifecycleReport:
    d = definitions_of(caller.settings)
    now = ctx.clock.now()
    activated: sa.ColumnElement[bool]
    if d.activation_event is not None:
        activated = sa.exists(
            sa.select(1).where(
                event_stats.c.user_id == users.c.id, event_stats.c.name == d.activation_event
            )
        )
    else:
        activated = users.c.session_count >= d.activation_sessions
    seen = users.c.last_seen_at
    stage = sa.case(
        (seen.is_(None), "new"),
        (seen < now - timedelta(days=d.churned_after_days), "churned"),
        (seen < now - timedelta(days=d.dormant_after_days), "dormant"),
        (sa.not_(activated), "new"),
        (users.c.session_count >= d.engaged_sessions, "engaged"),
        else_="activated",
    ).label("stage")
    received = (
        sa.select(deliveries.c.user_id, func.count().label("n"))
        .where(
            deliveries.c.app_id == caller.app_id,
            deliveries.c.displayed_at >= now - timedelta(days=d.messages_within_days),
        )
        .group_by(deliveries.c.user_id)
        .subquery()
    )
    staged = (
        sa.select(stage, received.c.user_id.label("got"), received.c.n)
        .select_from(users.outerjoin(received, received.c.user_id == users.c.id))
        .where(users.c.app_id == caller.app_id)
        .subquery()
    )
    query = sa.select(
        staged.c.stage,
        func.count(),
        func.count(staged.c.got),
        func.coalesce(func.sum(staged.c.n), 0),
    ).group_by(staged.c.stage)
    async with ctx.db.read() as s:
        rows = {r[0]: r[1:] for r in (await s.execute(query)).all()}
    stages = [
        Stage(
            stage=name,
            users=rows.get(name, (0, 0, 0))[0],
            received_messages=rows.get(name, (0, 0, 0))[1],
            messages=int(rows.get(name, (0, 0, 0))[2]),
        )
        for name in STAGES
    ]
    return LifecycleReport(definitions=d, stages=stages, generated_at=now)
