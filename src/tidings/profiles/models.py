"""Behaviour aggregates: per-event daily counts (rolling window) and per-event totals."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, UTCDateTime

# Daily counts are kept at least this long; older days are pruned.
DAILY_WINDOW_DAYS = 120


class EventDailyCount(Base):
    """How many times a user did an event on one UTC day."""

    __tablename__ = "event_daily_counts"
    # Bulk audiences ("did X >= N times in the last D days") read one event's recent days
    # across users; this covering index makes that a range scan (migration 0002).
    __table_args__ = (Index("ix_event_daily_counts_name_day", "name", "day", "user_id", "count"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class UserEventStat(Base):
    """All-time totals per user and event: first and last occurrence, count."""

    __tablename__ = "user_event_stats"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer)
