"""Shapes of the privacy routes: what an erase removed, and a user's export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tidings.users.schemas import UserOut

EXPORT_FORMAT = "tidings.user-export.v1"


class ErasedOut(BaseModel):
    user_id: int
    external_id: str | None
    deleted: dict[str, int] = Field(description="Rows removed, per table.")


class UserExportOut(BaseModel):
    """Everything Tidings holds about one user, and nothing about anyone else."""

    format: str = EXPORT_FORMAT
    exported_at: datetime
    app_id: int
    user: UserOut
    records: dict[str, list[dict[str, Any]]] = Field(
        description="Every row that references the user, per table (devices, events, "
        "anonymous ids, aggregates, ...)."
    )
    dropped_events: list[dict[str, Any]] = Field(
        description="Events refused at ingestion whose raw excerpt names the user."
    )
