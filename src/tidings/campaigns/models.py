"""The campaign table: variants, audience, trigger and controls of one in-app campaign."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, JSONType, UTCDateTime


class Campaign(Base):
    """One campaign; `version` grows on every saved change (compiled-rule cache key).

    Variants (`MessageVariant`s: key, weight, localized content) live in `variants` as
    validated JSON: they are only ever read and written with their campaign.
    """

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_app_status", "app_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16), default="in_app")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    format: Mapped[str] = mapped_column(String(16))
    audience: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="RESTRICT"), nullable=True
    )
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONType)
    controls: Mapped[dict[str, Any]] = mapped_column(JSONType)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    control_weight: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    goal: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Experiments: the variant all traffic goes to once chosen ("manual" or "auto"; the
    # automatic rule is `goal.auto_winner`), see experiments.assignment.
    winner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    winner_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    winner_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Push and device campaigns: when they go out (now, at, local_time, recurring, on_event).
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Push rate limit across workers: the end of the last send slot reserved (push/pacing.py).
    paced_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
