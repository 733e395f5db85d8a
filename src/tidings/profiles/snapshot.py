"""A user's profile as one immutable value: what the Python rule compiler reads.

Pure: built by `profiles.loader` from the database, or from JSON (spec cases, tests).
JSON form (every key optional but `id`):

    {"id": 7, "external_id": "u7", "attributes": {...}, "consent": {"push": true},
     "country": "IR", "region": "Tehran", "city": "Tehran", "latitude": 35.7,
     "longitude": 51.4, "locale": "fa-IR", "timezone": "Asia/Tehran",
     "created_at": "...Z", "first_seen_at": "...Z", "last_seen_at": "...Z",
     "session_count": 3, "last_values": {...},
     "daily": {"purchase": {"2026-03-01": 2}},
     "stats": {"purchase": {"first_at": "...Z", "last_at": "...Z", "count": 9}},
     "devices": [{"platform": "android", "os_version": "14", ...}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

DEVICE_FACTS = (
    "platform",
    "os_name",
    "os_version",
    "app_version",
    "model",
    "manufacturer",
    "locale",
    "timezone",
    "push_provider",
)


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What targeting may read about one device."""

    platform: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    app_version: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    locale: str | None = None
    timezone: str | None = None
    push_provider: str | None = None
    push_active: bool = False


@dataclass(frozen=True, slots=True)
class EventStat:
    """All-time totals of one event for one user."""

    first_at: datetime
    last_at: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Profile:
    """User columns, typed attributes, behaviour aggregates and devices of one user."""

    id: int
    external_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    consent: Mapping[str, Any] = field(default_factory=dict)
    country: str | None = None
    region: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    locale: str | None = None
    timezone: str | None = None
    created_at: datetime | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    session_count: int = 0
    last_values: Mapping[str, Any] = field(default_factory=dict)
    # event name → UTC day → count (the rolling window kept on ingestion)
    daily: Mapping[str, Mapping[date, int]] = field(default_factory=dict)
    stats: Mapping[str, EventStat] = field(default_factory=dict)
    devices: tuple[DeviceFacts, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        """Build from the JSON form in the module docstring."""
        return cls(
            id=int(data["id"]),
            external_id=data.get("external_id"),
            attributes=dict(data.get("attributes") or {}),
            consent=dict(data.get("consent") or {}),
            country=data.get("country"),
            region=data.get("region"),
            city=data.get("city"),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            locale=data.get("locale"),
            timezone=data.get("timezone"),
            created_at=_moment(data.get("created_at")),
            first_seen_at=_moment(data.get("first_seen_at")),
            last_seen_at=_moment(data.get("last_seen_at")),
            session_count=int(data.get("session_count") or 0),
            last_values=dict(data.get("last_values") or {}),
            daily={
                name: {date.fromisoformat(d): int(c) for d, c in days.items()}
                for name, days in (data.get("daily") or {}).items()
            },
            stats={
                name: EventStat(_required(s["first_at"]), _required(s["last_at"]), int(s["count"]))
                for name, s in (data.get("stats") or {}).items()
            },
            devices=tuple(
                DeviceFacts(
                    **{k: d.get(k) for k in DEVICE_FACTS},
                    push_active=bool(d.get("push_active", False)),
                )
                for d in data.get("devices") or ()
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form; `from_json(p.to_json()) == p`."""
        return {
            "id": self.id,
            "external_id": self.external_id,
            "attributes": dict(self.attributes),
            "consent": dict(self.consent),
            "country": self.country,
            "region": self.region,
            "city": self.city,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "locale": self.locale,
            "timezone": self.timezone,
            "created_at": _text(self.created_at),
            "first_seen_at": _text(self.first_seen_at),
            "last_seen_at": _text(self.last_seen_at),
            "session_count": self.session_count,
            "last_values": dict(self.last_values),
            "daily": {
                name: {d.isoformat(): c for d, c in sorted(days.items())}
                for name, days in self.daily.items()
            },
            "stats": {
                name: {"first_at": _text(s.first_at), "last_at": _text(s.last_at), "count": s.count}
                for name, s in self.stats.items()
            },
            "devices": [
                {**{k: getattr(d, k) for k in DEVICE_FACTS}, "push_active": d.push_active}
                for d in self.devices
            ],
        }


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"profile datetimes carry a zone: {value!r}")
    return moment.astimezone(UTC)


def _required(value: Any) -> datetime:
    moment = _moment(value)
    if moment is None:
        raise ValueError("missing datetime")
    return moment


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
