"""Shapes of push campaigns: the push message, the schedule and the push controls."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Text = Annotated[str, Field(max_length=2000)]
Url = Annotated[str, Field(min_length=1, max_length=2000)]
LocalTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PushAction(_Strict):
    """An action button: `id` comes back with the open, `title` is shown."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    deep_link: Url | None = None


class PushMessage(_Strict):
    """One locale's push: every text field is a Liquid template rendered per user."""

    format: Literal["push"] = "push"
    title: Text = ""
    body: Text = ""
    image: Url | None = None
    deep_link: Url | None = None
    actions: Annotated[list[PushAction], Field(max_length=3)] = []
    badge: Annotated[int, Field(ge=0, le=100_000)] | None = None
    sound: Annotated[str, Field(max_length=100)] | None = None
    data: Annotated[dict[str, Annotated[str, Field(max_length=1000)]], Field(max_length=20)] = {}

    @model_validator(mode="after")
    def _says_something(self) -> PushMessage:
        if not (self.title or self.body or self.data):
            raise ValueError("a push needs a `title`, a `body` or `data`")
        return self


class DeviceMessage(_Strict):
    """An in-device message (MQTT): a JSON payload for the device's own app; its string
    values are Liquid templates rendered per user."""

    format: Literal["device"] = "device"
    payload: Annotated[dict[str, Any], Field(min_length=1, max_length=50)]


class Schedule(_Strict):
    """When a push campaign goes out once it is active.

    - `now`: at activation; `at`: at `at` (UTC); `local_time`: at `time` on `date` (or the
      next such moment) in each user's timezone;
    - `recurring`: `every` day or week (`weekday` 0 = Monday) at `time` in each user's
      timezone; `on_event`: `delay_seconds` after each `event` the user tracks; `api`:
      only transactional sends through the server API.
    """

    type: Literal["now", "at", "local_time", "recurring", "on_event", "api"] = "now"
    at: Annotated[str, Field(max_length=40)] | None = None
    time: LocalTime | None = None
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    every: Literal["day", "week"] | None = None
    weekday: Annotated[int, Field(ge=0, le=6)] | None = None
    event: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    delay_seconds: Annotated[int, Field(ge=0, le=30 * 86_400)] = 0

    @model_validator(mode="after")
    def _complete(self) -> Schedule:
        needs = {
            "at": ("at",),
            "local_time": ("time",),
            "recurring": ("time", "every"),
            "on_event": ("event",),
        }
        for wanted in needs.get(self.type, ()):
            if getattr(self, wanted) is None:
                raise ValueError(f"a `{self.type}` schedule needs `{wanted}`")
        if self.type == "recurring" and self.every == "week" and self.weekday is None:
            raise ValueError("a weekly schedule needs `weekday` (0 = Monday)")
        return self


class QuietHours(_Strict):
    """No push between `start` and `end` (hours, user's local time; wraps midnight)."""

    start: Annotated[int, Field(ge=0, le=23)] = 22
    end: Annotated[int, Field(ge=0, le=23)] = 8


class PushControls(_Strict):
    """Delivery controls only push campaigns have."""

    quiet_hours: QuietHours | None = QuietHours()
    rate_limit_per_second: Annotated[float, Field(gt=0, le=100_000)] | None = None
    ttl_seconds: Annotated[int, Field(ge=0, le=2_419_200)] = 86_400
    collapse_key: Annotated[str, Field(max_length=64)] | None = None
