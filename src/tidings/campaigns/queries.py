"""Campaign look-ups; never commit."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.campaigns.models import Campaign
from tidings.segments.models import Segment


async def get_campaign(s: AsyncSession, app_id: int, campaign_id: int) -> Campaign | None:
    """The campaign if it belongs to `app_id`; missing and foreign look the same (None)."""
    campaign = await s.get(Campaign, campaign_id)
    return campaign if campaign is not None and campaign.app_id == app_id else None


async def list_campaigns(
    s: AsyncSession, app_id: int, *, status: str | None, after: int, limit: int
) -> list[Campaign]:
    query = sa.select(Campaign).where(Campaign.app_id == app_id, Campaign.id > after)
    if status is not None:
        query = query.where(Campaign.status == status)
    rows = await s.execute(query.order_by(Campaign.id).limit(limit))
    return list(rows.scalars())


async def live_campaigns(s: AsyncSession, app_id: int) -> list[Campaign]:
    """In-app campaigns that may show now or soon (active or scheduled); push and device
    campaigns are sent by the job runner, never decided."""
    rows = await s.execute(
        sa.select(Campaign).where(
            Campaign.app_id == app_id,
            Campaign.channel == "in_app",
            Campaign.status.in_(("active", "scheduled")),
        )
    )
    return list(rows.scalars())


async def live_stamp(s: AsyncSession, app_id: int) -> tuple[object, ...]:
    """What changes whenever the app's live set may have: its in-app campaigns' count and
    latest change, and its segments' (audiences may name them). Every change to either
    sets `updated_at`; a campaign leaving the live set changes the count."""
    live = sa.and_(Campaign.status.in_(("active", "scheduled")), Campaign.channel == "in_app")
    campaigns = sa.select(
        sa.func.count(Campaign.id).filter(live),
        sa.func.count(Campaign.id),
        sa.func.max(Campaign.updated_at),
    ).where(Campaign.app_id == app_id)
    segments = sa.select(sa.func.count(Segment.id), sa.func.max(Segment.updated_at)).where(
        Segment.app_id == app_id
    )
    first = (await s.execute(campaigns)).one()
    second = (await s.execute(segments)).one()
    return (*first, *second)
