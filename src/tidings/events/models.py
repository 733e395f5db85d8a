"""Event and dropped-event tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, BigId, JSONType, UTCDateTime


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # The dedupe key: a retried batch stores each event once, forever (≥ 24 h promised).
        UniqueConstraint("app_id", "message_id"),
        Index("ix_events_user_time", "user_id", "timestamp"),
        # Goal conversions: one user's events of one name in a window (analytics, 0007).
        Index("ix_events_user_name_time", "user_id", "name", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())  # corrected for clock skew
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    device_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class DroppedEvent(Base):
    """An event refused at ingestion, kept with its reason so operators can see why."""

    __tablename__ = "dropped_events"
    __table_args__ = (Index("ix_dropped_events_app_time", "app_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    code: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(String(200), nullable=True)
    message: Mapped[str] = mapped_column(String(500))
    excerpt: Mapped[str] = mapped_column(Text)  # at most 1 KB of the raw event
