"""Delivery look-ups and the user a client request names; never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.deliveries.models import Delivery
from tidings.inapp.model import Shown
from tidings.users.models import AnonymousId, User

IN_APP = "in_app"
# A holdout user's exposure: a `suppressed` row with this reason and variant "control".
CONTROL_REASON = "control"


async def find_user(
    s: AsyncSession, app_id: int, *, external_id: str | None, anonymous_id: str | None
) -> tuple[int, str | None] | None:
    """(user id, external id) of the user a client request names, without creating one."""
    if external_id is not None:
        row = (
            await s.execute(
                sa.select(User.id, User.external_id).where(
                    User.app_id == app_id, User.external_id == external_id
                )
            )
        ).first()
    else:
        row = (
            await s.execute(
                sa.select(User.id, User.external_id)
                .join(AnonymousId, AnonymousId.user_id == User.id)
                .where(AnonymousId.app_id == app_id, AnonymousId.anonymous_id == anonymous_id)
            )
        ).first()
    return (row[0], row[1]) if row else None


def in_history(d: Any) -> sa.ColumnElement[bool]:
    """The delivery rows decisions read as a user's history (`d` is the table or the
    model): displayed showings, and logged holdout exposures (they hold the sticky arm)."""
    return sa.or_(d.displayed_at.is_not(None), d.reason == CONTROL_REASON)


async def history(s: AsyncSession, user_id: int) -> list[Shown]:
    """Every showing of any campaign to this user, on any channel, and their logged
    holdout exposures (never displayed; they carry the sticky `control` arm)."""
    rows = await s.execute(
        sa.select(
            Delivery.campaign_id,
            Delivery.occurrence,
            Delivery.channel,
            Delivery.displayed_at,
            Delivery.dismissed_at,
            Delivery.completed_at,
            Delivery.session_id,
            Delivery.variant,
        ).where(
            Delivery.user_id == user_id,
            in_history(Delivery),
        )
    )
    return [Shown(*r) for r in rows.all()]


async def get_delivery(
    s: AsyncSession, campaign_id: int, user_id: int, occurrence: int, channel: str = IN_APP
) -> Delivery | None:
    row = await s.execute(
        sa.select(Delivery).where(
            Delivery.campaign_id == campaign_id,
            Delivery.user_id == user_id,
            Delivery.channel == channel,
            Delivery.device_key == 0,
            Delivery.occurrence == occurrence,
        )
    )
    return row.scalar_one_or_none()


async def read_posts(s: AsyncSession, user_id: int, campaign_ids: Sequence[int]) -> dict[int, bool]:
    """campaign id → read, for the user's inbox posts that have a delivery row."""
    if not campaign_ids:
        return {}
    rows = await s.execute(
        sa.select(Delivery.campaign_id, Delivery.read_at).where(
            Delivery.user_id == user_id,
            Delivery.campaign_id.in_(list(campaign_ids)),
            Delivery.occurrence == 1,
        )
    )
    return {cid: read_at is not None for cid, read_at in rows.all()}


async def variants_of(s: AsyncSession, user_id: int, campaign_ids: Sequence[int]) -> dict[int, str]:
    """campaign id → the arm the user's first delivery of it recorded."""
    rows = await s.execute(
        sa.select(Delivery.campaign_id, Delivery.variant)
        .where(Delivery.user_id == user_id, Delivery.campaign_id.in_(list(campaign_ids)))
        .order_by(Delivery.campaign_id, Delivery.occurrence.desc())
    )
    return {campaign_id: variant for campaign_id, variant in rows.all()}
