"""Push addresses (pure): validate an address for its provider and the device's platform.

Which provider may reach which platform:

| provider  | platforms                    | why                                                  |
| --------- | ---------------------------- | ---------------------------------------------------- |
| `fcm`     | android, ios, web, device    | FCM serves Android, iOS (via APNs), the web, and     |
|           |                              | Android-based devices (TVs, kiosks)                  |
| `apns`    | ios, desktop                 | APNs serves iOS/iPadOS and macOS desktop apps        |
| `webpush` | web, desktop                 | browsers and desktop shells (Electron/PWA) expose    |
|           |                              | W3C Push API subscriptions                           |
| `mqtt`    | device                       | in-device messaging to a fleet over a broker         |

Address forms: an FCM registration token (base64url-ish text with `:`), an APNs device
token (hex, 64-200 characters, even length; kept lowercase), a Web Push subscription as
`PushSubscription.toJSON()` gives it (https endpoint; `keys.p256dh` = base64url of an
uncompressed P-256 point, 65 bytes starting 0x04; `keys.auth` = base64url of 16 bytes),
or an MQTT client id (every broker must accept 1-23 of `[0-9A-Za-z]`; common brokers take
longer ids, so up to 128 of `[0-9A-Za-z._:-]`: never a topic separator or wildcard).

`key` is what identifies the address for "one address, one device": the token itself,
or a subscription's endpoint (its keys are encryption material, not identity). Errors
never quote the address: it is a credential to reach someone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

PROVIDER_PLATFORMS: dict[str, frozenset[str]] = {
    "fcm": frozenset({"android", "ios", "web", "device"}),
    "apns": frozenset({"ios", "desktop"}),
    "webpush": frozenset({"web", "desktop"}),
    "mqtt": frozenset({"device"}),
}

FCM_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-:.]{32,1024}$")
APNS_TOKEN_RE = re.compile(r"^(?:[0-9A-Fa-f]{2}){32,100}$")
MQTT_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
BASE64URL_RE = re.compile(r"^[A-Za-z0-9_\-]+={0,2}$")
MAX_ENDPOINT = 2048
P256_POINT_BYTES = 65
# Set from `TIDINGS_ALLOW_PRIVATE_PUSH_ENDPOINTS` when the app starts (development only).
_private_endpoints = {"allowed": False}


def allow_private_endpoints(allowed: bool) -> None:
    """Accept loopback/private (and http) Web Push endpoints: development and tests only."""
    _private_endpoints["allowed"] = allowed


def private_endpoints_allowed() -> bool:
    return _private_endpoints["allowed"]


AUTH_SECRET_BYTES = 16


class PushAddressError(ValueError):
    """A bad push address; `field` is relative to the `push` object, e.g. `address.keys.auth`."""

    def __init__(self, field: str, message: str, *, code: str = "invalid_push_address") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


@dataclass(frozen=True)
class PushAddress:
    """A validated address: `text` is what is stored, `key_hash` identifies it."""

    provider: str
    text: str
    key_hash: str


def check_platform(provider: str, platform: str) -> None:
    """Raise unless `provider` can reach a device on `platform`."""
    allowed = PROVIDER_PLATFORMS.get(provider)
    if allowed is None:
        raise PushAddressError("provider", f"unknown push provider {provider!r}")
    if platform not in allowed:
        raise PushAddressError(
            "provider",
            f"{provider} does not reach {platform} devices; it serves {sorted(allowed)}",
            code="push_platform_mismatch",
        )


def parse(provider: str, address: Any, platform: str) -> PushAddress:
    """The address checked against its provider and the device's platform."""
    check_platform(provider, platform)
    if provider == "webpush":
        text, key = _webpush(address)
    elif provider == "fcm":
        text = key = _token(
            address,
            FCM_TOKEN_RE,
            "an FCM registration token: 32-1024 characters of A-Z a-z 0-9 _ - : .",
        )
    elif provider == "apns":
        text = key = _token(
            address, APNS_TOKEN_RE, "an APNs device token: hex, 64-200 characters, even length"
        ).lower()
    else:
        text = key = _token(
            address,
            MQTT_CLIENT_ID_RE,
            "an MQTT client id: 1-128 characters of A-Z a-z 0-9 . _ : - "
            "(no topic separators or wildcards)",
        )
    return PushAddress(provider, text, hashlib.sha256(key.encode()).hexdigest())


