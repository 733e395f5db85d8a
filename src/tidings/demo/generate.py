"""Generate demo users, devices and 60 days of behaviour (pure: a seeded RNG and `now` in).

Each user draws from its own RNG seeded by (seed, index), so a user's profile and devices
are the same on every run; message ids are `demo-<user>-<n>`, so seeding again stores no
event twice.
"""

from __future__ import annotations

import base64
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tidings.demo import catalog
from tidings.demo.catalog import Country, DeviceKind

WINDOW = timedelta(days=60)
SIGNUP_SPREAD = timedelta(days=120)


@dataclass(frozen=True)
class Engagement:
    name: str
    weight: int
    active_p: float  # chance of using the product on a given day
    sessions: tuple[int, int]  # sessions on an active day (inclusive range)


ENGAGEMENTS = (
    Engagement("power", 15, 0.75, (1, 3)),
    Engagement("regular", 35, 0.40, (1, 2)),
    Engagement("casual", 35, 0.12, (1, 1)),
    Engagement("churned", 15, 0.45, (1, 2)),  # active until a churn day, then silent
)


@dataclass
class DemoUser:
    """Bodies in the shapes of the client API: identify, devices, track events."""

    external_id: str
    anonymous_id: str | None
    identify: dict[str, Any]
    devices: list[dict[str, Any]]
    anonymous_events: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _weighted(rng: random.Random, items: tuple[Any, ...]) -> Any:
    return rng.choices(items, weights=[item.weight for item in items])[0]


def _push_address(rng: random.Random, kind: DeviceKind) -> dict[str, Any] | None:
    """A well-formed address of the kind's provider (no real device behind it)."""
    if kind.push == "apns":
        return {"provider": "apns", "address": rng.randbytes(32).hex()}
    if kind.push == "fcm":
        token = base64.urlsafe_b64encode(rng.randbytes(105)).decode().rstrip("=")
        return {"provider": "fcm", "address": f"{token[:22]}:APA91b{token[22:]}"}
    if kind.push == "webpush":
        private = ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1())
        point = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        b64 = base64.urlsafe_b64encode
        return {
            "provider": "webpush",
            "address": {
                "endpoint": "https://fcm.googleapis.com/fcm/send/"
                + b64(rng.randbytes(48)).decode().rstrip("="),
                "keys": {
                    "p256dh": b64(point).decode().rstrip("="),
                    "auth": b64(rng.randbytes(16)).decode().rstrip("="),
                },
                "expirationTime": None,
            },
        }
    return None


def _device(
    rng: random.Random,
    external_id: str,
    home: tuple[str, float, float],
    locale: str,
    tz: str,
    push_ok: bool,
) -> dict[str, Any]:
    kind: DeviceKind = _weighted(rng, catalog.DEVICE_KINDS)
    width, height = rng.choice(kind.screens)
    model = rng.choice(kind.models)
    body: dict[str, Any] = {
        "external_id": external_id,
        "device_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "platform": kind.platform,
        "model": model,
        "os_name": kind.os_name,
        "os_version": rng.choice(kind.os_versions),
        "app_version": rng.choice(catalog.APP_VERSIONS),
        "sdk_version": catalog.SDK_VERSION,
        "screen": {"width": width, "height": height},
        "locale": locale,
        "timezone": tz,
    }
    manufacturer = "Google" if model.startswith("Pixel") else kind.manufacturer
    if model.startswith("Redmi"):
        manufacturer = "Xiaomi"
    if manufacturer:
        body["manufacturer"] = manufacturer
    push = _push_address(rng, kind) if push_ok else None
    if push is not None:
        body["push"] = push
    if kind.platform in ("ios", "android"):
        country, lat, lon = home
        body["location"] = {
            "latitude": round(lat + rng.uniform(-0.05, 0.05), 4),
            "longitude": round(lon + rng.uniform(-0.05, 0.05), 4),
            "country": country,
        }
    return body


def _session(
    rng: random.Random,
    start: datetime,
    device: dict[str, Any],
    plan: str,
    currency: str,
    first: bool,
) -> list[dict[str, Any]]:
    """One visit: a session start, some views, maybe a feature, a search, a purchase."""
    web = device["platform"] == "web"
    at = start
    events: list[dict[str, Any]] = [
        {
            "name": "$session_start",
            "timestamp": _iso(at),
            "properties": {"platform": device["platform"], "app_version": device["app_version"]},
        }
    ]

    def add(name: str, properties: dict[str, Any]) -> None:
        nonlocal at
        at += timedelta(seconds=rng.randint(5, 120))
        events.append({"name": name, "timestamp": _iso(at), "properties": properties})

    for i in range(rng.randint(2, 7)):
        if web:
            path, title = rng.choice(catalog.PAGES)
            props: dict[str, Any] = {"path": path, "title": title}
            if i == 0 and first:
                props["referrer"] = rng.choice(catalog.REFERRERS)
            add("$page_view", props)
        else:
            add("$screen_view", {"screen": rng.choice(catalog.SCREENS)})
    if rng.random() < 0.45:
        add("feature_used", {"feature": rng.choice(catalog.FEATURES)})
    if rng.random() < 0.2:
        add("search", {"query_length": rng.randint(2, 40), "results": rng.randint(0, 60)})
    buy_p = {"pro": 0.06, "trial": 0.03, "free": 0.01}[plan]
    if rng.random() < buy_p:
        product, usd = rng.choice(catalog.PRODUCTS)
        amount = round(usd * catalog.FX[currency], 2)
        add("purchase", {"product": product, "amount": amount, "currency": currency})
    return events


