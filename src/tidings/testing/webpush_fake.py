"""A Web Push service on loopback that behaves like a real one (RFC 8030/8291/8292).

It hands out subscriptions (`subscribe()`), checks each request's TTL, Urgency, Topic and
VAPID JWT, decrypts the aes128gcm body with the subscription's private key, and records
what arrived in `received`. Failures, slowness and gone subscriptions are scriptable:

    with WebPushFake() as fake:
        sub = fake.subscribe()
        fake.script.inject(429, retry_after="7")
        fake.script.gone.add(sub.endpoint)
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidings.delivery.providers.webpush import (
    URGENCIES,
    Subscription,
    _public_bytes,
    audience,
    b64u,
    decrypt,
    unb64u,
)
from tidings.testing._serve import AsgiThread, FaultScript

TOPIC_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class PushReceived:
    """One accepted message: which subscription, the decrypted plaintext, the headers."""

    endpoint: str
    plaintext: bytes
    ttl: int
    urgency: str
    topic: str | None
    vapid_key: str


@dataclass
class _Sub:
    private: ec.EllipticCurvePrivateKey
    auth: str
    server_key: str | None


@dataclass
class WebPushFake:
    """Start with `with WebPushFake() as fake:`; `fake.url` is its origin."""

    script: FaultScript = field(default_factory=FaultScript)
    received: list[PushReceived] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    _subs: dict[str, _Sub] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/push/{sub_id}", self._push, methods=["POST"])])
        self._server = AsgiThread(app, "webpush-fake")
        self.url = self._server.url

    def __enter__(self) -> WebPushFake:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def subscribe(self, application_server_key: str | None = None) -> Subscription:
        """A new browser subscription; with `application_server_key`, VAPID `k` must match."""
        private = ec.generate_private_key(ec.SECP256R1())
        auth = b64u(os.urandom(16))
        endpoint = f"{self.url}/push/{b64u(os.urandom(12))}"
        with self._lock:
            self._subs[endpoint] = _Sub(private, auth, application_server_key)
        return Subscription(endpoint, b64u(_public_bytes(private.public_key())), auth)

    def received_by(self, endpoint: str) -> list[PushReceived]:
        return [r for r in self.received if r.endpoint == endpoint]

    def _refuse(self, status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
        self.rejected.append((status, reason))
        return JSONResponse({"reason": reason}, status_code=status, headers=headers)

    async def _push(self, request: Request) -> Response:
        endpoint = f"{self.url}{request.url.path}"
        if self.script.delay:
            await asyncio.sleep(self.script.delay)
        injected = self.script.take(endpoint)
        if injected is not None:
            headers = {"Retry-After": injected.retry_after} if injected.retry_after else None
            return self._refuse(injected.status, injected.reason or "injected", headers)
        sub = self._subs.get(endpoint)
        if sub is None or endpoint in self.script.gone:
            return self._refuse(410, "subscription gone")
        return self._check(request, endpoint, sub, await request.body())

    def _check(self, request: Request, endpoint: str, sub: _Sub, body: bytes) -> Response:
        h = request.headers
        ttl = h.get("ttl", "")
        if not ttl.isdigit():
            return self._refuse(400, "missing or bad TTL")
        urgency = h.get("urgency", "normal")
        if urgency not in URGENCIES:
            return self._refuse(400, "bad Urgency")
        topic = h.get("topic")
        if topic is not None and (len(topic) > 32 or not set(topic) <= TOPIC_CHARS):
            return self._refuse(400, "bad Topic")
        if h.get("content-encoding") != "aes128gcm":
            return self._refuse(400, "Content-Encoding must be aes128gcm")
        vapid = self._vapid(h.get("authorization", ""), audience(endpoint), sub)
        if isinstance(vapid, Response):
            return vapid
        if len(body) > 4096:
            return self._refuse(413, "payload too large")
        try:
            plaintext = decrypt(body, sub.private, sub.auth)
        except Exception:  # any decryption failure is the sender's bug: 400
            return self._refuse(400, "cannot decrypt payload")
        self.received.append(PushReceived(endpoint, plaintext, int(ttl), urgency, topic, vapid))
        location = f"{self.url}/m/{b64u(os.urandom(9))}"
        return Response(status_code=201, headers={"Location": location, "TTL": ttl})

    def _vapid(self, header: str, aud: str, sub: _Sub) -> str | Response:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            return self._refuse(401, "missing VAPID authorization")
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        token, key = parts.get("t", ""), parts.get("k", "")
        if sub.server_key is not None and key != sub.server_key:
            return self._refuse(403, "VAPID key does not match the subscription")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(key))
            claims: dict[str, Any] = jwt.decode(
                token, public, algorithms=["ES256"], audience=aud, options={"require": ["exp"]}
            )
        except (ValueError, jwt.PyJWTError) as exc:
            return self._refuse(401, f"bad VAPID JWT: {exc}")
        if claims["exp"] > time.time() + 86_400 + 60:
            return self._refuse(401, "VAPID exp more than 24 h ahead")
        return key
