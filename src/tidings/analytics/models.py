"""The campaign report's rollup: one row per (campaign, user), kept by database triggers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, UTCDateTime


class CampaignUser(Base):
    """A user's delivery rows of one campaign, summed: the arm and moment of their first
    exposure and how many rows were displayed, clicked, dismissed, completed, and (push)
    sent, delivered and opened.

    Written only by the triggers of migration 0009, in the same statement as every write
    to `deliveries` (any writer, bulk loads and cascades included), so it cannot drift;
    `analytics.rollup.recount` is its definition as a query.
    """

    __tablename__ = "campaign_users"
    # Read one campaign's slice in user order (the events index's order); no rowid.
    __table_args__ = {"sqlite_with_rowid": False}

    # No foreign keys: derived from deliveries alone, whose own cascades clean it up.
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Of the row with the earliest exposure (ties: lowest id); with none, the first row.
    variant: Mapped[str] = mapped_column(String(64))
    exposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rows: Mapped[int] = mapped_column(Integer)
    displayed: Mapped[int] = mapped_column(Integer)
    clicked: Mapped[int] = mapped_column(Integer)
    dismissed: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    sent: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer)
    opens: Mapped[int] = mapped_column(Integer)


class CampaignArm(Base):
    """Per (campaign, arm, shard): the `campaign_users` rows summed, users counted in the
    arm of their first exposure. Kept by triggers on `campaign_users` (deltas), so the
    report's per-arm funnel reads a few rows.

    SQLite only (`info["dialects"]`): there one writer commits at a time. On PostgreSQL
    every concurrent writer of a campaign would lock the same few rows until commit (a
    push plan's insert and the send ledger's update deadlocked on them), so the report
    sums `campaign_users` per arm at read time instead."""

    __tablename__ = "campaign_arms"
    __table_args__ = {"sqlite_with_rowid": False, "info": {"dialects": ("sqlite",)}}

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    variant: Mapped[str] = mapped_column(String(64), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    targeted: Mapped[int] = mapped_column(Integer)
    exposed: Mapped[int] = mapped_column(Integer)
    displayed: Mapped[int] = mapped_column(Integer)
    clicked_any: Mapped[int] = mapped_column(Integer)
    clicked: Mapped[int] = mapped_column(Integer)  # exposed and clicked
    dismissed: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer)
    sent: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer)
    opens: Mapped[int] = mapped_column(Integer)
