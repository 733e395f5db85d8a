"""Shapes of the server API for users: list filters, profile, patch; and how to build them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tidings.errors import ValidationFailed
from tidings.users import attributes as attrs
from tidings.users.models import User
from tidings.users.schemas import CHANNELS, LOCALE_PATTERN, Location, UserOut, check_timezone

ATTRIBUTE_FILTER_PREFIX = "attr."
LOCATION_FIELDS = ("latitude", "longitude", "country", "region", "city")
# OpenAPI note for every route under /v1/users/{user_id}.
USER_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user in this app (missing and another app's alike)."}
}


@dataclass(frozen=True)
class AttributeFilter:
    """`attr.<name>=<value>`: equality on a declared attribute (membership for lists)."""

    name: str
    type: str
    value: attrs.AttributeValue


@dataclass(frozen=True)
class UserFilters:
    external_id: str | None = None
    anonymous_id: str | None = None
    seen_after: datetime | None = None
    seen_before: datetime | None = None
    created_after: datetime | None = None
    q: str | None = None
    attributes: list[AttributeFilter] = field(default_factory=list)


def attribute_filters(
    query: Iterable[tuple[str, str]], declared: Mapping[str, str]
) -> list[AttributeFilter]:
    """Read `attr.<name>=<text>` query items, typed by the app's declared attributes.

    Raises ValidationFailed naming the query field (`attr.plan`) for an unknown attribute
    or a value its type cannot hold.
    """
    out: list[AttributeFilter] = []
    for key, text in query:
        if not key.startswith(ATTRIBUTE_FILTER_PREFIX):
            continue
        name = key[len(ATTRIBUTE_FILTER_PREFIX) :]
        type_ = declared.get(name)
        if type_ is None:
            raise ValidationFailed(
                f"{key}: no attribute {name!r} has been declared in this app",
                field=key,
                code="unknown_attribute",
            )
        out.append(AttributeFilter(name, type_, _typed(text, type_, key)))
    return out


def _typed(text: str, type_: str, field_name: str) -> attrs.AttributeValue:
    def fail(why: str) -> ValidationFailed:
        return ValidationFailed(
            f"{field_name}: {why}", field=field_name, code="attribute_type_mismatch"
        )

    if type_ == "number":
        try:
            number = float(text)
        except ValueError as exc:
            raise fail("expected a number (this attribute was declared number)") from exc
        if not math.isfinite(number):
            raise fail("numbers must be finite")
        return number
    if type_ == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise fail("expected true or false (this attribute was declared boolean)")
        return lowered == "true"
    if type_ == "list":
        # A list attribute matches when it contains the given string.
        return attrs.coerce(text, "string", field_name)
    return attrs.coerce(text, type_, field_name)


def location_of(row: Any) -> dict[str, Any] | None:
    """The location fields a user or device row has set, or None when it has none."""
    found = {k: getattr(row, k) for k in LOCATION_FIELDS if getattr(row, k) is not None}
    return found or None


def user_out(user: User, anonymous_ids: list[str]) -> UserOut:
    return UserOut(
        id=user.id,
        external_id=user.external_id,
        anonymous_ids=anonymous_ids,
        attributes=user.attributes,
        locale=user.locale,
        timezone=user.timezone,
        consent=user.consent,
        location=location_of(user),
        first_seen_at=user.first_seen_at,
        last_seen_at=user.last_seen_at,
        session_count=user.session_count,
        last_values=user.last_values,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


class EventTotalOut(BaseModel):
    """All-time totals of one event for one user."""

    name: str
    count: int
    first_at: datetime
    last_at: datetime


class DailyCountsOut(BaseModel):
    """Per-day counts of each event over the last `days` UTC days (days with none left out)."""

    days: int
    since: date
    until: date
    counts: dict[str, dict[date, int]] = Field(
        description='{"purchase": {"2026-11-20": 2, ...}, ...}'
    )


class UserProfileOut(UserOut):
    """A user with its behaviour aggregates, as targeting sees it."""

    events: list[EventTotalOut] = Field(description="Per event name, most frequent first.")
    daily: DailyCountsOut


class UserPatchIn(BaseModel):
    """Fields to change; those left out stay as they are, null clears."""

    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Typed attributes; null unsets one."
    )
    locale: str | None = Field(None, pattern=LOCALE_PATTERN, max_length=35)
    timezone: str | None = Field(None, max_length=64, description="IANA name, e.g. Asia/Tehran")
    consent: dict[str, bool | None] = Field(
        default_factory=dict, description=f"Per channel {CHANNELS}; null forgets a channel."
    )
    location: Location | None = Field(None, description="Replaces the location; null clears.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, tz: str | None) -> str | None:
        return check_timezone(tz)

    @field_validator("consent")
    @classmethod
    def _consent(cls, consent: dict[str, bool | None]) -> dict[str, bool | None]:
        unknown = sorted(set(consent) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown consent channel(s) {unknown}; known: {list(CHANNELS)}")
        return consent
