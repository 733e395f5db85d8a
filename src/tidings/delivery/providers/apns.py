"""APNs over HTTP/2 with token auth (ES256 provider JWT from a .p8 key).

The JWT is reused for `token_ttl` (30 min; Apple wants 20 to 60) and re-minted at once on
403 ExpiredProviderToken. 200 is headers only; 410 and BadDeviceToken invalidate the
token; 429/5xx retry; other 4xx are rejected without retry.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.clock import Clock
from tidings.delivery.payloads import APNS_LIMIT
from tidings.delivery.providers.base import (
    Delivered,
    Outcome,
    Rejected,
    Retry,
    http_client,
    retry_after_seconds,
)

PRODUCTION = "https://api.push.apple.com"
SANDBOX = "https://api.sandbox.push.apple.com"
PUSH_TYPES = ("alert", "background", "location", "voip", "complication", "fileprovider", "mdm")
INVALID_TOKEN_REASONS = ("BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered")


def load_p8(pem: str) -> ec.EllipticCurvePrivateKey:
    """Check a .p8 key; ValueError with a plain reason (never the key) otherwise."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("key is not a PEM-encoded .p8 private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("key must be an APNs .p8 key (EC P-256)")
    return key


class ProviderToken:
    """The provider JWT: minted with the clock's time, reused until `ttl` old."""

    def __init__(
        self,
        key_pem: str,
        key_id: str,
        team_id: str,
        clock: Clock,
        *,
        ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self._key = load_p8(key_pem)
        self._key_id = key_id
        self._team_id = team_id
        self._clock = clock
        self._ttl = ttl
        self._token: str | None = None
        self._minted: datetime | None = None
        self.mints = 0

    def current(self) -> str:
        now = self._clock.now()
        if self._token is None or self._minted is None or now - self._minted >= self._ttl:
            self.remint()
        assert self._token is not None
        return self._token

    def remint(self) -> None:
        now = self._clock.now()
        claims = {"iss": self._team_id, "iat": int(now.timestamp())}
        self._token = jwt.encode(
            claims, self._key, algorithm="ES256", headers={"kid": self._key_id}
        )
        self._minted = now
        self.mints += 1


@dataclass(frozen=True)
class ApnsRequest:
    """Per-notification headers; `expiration` None lets APNs store per its policy."""

    push_type: str = "alert"
    priority: int = 10
    expiration: datetime | None = None
    collapse_id: str | None = None


def http2_client(**kwargs: Any) -> httpx.AsyncClient:
    """An HTTP/2-only client (prior knowledge, so a cleartext fake works too)."""
    return http_client(http2=True, **kwargs)


class ApnsSender:
    """Sends to one topic (bundle id) over a shared HTTP/2 client."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        token: ProviderToken,
        topic: str,
        clock: Clock,
        *,
        base_url: str = PRODUCTION,
    ) -> None:
        self._client = client
        self._token = token
        self._topic = topic
        self._clock = clock
        self._base = base_url
        self._remint_lock = asyncio.Lock()

    async def send(self, device_token: str, payload: bytes, req: ApnsRequest) -> Outcome:
        if len(payload) > APNS_LIMIT:
            return Rejected(f"payload is {len(payload)} bytes; the limit is {APNS_LIMIT}")
        if req.push_type not in PUSH_TYPES:
            return Rejected(f"apns-push-type must be one of {', '.join(PUSH_TYPES)}")
        for _ in range(2):
            sent_with = self._token.current()
            outcome = await self._post(device_token, payload, req, sent_with)
            if not (isinstance(outcome, Retry) and outcome.reason == "403 ExpiredProviderToken"):
                return outcome
            async with self._remint_lock:
                if self._token.current() == sent_with:  # not already re-minted by another send
                    self._token.remint()
        return outcome

    async def _post(self, device: str, payload: bytes, req: ApnsRequest, bearer: str) -> Outcome:
        headers = {
            "authorization": f"bearer {bearer}",
            "apns-push-type": req.push_type,
            "apns-priority": str(req.priority),
            "apns-topic": self._topic,
        }
        if req.expiration is not None:
            headers["apns-expiration"] = str(int(req.expiration.timestamp()))
        if req.collapse_id:
            headers["apns-collapse-id"] = req.collapse_id
        try:
            resp = await self._client.post(
                f"{self._base}/3/device/{device}", content=payload, headers=headers
            )
        except httpx.HTTPError as exc:
            return Retry(10.0, f"APNs unreachable: {type(exc).__name__}")
        if resp.status_code == 200:
            return Delivered(resp.headers.get("apns-id", ""))
        body = _json(resp.content)
        reason = f"{resp.status_code} {body.get('reason', '')}".strip()
        status, why = resp.status_code, str(body.get("reason", ""))
        now = self._clock.now()
        if status == 410:
            ts = body.get("timestamp")
            since = datetime.fromtimestamp(ts / 1000, UTC) if isinstance(ts, int | float) else None
            return Rejected(reason, token_invalid=True, invalid_since=since)
        if why in INVALID_TOKEN_REASONS:
            return Rejected(reason, token_invalid=True)
        if status == 403 and why == "ExpiredProviderToken":
            return Retry(0.0, reason)
        if status == 429 or status >= 500:
            after = retry_after_seconds(resp.headers.get("retry-after"), now=now, default=60.0)
            return Retry(after, reason)
        return Rejected(reason)


def _json(content: bytes) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
