"""The jobs table: one row per unit of background work, from queued to done or dead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, BigId, JSONType, UTCDateTime

QUEUED, RUNNING, DONE, DEAD = "queued", "running", "done", "dead"
STATUSES = (QUEUED, RUNNING, DONE, DEAD)


class Job(Base):
    """A job; `unique_key` (per kind) is kept for good, so a key is enqueued at most once."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "unique_key"),
        # Claiming reads due queued rows in run_at order; reclaiming reads running rows
        # by heartbeat; the API lists an app's rows newest first.
        Index("ix_jobs_status_run_at", "status", "run_at"),
        Index("ix_jobs_status_heartbeat_at", "status", "heartbeat_at"),
        Index("ix_jobs_app_id_status_id", "app_id", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # None for work that belongs to no app (housekeeping); the API shows an app its own.
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    unique_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
