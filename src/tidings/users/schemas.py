"""Request and response shapes for users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Id = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
LOCALE_PATTERN = r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"
CHANNELS = ("push", "inapp", "email", "sms", "device")


def check_timezone(tz: str | None) -> str | None:
    if tz is None:
        return None
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {tz!r}") from exc
    return tz


def require_someone(external_id: str | None, anonymous_id: str | None, title: str) -> None:
    """A request about a user names them: an error at `external_id` when neither id is given."""
    if external_id or anonymous_id:
        return
    raise ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError(
                    "missing_identity", "external_id or anonymous_id is required"
                ),
                loc=("external_id",),
                input=None,
            )
        ],
    )


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")
    region: str | None = Field(None, max_length=100)
    city: str | None = Field(None, max_length=100)

    @model_validator(mode="after")
    def _pair(self) -> Location:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude come together")
        if self.country:
            self.country = self.country.upper()
        return self


class IdentityIn(BaseModel):
    """Who a request is about: the app's own id and/or the SDK's anonymous id."""

    model_config = ConfigDict(extra="forbid")

    external_id: Id | None = Field(None, description="The app's own id for this user.")
    anonymous_id: Id | None = Field(None, description="The SDK's id before the user is known.")
    user_hash: str | None = Field(
        None,
        max_length=128,
        description="HMAC-SHA256(app identity secret, external_id), hex; required when the "
        "app enforces identity verification.",
    )


class IdentifyIn(IdentityIn):
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Typed attributes; null unsets."
    )
    locale: str | None = Field(None, pattern=LOCALE_PATTERN, max_length=35)
    timezone: str | None = Field(None, max_length=64, description="IANA name, e.g. Asia/Tehran")
    consent: dict[str, StrictBool] = Field(
        default_factory=dict, description=f"Per channel, true or false: {CHANNELS}"
    )
    location: Location | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, tz: str | None) -> str | None:
        return check_timezone(tz)

    @field_validator("consent")
    @classmethod
    def _consent(cls, consent: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(consent) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown consent channel(s) {unknown}; known: {list(CHANNELS)}")
        return consent

    @model_validator(mode="after")
    def _someone(self) -> IdentifyIn:
        require_someone(self.external_id, self.anonymous_id, type(self).__name__)
        return self


class UserOut(BaseModel):
    id: int
    external_id: str | None
    anonymous_ids: list[str]
    attributes: dict[str, Any]
    locale: str | None
    timezone: str | None
    consent: dict[str, bool]
    location: dict[str, Any] | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    session_count: int
    last_values: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class IdentifyOut(BaseModel):
    user_id: int
    external_id: str | None
    merged_user_ids: list[int] = Field(default_factory=list)
