"""Client (SDK) shapes: decisions, inbox, interactions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tidings.users.schemas import IdentityIn

SessionId = Annotated[str, Field(min_length=1, max_length=128)]


class Someone(IdentityIn):
    @model_validator(mode="after")
    def _someone(self) -> Someone:
        if self.external_id is None and self.anonymous_id is None:
            raise ValueError("external_id or anonymous_id is required")
        return self


class DecideIn(Someone):
    session_id: SessionId
    locale: Annotated[str, Field(max_length=35)] | None = Field(
        None, description="The device's locale; the user's stored locale when absent."
    )


class Display(BaseModel):
    delay_seconds: int
    only_on_pages: list[str]
    blocking: bool = Field(description="Takes the screen: one blocking message at a time.")


class DecidedMessage(BaseModel):
    campaign_id: int
    variant: str
    occurrence: int = Field(description="Send back with every interaction for this showing.")
    format: str
    priority: int
    exempt_from_budget: bool
    locale: str
    trigger: dict[str, Any]
    display: Display
    content: dict[str, Any]
    holdout: bool = Field(
        False,
        description="The user is in the campaign's control group: when the trigger fires, "
        "record an `impression` (logged as a holdout exposure) and show nothing. "
        "`content` is empty.",
    )


class BudgetState(BaseModel):
    max_inapp_per_session: int | None
    max_per_day: int | None
    min_gap_seconds: int
    shown_this_session: int
    shown_today: int
    next_allowed_at: datetime | None


class DecideOut(BaseModel):
    user_id: int | None
    session_id: str
    messages: list[DecidedMessage]
    budget: BudgetState | None
    evaluated_at: datetime


InteractionType = Literal[
    "impression", "click", "dismiss", "answer", "inbox_read", "step_seen", "tour_completed"
]


class Interaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: InteractionType
    campaign_id: int = Field(ge=1)
    occurrence: int = Field(1, ge=1, le=1_000_000)
    button_id: Annotated[str, Field(max_length=64)] | None = None
    answers: dict[Annotated[str, Field(max_length=64)], Any] | None = Field(None, max_length=20)
    step: int | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _complete(self) -> Interaction:
        if self.type == "answer" and not self.answers:
            raise ValueError("an `answer` needs `answers`")
        if self.type == "step_seen" and self.step is None:
            raise ValueError("a `step_seen` needs `step`")
        return self


class InteractionsIn(Someone):
    session_id: SessionId | None = Field(None, description="Required with impressions.")
    interactions: list[Interaction] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _session(self) -> InteractionsIn:
        # The per-session budget is counted by it: an impression without one would escape.
        if self.session_id is None and any(i.type == "impression" for i in self.interactions):
            raise ValueError("impressions need `session_id`")
        return self


class InteractionResult(BaseModel):
    status: Literal["recorded", "duplicate", "refused"]
    reason: str | None = None


class InteractionsOut(BaseModel):
    results: list[InteractionResult]


class InboxPost(BaseModel):
    campaign_id: int
    variant: str
    locale: str
    pinned: bool
    read: bool
    created_at: datetime
    content: dict[str, Any]


class InboxOut(BaseModel):
    data: list[InboxPost]
    unread: int
    next_cursor: str | None
