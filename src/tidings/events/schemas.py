"""Track request and response shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_EVENTS = 500
MAX_EVENT_BYTES = 32 * 1024

EventName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class EventIn(BaseModel):
    """One event; fields left out fall back to the batch's values."""

    model_config = ConfigDict(extra="forbid")

    name: EventName = Field(description="e.g. purchase, $session_start, $page_view")
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: str | float | None = Field(
        None, description="When it happened on the client: ISO-8601 or epoch s/ms."
    )
    message_id: MessageId | None = Field(
        None, description="Dedupe key; a retry with the same id is stored once."
    )
    external_id: Id | None = None
    anonymous_id: Id | None = None
    user_hash: str | None = Field(None, max_length=128)
    device_id: Id | None = None


class TrackIn(BaseModel):
    """A batch: up to 500 events, 512 KB, 32 KB per event."""

    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(min_length=1, max_length=MAX_EVENTS)
    sent_at: str | float | None = Field(
        None, description="The client's clock when it sent the batch; corrects skew."
    )
    external_id: Id | None = None
    anonymous_id: Id | None = None
    user_hash: str | None = Field(None, max_length=128)
    device_id: Id | None = None


class WellFormedTrackIn(TrackIn):
    """A batch whose every event is well-formed: JSON parsed straight into models.

    The usual case, and much cheaper than judging each event on its own; a batch with
    any malformed event is read as a plain `TrackIn` instead and judged event by event.
    """

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class EventError(BaseModel):
    code: str
    message: str
    field: str | None


class EventResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    message_id: str | None = None
    error: EventError | None = None
    warnings: list[str] = Field(default_factory=list)


class TrackOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]