def _session_starts(
    rng: random.Random, tz: ZoneInfo, day: datetime, count: int, now: datetime
) -> list[datetime]:
    """`count` session start times on a local `day`, in waking hours, none after `now`."""
    starts = []
    for _ in range(count):
        local = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(
            hours=rng.choice((8, 9, 10, 11, 12, 13, 14, 17, 19, 20, 21, 22)),
            minutes=rng.randint(0, 59),
            seconds=rng.randint(0, 59),
        )
        if local.astimezone(UTC) < now - timedelta(minutes=10):
            starts.append(local.astimezone(UTC))
    return sorted(starts)


def generate_user(rng: random.Random, index: int, now: datetime) -> DemoUser:
    """One user with a profile, one or two devices and their recent behaviour."""
    country: Country = _weighted(rng, catalog.COUNTRIES)
    locale, tz_name = rng.choice(country.locales), rng.choice(country.timezones)
    first, last = rng.choice(country.first_names), rng.choice(country.last_names)
    city, region, lat, lon = rng.choice(country.cities)
    external_id = f"user-{index + 1:04d}"
    plan = rng.choices(catalog.PLANS, weights=(55, 15, 30))[0]
    signup = now - timedelta(seconds=rng.uniform(3600, SIGNUP_SPREAD.total_seconds()))
    push_ok = rng.random() < 0.7
    attributes: dict[str, Any] = {
        "name": f"{first} {last}",
        "email": f"{_ascii(first)}.{_ascii(last)}{index + 1}@example.com",
        "plan": plan,
        "country": country.code,
        "signup_date": _iso(signup),
        "beta_tester": rng.random() < 0.15,
        "referrer": rng.choice(catalog.REFERRERS),
    }
    if plan == "pro":
        attributes["seats"] = rng.choice((1, 1, 2, 3, 5, 10, 25))
    if rng.random() < 0.5:
        attributes["company"] = f"{last} {rng.choice(('Labs', 'GmbH', 'Studio', 'Co', 'Ltda'))}"
    identify: dict[str, Any] = {
        "external_id": external_id,
        "attributes": attributes,
        "locale": locale,
        "timezone": tz_name,
        "consent": {"push": push_ok, "inapp": True, "email": rng.random() < 0.6},
        "location": {
            "country": country.code,
            "region": region,
            "city": city,
            "latitude": round(lat + rng.uniform(-0.05, 0.05), 4),
            "longitude": round(lon + rng.uniform(-0.05, 0.05), 4),
        },
    }
    devices = [
        _device(rng, external_id, (country.code, lat, lon), locale, tz_name, push_ok)
        for _ in range(1 if rng.random() < 0.7 else 2)
    ]
    anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    user = DemoUser(external_id, None, identify, devices)
    if rng.random() < 0.3:
        # Browsed before signing up: that history is merged into the user on identify.
        user.anonymous_id = anonymous_id
        identify["anonymous_id"] = anonymous_id
    _behaviour(rng, user, plan, country, ZoneInfo(tz_name), signup, now)
    for n, event in enumerate([*user.anonymous_events, *user.events]):
        event["message_id"] = f"demo-{external_id}-{n}"
    return user


def _behaviour(
    rng: random.Random,
    user: DemoUser,
    plan: str,
    country: Country,
    tz: ZoneInfo,
    signup: datetime,
    now: datetime,
) -> None:
    engagement: Engagement = _weighted(rng, ENGAGEMENTS)
    start = max(signup, now - WINDOW)
    churn = start + (now - start) * rng.uniform(0.2, 0.7)
    if user.anonymous_id is not None and signup >= now - WINDOW:
        visit = signup - timedelta(minutes=rng.randint(15, 90))
        web = {"platform": "web", "app_version": catalog.APP_VERSIONS[-1]}
        for event in _session(rng, visit, web, "free", country.currency, True):
            event["device_id"] = user.devices[0]["device_id"]
            user.anonymous_events.append(event)
    if signup >= now - WINDOW:
        user.events.append(
            {
                "name": "signed_up",
                "timestamp": _iso(signup),
                "properties": {"plan": "trial" if plan != "free" else "free"},
            }
        )
    if plan == "pro":
        upgraded = signup + (now - signup) * rng.uniform(0.05, 0.5)
        user.events.append(
            {
                "name": "plan_changed",
                "timestamp": _iso(upgraded),
                "properties": {"from": "trial", "to": "pro", "plan": "pro"},
            }
        )
    day = start.astimezone(tz)
    first = True
    while day.astimezone(UTC) <= now:
        weekend = day.weekday() >= 5
        active_p = engagement.active_p * (0.6 if weekend else 1.0)
        churned = engagement.name == "churned" and day.astimezone(UTC) > churn
        if not churned and rng.random() < active_p:
            count = rng.randint(*engagement.sessions)
            for at in _session_starts(rng, tz, day, count, now):
                if at < signup:
                    continue
                device = rng.choice(user.devices)
                for event in _session(rng, at, device, plan, country.currency, first):
                    event["device_id"] = device["device_id"]
                    user.events.append(event)
                first = False
        day += timedelta(days=1)
    user.events.sort(key=lambda e: str(e["timestamp"]))


def generate(count: int, now: datetime, *, seed: int = 7) -> list[DemoUser]:
    """`count` demo users as of `now`."""
    return [generate_user(random.Random(f"{seed}-{i}"), i, now) for i in range(count)]
