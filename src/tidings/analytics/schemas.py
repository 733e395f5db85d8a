"""Response shapes of the analytics API: the campaign report, series, breakdowns, surveys,
the winner and the lifecycle report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Interval(BaseModel):
    low: float
    high: float


class Lift(BaseModel):
    """This variant against control (or, without a control arm, the first variant)."""

    against: str
    absolute: float
    absolute_ci: Interval
    relative: float | None
    relative_ci: Interval | None
    p_value: float
    p_adjusted: float = Field(description="Holm-corrected across the variants.")
    significant: bool
    sequential_ci: Interval = Field(description="Always valid: may be read at any time.")
    sequential_p: float
    chance_to_beat: float
    expected_loss: float


class ArmReport(BaseModel):
    variant: str
    targeted: int = Field(description="Users with any delivery row (incl. suppressed).")
    suppressed: dict[str, int] = Field(description="Rows suppressed, by reason.")
    failed: dict[str, int] = Field(description="Rows failed, by reason.")
    sent: int = Field(description="Push rows that went out.")
    delivered: int
    exposed: int = Field(description="Users exposed (impression, send, or logged holdout).")
    displayed: int = Field(description="Unique users who saw it.")
    clicked: int
    ctr: float = Field(description="clicked ÷ displayed.")
    buttons: dict[str, int]
    dismissed: int
    completed: int
    opens: int = Field(description="Push opens.")
    influenced_opens: int = Field(description="App opens soon after a push, not via it.")
    converted: int
    conversion_rate: float
    rate_ci: Interval = Field(description="Wilson 95% interval of the conversion rate.")
    conversions: int
    revenue: float
    lift: Lift | None


class Srm(BaseModel):
    chi2: float
    p_value: float
    flagged: bool
    expected_weights: dict[str, int]


class Funnel(BaseModel):
    variant: str
    exposed: int
    clicked: int
    converted: int
    clicked_and_converted: int


class Winner(BaseModel):
    variant: str | None
    chosen_at: datetime | None
    chosen_by: Literal["manual", "auto"] | None


class CampaignReport(BaseModel):
    campaign_id: int
    channel: str
    goal: dict[str, Any] | None
    arms: list[ArmReport]
    funnel: list[Funnel]
    srm: Srm
    winner: Winner
    generated_at: datetime


class Point(BaseModel):
    bucket: str = Field(description="Start of the hour or day, UTC, ISO 8601.")
    variant: str
    exposed: int
    clicked: int
    converted: int


class Series(BaseModel):
    by: Literal["hour", "day"]
    points: list[Point]


class Slice(BaseModel):
    value: str | None
    variant: str
    exposed: int
    clicked: int
    converted: int
    conversion_rate: float


class Breakdown(BaseModel):
    dimension: Literal["platform", "locale", "country"]
    slices: list[Slice]


class QuestionResult(BaseModel):
    id: str
    kind: str
    prompt: str
    answered: int
    distribution: dict[str, int]
    mean: float | None = None
    nps: float | None = Field(None, description="% promoters (9-10) - % detractors (0-6).")


class SurveyReport(BaseModel):
    responses: int
    questions: list[QuestionResult]


class WinnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        description="A variant key; null clears the winner (the experiment resumes)."
    )


class LifecycleDefinitions(BaseModel):
    """How users are staged. Seeded defaults; stored per app."""

    model_config = ConfigDict(extra="forbid")
    activation_event: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Activated once they did this; null: after `activation_sessions`."
    )
    activation_sessions: Annotated[int, Field(ge=1, le=1000)] = 2
    engaged_sessions: Annotated[int, Field(ge=1, le=100_000)] = Field(
        10, description="The milestone: activated users with this many sessions are engaged."
    )
    dormant_after_days: Annotated[int, Field(ge=1, le=3650)] = 14
    churned_after_days: Annotated[int, Field(ge=1, le=3650)] = 30
    messages_within_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        30, description="Messages received in this many days are counted per stage."
    )


class Stage(BaseModel):
    stage: Literal["new", "activated", "engaged", "dormant", "churned"]
    users: int
    received_messages: int = Field(description="Users of this stage shown/sent a message.")
    messages: int


class LifecycleReport(BaseModel):
    definitions: LifecycleDefinitions
    stages: list[Stage]
    generated_at: datetime