def _token(address: Any, pattern: re.Pattern[str], expected: str) -> str:
    if not isinstance(address, str):
        raise PushAddressError("address", f"expected {expected}, as a string")
    if not pattern.fullmatch(address):
        raise PushAddressError("address", f"expected {expected}")
    return address


def _webpush(address: Any) -> tuple[str, str]:
    if not isinstance(address, Mapping):
        raise PushAddressError(
            "address", "expected a Web Push subscription object {endpoint, keys, expirationTime?}"
        )
    unknown = sorted(set(address) - {"endpoint", "keys", "expirationTime"})
    if unknown:
        raise PushAddressError(f"address.{unknown[0]}", "unknown field in a Web Push subscription")
    endpoint = _endpoint(address.get("endpoint"))
    keys = address.get("keys")
    if not isinstance(keys, Mapping):
        raise PushAddressError("address.keys", "expected an object {p256dh, auth}")
    unknown = sorted(set(keys) - {"p256dh", "auth"})
    if unknown:
        raise PushAddressError(f"address.keys.{unknown[0]}", "unknown field in subscription keys")
    p256dh = _b64url(keys.get("p256dh"), "address.keys.p256dh", P256_POINT_BYTES)
    if p256dh[0] != 0x04:
        raise PushAddressError(
            "address.keys.p256dh", "expected an uncompressed P-256 point (first byte 0x04)"
        )
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError as exc:
        raise PushAddressError("address.keys.p256dh", "not a point on the P-256 curve") from exc
    auth = _b64url(keys.get("auth"), "address.keys.auth", AUTH_SECRET_BYTES)
    expiration = address.get("expirationTime")
    if expiration is not None and (
        isinstance(expiration, bool) or not isinstance(expiration, int) or expiration < 0
    ):
        raise PushAddressError(
            "address.expirationTime", "expected null or epoch milliseconds (an integer)"
        )
    canonical = {
        "endpoint": endpoint,
        "expirationTime": expiration,
        "keys": {"auth": _b64(auth), "p256dh": _b64(p256dh)},
    }
    return orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS).decode(), endpoint


def _endpoint(value: Any) -> str:
    field = "address.endpoint"
    if not isinstance(value, str) or not value:
        raise PushAddressError(field, "expected the subscription's https endpoint URL")
    if len(value) > MAX_ENDPOINT:
        raise PushAddressError(field, f"endpoints are at most {MAX_ENDPOINT} characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise PushAddressError(field, "not a valid URL") from exc
    private_ok = _private_endpoints["allowed"]
    if parts.scheme not in (("https", "http") if private_ok else ("https",)) or not host:
        raise PushAddressError(field, "expected an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise PushAddressError(field, "endpoints carry no credentials")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        raise PushAddressError(field, "endpoints contain no whitespace or control characters")
    # Push services are public hosts; an internal one would turn sends into SSRF. (The
    # dispatcher still checks resolved addresses: a name can point anywhere.)
    internal = host == "localhost" or host.endswith(".localhost") or _is_internal_ip(host)
    if internal and not private_ok:
        raise PushAddressError(field, "endpoints must be public push-service hosts")
    return value


def _is_internal_ip(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not ip.is_global


def _b64url(value: Any, field: str, size: int) -> bytes:
    if not isinstance(value, str) or not BASE64URL_RE.fullmatch(value):
        raise PushAddressError(field, f"expected base64url text of {size} bytes")
    bare = value.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PushAddressError(field, f"expected base64url text of {size} bytes") from exc
    if len(raw) != size:
        raise PushAddressError(field, f"decodes to {len(raw)} bytes; expected {size}")
    return raw


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
