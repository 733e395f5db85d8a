"""Request and response shapes for campaigns: trigger, delivery controls, variants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tidings.push.schemas import PushControls, Schedule
from tidings.targeting.rules import AttributeOp

Name = Annotated[str, Field(min_length=1, max_length=200)]
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Locale = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", max_length=35)]
Status = Literal["draft", "active", "scheduled", "paused", "completed", "archived"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PropertyFilter(_Strict):
    """A test on the triggering event's property, with the targeting spec's operators."""

    property: Annotated[str, Field(min_length=1, max_length=128)]
    op: AttributeOp
    value: Any = None


class Trigger(_Strict):
    """When the SDK shows the message; evaluated on the device."""

    type: Literal["session_start", "event", "page_view", "screen_view", "sdk_call"]
    event: Name | None = Field(None, description="`event`: the event name.")
    where: Annotated[list[PropertyFilter], Field(max_length=10)] = []
    url: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="`page_view`: a URL glob, e.g. `/billing/*`."
    )
    screen: Name | None = Field(None, description="`screen_view`: the screen id.")
    name: Name | None = Field(None, description="`sdk_call`: the name the app calls.")
    delay_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    only_on_pages: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=20)] = []

    @model_validator(mode="after")
    def _complete(self) -> Trigger:
        needs = {"event": "event", "page_view": "url", "screen_view": "screen", "sdk_call": "name"}
        wanted = needs.get(self.type)
        if wanted is not None and getattr(self, wanted) is None:
            raise ValueError(f"a `{self.type}` trigger needs `{wanted}`")
        if self.where and self.type != "event":
            raise ValueError("`where` filters apply to `event` triggers only")
        return self


class Frequency(_Strict):
    """At most `max_impressions` per user per `per_days` (null: ever)."""

    max_impressions: Annotated[int, Field(ge=1, le=1000)] = 1
    per_days: Annotated[float, Field(gt=0, le=3650)] | None = None


class UntilCompleted(_Strict):
    """Completion-aware return: answered/completed never returns; dismissed may, after
    `return_after_days`, at most `max_returns` times."""

    return_after_days: Annotated[float, Field(ge=0, le=3650)]
    max_returns: Annotated[int, Field(ge=0, le=100)]


class DisplayHours(_Strict):
    """Show only between these hours of the user's local day (`end` exclusive; wraps)."""

    start: Annotated[int, Field(ge=0, le=23)]
    end: Annotated[int, Field(ge=0, le=24)]


class Controls(_Strict):
    priority: Annotated[int, Field(ge=0, le=1000)] = Field(
        100, description="Higher first when several messages trigger at once."
    )
    frequency: Frequency = Frequency()
    reeligible_after_days: Annotated[float, Field(ge=0, le=3650)] | None = None
    until_completed: UntilCompleted | None = None
    exempt_from_budget: bool = Field(False, description="Critical notices skip the budget.")
    display_hours: DisplayHours | None = None
    push: PushControls | None = Field(
        None, description="Push campaigns: quiet hours, rate limit, TTL, collapse key."
    )


class Variant(_Strict):
    """One message variant: localized content (locale → message) and a weight."""

    key: Key
    weight: Annotated[int, Field(ge=0, le=10_000)] = 1
    default_locale: Locale = "en"
    content: dict[Locale, dict[str, Any]] = Field(
        description="Locale → message (one of the in-app formats)."
    )


class AutoWinner(_Strict):
    """Pick the winner by itself once every arm has `min_exposed` users and the best
    variant beats control (or, without control, the others) by the always-valid test."""

    min_exposed: Annotated[int, Field(ge=10, le=10_000_000)] = 1000
    alpha: Annotated[float, Field(gt=0, le=0.2)] = 0.05


class Goal(_Strict):
    """Conversions: `event` (matching `where`) by an exposed user within `within_days`
    after exposure; credited to this campaign by first or last touch among campaigns."""

    event: Name
    where: Annotated[list[PropertyFilter], Field(max_length=10)] = []
    within_days: Annotated[int, Field(ge=1, le=90)] = 7
    attribution: Literal["first_touch", "last_touch"] = "last_touch"
    revenue_property: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    auto_winner: AutoWinner | None = None


class CampaignIn(_Strict):
    name: Name
    channel: Literal["in_app", "push", "device"] = "in_app"
    description: Annotated[str, Field(max_length=2000)] = ""
    audience: dict[str, Any] | None = Field(None, description="An audience rule; null: everyone.")
    segment_id: Annotated[int, Field(ge=1)] | None = None
    trigger: Trigger = Trigger(type="session_start")
    controls: Controls = Controls()
    variants: Annotated[list[Variant], Field(min_length=1, max_length=10)]
    control_weight: Annotated[int, Field(ge=0, le=10_000)] = Field(
        0, description="Weight of the holdout: eligible, shown nothing."
    )
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    goal: Goal | None = None
    schedule: Schedule | None = Field(
        None, description="Push campaigns: when they go out (default `now`)."
    )


class CampaignPatch(_Strict):
    """Fields left out stay; any change to a non-draft campaign bumps `version`."""

    name: Name | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    audience: dict[str, Any] | None = None
    segment_id: Annotated[int, Field(ge=1)] | None = None
    trigger: Trigger | None = None
    controls: Controls | None = None
    variants: Annotated[list[Variant], Field(min_length=1, max_length=10)] | None = None
    control_weight: Annotated[int, Field(ge=0, le=10_000)] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    goal: Goal | None = None
    schedule: Schedule | None = None


class TransitionIn(_Strict):
    to: Literal["active", "paused", "completed", "archived"]


class CampaignOut(BaseModel):
    id: int
    name: str
    description: str
    status: Status
    channel: str = "in_app"
    format: str
    audience: dict[str, Any] | None
    segment_id: int | None
    trigger: dict[str, Any]
    controls: dict[str, Any]
    variants: list[dict[str, Any]]
    control_weight: int
    starts_at: datetime | None
    ends_at: datetime | None
    goal: dict[str, Any] | None
    schedule: dict[str, Any] | None = None
    winner: str | None = Field(None, description="Once set, new traffic goes to this variant.")
    winner_at: datetime | None = None
    winner_by: str | None = Field(None, description="`manual` or `auto`.")
    version: int
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    data: list[CampaignOut]
    next_cursor: str | None


class BudgetIn(_Strict):
    """The app-wide attention budget, shared by every channel."""

    max_inapp_per_session: Annotated[int, Field(ge=0, le=100)] | None = 1
    max_per_day: Annotated[int, Field(ge=0, le=1000)] | None = 3
    min_gap_seconds: Annotated[int, Field(ge=0, le=86_400)] = 30
