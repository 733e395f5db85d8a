"""Device request and response shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tidings.devices.models import Device
from tidings.users.schemas import (
    LOCALE_PATTERN,
    Id,
    IdentityIn,
    Location,
    check_timezone,
    require_someone,
)

Platform = Literal["web", "ios", "android", "desktop", "device"]
Provider = Literal["fcm", "apns", "webpush", "mqtt"]


_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Text100 = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, strip_whitespace=True, pattern=_PRINTABLE),
]
Text50 = Annotated[
    str, StringConstraints(min_length=1, max_length=50, strip_whitespace=True, pattern=_PRINTABLE)
]

# Facts a request may set; an omitted fact keeps its stored value, null clears it.
FACTS = (
    "manufacturer",
    "model",
    "os_name",
    "os_version",
    "app_version",
    "sdk_version",
    "serial_number",
    "locale",
    "timezone",
)


class Screen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(ge=1, le=100_000, description="Pixels.")
    height: int = Field(ge=1, le=100_000, description="Pixels.")


class PushIn(BaseModel):
    """Where to push: the provider and its address (see `devices.push_address`)."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    address: Any = Field(
        description="FCM token, APNs token (hex), Web Push subscription object "
        "{endpoint, keys: {p256dh, auth}, expirationTime?}, or MQTT client id."
    )


class DeviceIn(IdentityIn):
    """Register or update the device `device_id` for the user the identity names."""

    device_id: Id = Field(description="The SDK's stable id for this device.")
    platform: Platform
    manufacturer: Text100 | None = None
    model: Text100 | None = None
    os_name: Text50 | None = None
    os_version: Text50 | None = None
    app_version: Text50 | None = None
    sdk_version: Text50 | None = None
    serial_number: Text100 | None = None
    screen: Screen | None = None
    locale: str | None = Field(None, pattern=LOCALE_PATTERN, max_length=35)
    timezone: str | None = Field(None, max_length=64, description="IANA name, e.g. Asia/Tehran")
    location: Location | None = None
    push: PushIn | None = Field(
        None, description="Omitted: the address is kept; null: the address is cleared."
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, tz: str | None) -> str | None:
        return check_timezone(tz)

    @model_validator(mode="after")
    def _someone(self) -> DeviceIn:
        require_someone(self.external_id, self.anonymous_id, type(self).__name__)
        return self


class PushOut(BaseModel):
    provider: str
    address: Any = Field(description="The address as stored (a subscription as an object).")
    active: bool
    updated_at: datetime | None
    invalid_reason: str | None = None


class DeviceOut(BaseModel):
    id: int
    device_id: str
    user_id: int
    platform: str
    manufacturer: str | None
    model: str | None
    os_name: str | None
    os_version: str | None
    app_version: str | None
    sdk_version: str | None
    serial_number: str | None
    screen: Screen | None
    locale: str | None
    timezone: str | None
    location: dict[str, Any] | None
    push: PushOut | None
    created_at: datetime
    last_seen_at: datetime

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        """The response shape of a stored device row."""
        location = {
            key: getattr(device, key)
            for key in ("latitude", "longitude", "country", "region", "city")
            if getattr(device, key) is not None
        }
        push = None
        if device.push_provider is not None:
            address: Any = device.push_address
            if address is not None and device.push_provider == "webpush":
                address = orjson.loads(address)
            push = PushOut(
                provider=device.push_provider,
                address=address,
                active=device.push_active,
                updated_at=device.push_updated_at,
                invalid_reason=device.push_invalid_reason,
            )
        screen = None
        if device.screen_width is not None and device.screen_height is not None:
            screen = Screen(width=device.screen_width, height=device.screen_height)
        return cls(
            id=device.id,
            device_id=device.device_id,
            user_id=device.user_id,
            platform=device.platform,
            manufacturer=device.manufacturer,
            model=device.model,
            os_name=device.os_name,
            os_version=device.os_version,
            app_version=device.app_version,
            sdk_version=device.sdk_version,
            serial_number=device.serial_number,
            screen=screen,
            locale=device.locale,
            timezone=device.timezone,
            location=location or None,
            push=push,
            created_at=device.created_at,
            last_seen_at=device.last_seen_at,
        )
