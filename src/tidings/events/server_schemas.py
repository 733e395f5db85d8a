"""Shapes of the server API for events: stored events and dropped events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: str
    name: str
    properties: dict[str, Any]
    timestamp: datetime = Field(description="When it happened, corrected for clock skew.")
    received_at: datetime
    device_id: str | None


class DroppedEventOut(BaseModel):
    """An event refused at ingestion, with why."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime
    code: str = Field(description="e.g. invalid, invalid_timestamp, event_too_large")
    field: str | None = Field(description="Where in the batch, e.g. events[3].name")
    message: str
    excerpt: str = Field(description="The start (at most 1 KB) of the raw event as sent.")
