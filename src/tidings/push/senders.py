"""The app's provider senders, built from its sealed credentials and kept per process:
connections stay open and JWTs/OAuth tokens are reused across jobs. A credential change
(its `updated_at`) builds a new sender."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import httpx
from sqlalchemy import select

from tidings.clock import Clock
from tidings.context import AppContext
from tidings.delivery import payloads
from tidings.delivery.models import PushCredential
from tidings.delivery.providers import apns, fcm, mqtt, webpush
from tidings.delivery.providers.base import Outcome, Rejected, Retry
from tidings.delivery.providers.http1 import Http1Pool, Lease
from tidings.devices import push_address

CONNECTIONS = 128  # keep-alive connections (and sends in flight) per provider origin
# Placeholders of a prepared FCM body; random so no message text can hold them.
_TOKEN = f"@@{secrets.token_hex(8)}@@"
_ID = f"@@{secrets.token_hex(8)}@@"
_SAFE = re.compile(r"[A-Za-z0-9_\-:.]+")


@dataclass
class Sender:
    """One provider's sender for one app, behind one `send` signature."""

    provider: str
    to_fcm: fcm.FcmSender | None = None
    to_apns: apns.ApnsSender | None = None
    to_webpush: webpush.WebPushSender | None = None
    closer: Http1Pool | httpx.AsyncClient | None = None
    to_mqtt: mqtt.MqttSender | None = None
    mqtt_client: aiomqtt.Client | None = None
    broken: bool = False  # the MQTT connection failed: build a new sender next time
    tokens: fcm.AccessTokens | None = None
    _slots: asyncio.Semaphore | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        """Sends in flight at once through this sender, every job of the process together:
        taken before a delivery is marked, so nothing waits between the mark and the wire."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(CONNECTIONS)
        return self._slots

    async def ready(self) -> None:
        """Refresh what a send may need (an OAuth token) before a delivery is marked."""
        if self.tokens is not None:
            await self.tokens.get()

    async def aclose(self) -> None:
        if self.closer is not None:
            await self.closer.aclose()
        if self.mqtt_client is not None:
            with contextlib.suppress(Exception):
                await self.mqtt_client.__aexit__(None, None, None)

    async def send_device(
        self, client_id: str, payload: dict[str, Any], delivery_id: int, ttl: int | None
    ) -> Outcome:
        """An in-device message: QoS 1 to the device's topic; `message_id` is the delivery
        id (the device acks with it)."""
        assert self.to_mqtt is not None
        outcome = await self.to_mqtt.send(client_id, str(delivery_id), payload, expiry=ttl)
        if isinstance(outcome, Retry):
            self.broken = True
        return outcome

    def prepare(self, content: payloads.PushContent) -> bytes | None:
        """FCM: the body encoded once per message with placeholders for the token and the
        delivery id, so each device only splices them in (None for other providers)."""
        if self.to_fcm is None:
            return None
        marked = replace(content, data={**content.data, "tidings_id": _ID})
        try:
            return payloads.fcm_message(marked, _TOKEN)
        except payloads.PayloadTooLarge:
            return None

    async def send_one(
        self,
        address: str,
        content: payloads.PushContent,
        delivery_id: int,
        now: datetime,
        prepared: bytes | None = None,
        lease: Lease | None = None,
    ) -> Outcome:
        """Send `content` with `data.tidings_id` = the delivery id (for open tracking),
        over `lease` when given (returned unused if the send never posts)."""
        tag = str(delivery_id)
        try:
            body = self.fcm_body(prepared, address, delivery_id)
            if body is not None and self.to_fcm is not None:
                return await self.to_fcm.send(body, lease=lease)
            tagged = replace(content, data={**content.data, "tidings_id": tag})
            return await self.send(address, tagged, now, lease=lease)
        finally:
            if lease is not None:
                self.give_back(lease)

    def fcm_body(self, prepared: bytes | None, address: str, delivery_id: int) -> bytes | None:
        """The FCM body from a prepared one: token and delivery id spliced in (None when
        it does not apply: another provider, an unusual token, or over the size limit)."""
        if prepared is None or self.to_fcm is None or not _SAFE.fullmatch(address):
            return None
        tag = str(delivery_id)
        if len(prepared) - len(_TOKEN) - len(_ID) + len(address) + len(tag) > payloads.FCM_LIMIT:
            return None
        body = prepared.replace(_TOKEN.encode(), address.encode(), 1)
        return body.replace(_ID.encode(), tag.encode(), 1)

    @property
    def batches_fcm(self) -> bool:
        """Whether FCM requests can go out in waves (`fcm_leases` … `fcm_send_staged`)."""
        return self.to_fcm is not None and isinstance(self.closer, Http1Pool)

    def fcm_request(
        self,
        content: payloads.PushContent,
        prepared: bytes | None,
        address: str,
        delivery_id: int,
    ) -> bytes | None:
        """The encoded FCM body for one device (None when over the size limit)."""
        body = self.fcm_body(prepared, address, delivery_id)
        if body is not None:
            return body
        tagged = replace(content, data={**content.data, "tidings_id": str(delivery_id)})
        try:
            return payloads.fcm_message(tagged, address)
        except payloads.PayloadTooLarge:
            return None

    async def fcm_leases(self, most: int) -> list[Lease]:
        """1 to `most` FCM connections, as many as are free now (OSError/TimeoutError when
        none can be made)."""
        assert self.to_fcm is not None and isinstance(self.closer, Http1Pool)
        return await self.closer.leases(self.to_fcm.url, most)

    async def fcm_stage(self, staged: list[tuple[Lease, bytes]]) -> None:
        """Encode each request on its lease (GoogleAuthError without an OAuth token)."""
        assert self.to_fcm is not None and isinstance(self.closer, Http1Pool)
        headers = await self.to_fcm.headers()
        for lease, body in staged:
            self.closer.stage(lease, self.to_fcm.url, body, headers)

    async def fcm_send_staged(self, leases: list[Lease]) -> list[Outcome]:
        """Write every staged request now; their outcomes, in order."""
        assert self.to_fcm is not None
        return await self.to_fcm.send_staged(leases)

    async def stage(self, lease: Lease, body: bytes) -> None:
        """Encode an FCM request on the lease before the delivery is marked."""
        if self.to_fcm is not None:
            await self.to_fcm.stage(body, lease)

    async def lease(self, address: str) -> Lease | None:
        """A connection for the coming send, taken before the delivery is marked (FCM and
        Web Push); None when there is nothing to take or it cannot connect now."""
        if not isinstance(self.closer, Http1Pool):
            return None
        if self.to_fcm is not None:
            url = self.to_fcm.url
        else:
            try:
                url = webpush.Subscription.from_json(address).endpoint
            except ValueError:
                return None
            if not await _public_endpoint(url):
                return None  # never connect to a private host
        try:
            return await self.closer.lease(url)
        except (OSError, TimeoutError):
            return None  # the send itself reports the fault (a retry)

    def give_back(self, lease: Lease) -> None:
        if isinstance(self.closer, Http1Pool):
            self.closer.give_back(lease)

    async def send(
        self,
        address: str,
        content: payloads.PushContent,
        now: datetime,
        *,
        lease: Lease | None = None,
    ) -> Outcome:
        try:
            if self.to_fcm is not None:
                return await self.to_fcm.send(payloads.fcm_message(content, address), lease=lease)
            if self.to_apns is not None:
                expiration = (
                    now + timedelta(seconds=content.ttl_seconds)
                    if content.ttl_seconds is not None
                    else None
                )
                req = apns.ApnsRequest(
                    push_type="alert" if content.title or content.body else "background",
                    priority=10 if content.title or content.body else 5,
                    expiration=expiration,
                    collapse_id=content.collapse_key,
                )
                return await self.to_apns.send(address, payloads.apns_payload(content), req)
            assert self.to_webpush is not None
            try:
                sub = webpush.Subscription.from_json(address)
            except ValueError:
                return Rejected("not a Web Push subscription", token_invalid=True)
            if not await _public_endpoint(sub.endpoint):
                return Rejected("endpoint resolves to a private address", token_invalid=True)
            return await self.to_webpush.send(
                sub,
                payloads.webpush_payload(content),
                ttl=content.ttl_seconds if content.ttl_seconds is not None else 86_400,
                urgency="high" if content.high_priority else "normal",
                topic=_topic(content.collapse_key),
                lease=lease,
            )
        except payloads.PayloadTooLarge as exc:
            return Rejected(str(exc))


_resolved: dict[str, tuple[float, bool]] = {}
RESOLVE_TTL = 300.0


async def _public_endpoint(endpoint: str) -> bool:
    """Whether the endpoint's host resolves only to public addresses (a subscription is
    client input: a name can point anywhere). Answers are cached for RESOLVE_TTL."""
    if push_address.private_endpoints_allowed():
        return True
    host = urlsplit(endpoint).hostname or ""
    loop = asyncio.get_running_loop()
    cached = _resolved.get(host)
    if cached is not None and cached[0] > loop.time():
        return cached[1]
    try:
        infos = await loop.getaddrinfo(host, None)
        public = bool(infos) and all(
            ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_global for info in infos
        )
    except (OSError, ValueError):
        public = False
    _resolved[host] = (loop.time() + RESOLVE_TTL, public)
    return public


def _topic(key: str | None) -> str | None:
    if not key:
        return None
    clean = "".join(ch for ch in key if ch.isalnum() or ch in "-_")[:32]
    return clean or None


async def _mqtt(secret: dict[str, Any], app_id: int) -> Sender:
    """A connected MQTT client; device topics are `tidings/{app id}/devices/{client id}/…`."""
    client = mqtt.MqttSender.client(
        str(secret["host"]),
        int(secret.get("port") or 1883),
        username=secret.get("username"),
        password=secret.get("password"),
    )
    await client.__aenter__()
    return Sender("mqtt", to_mqtt=mqtt.MqttSender(client, str(app_id)), mqtt_client=client)


def _build(provider: str, secret: dict[str, object], clock: Clock) -> Sender:
    if provider == "fcm":
        pool = Http1Pool(per_origin=CONNECTIONS)
        tokens = fcm.AccessTokens(dict(secret), clock)
        base = str(secret.get("api_url") or fcm.FCM_URL)
        fcm_sender = fcm.FcmSender(pool, tokens, clock, base_url=base)
        return Sender(provider, to_fcm=fcm_sender, closer=pool, tokens=tokens)
    if provider == "apns":
        client = apns.http2_client()
        token = apns.ProviderToken(
            str(secret["key"]), str(secret["key_id"]), str(secret["team_id"]), clock
        )
        default = apns.SANDBOX if secret.get("environment") == "sandbox" else apns.PRODUCTION
        base = str(secret.get("api_url") or default)
        sender = apns.ApnsSender(client, token, str(secret["topic"]), clock, base_url=base)
        return Sender(provider, to_apns=sender, closer=client)
    pool = Http1Pool(per_origin=CONNECTIONS)
    signer = webpush.VapidSigner(str(secret["private_key"]), str(secret["subject"]), clock)
    return Sender(provider, to_webpush=webpush.WebPushSender(pool, signer, clock), closer=pool)


_cache: dict[tuple[int, int, str], tuple[datetime, Sender]] = {}
_locks: dict[int, asyncio.Lock] = {}  # per event loop: a lock is bound to the loop using it


def _lock() -> asyncio.Lock:
    return _locks.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())


async def sender_for(ctx: AppContext, app_id: int, provider: str) -> Sender | None:
    """The app's sender for `provider`, or None when it has no credentials for it."""
    async with ctx.db.read() as s:
        row = (
            await s.execute(
                select(PushCredential.sealed, PushCredential.updated_at).where(
                    PushCredential.app_id == app_id, PushCredential.provider == provider
                )
            )
        ).first()
    if row is None:
        return None
    key = (id(ctx.db), app_id, provider)
    cached = _cache.get(key)
    if cached is not None and cached[0] == row.updated_at and not cached[1].broken:
        return cached[1]
    async with _lock():
        cached = _cache.get(key)
        if cached is not None and cached[0] == row.updated_at and not cached[1].broken:
            return cached[1]
        secret = json.loads(ctx.box.open(row.sealed))
        if provider == "mqtt":
            sender = await _mqtt(secret, app_id)
        else:
            sender = await asyncio.to_thread(_build, provider, secret, ctx.clock)
        _cache[key] = (row.updated_at, sender)
        if cached is not None:
            await cached[1].aclose()
        return sender


async def close_senders(ctx: AppContext) -> None:
    """Close the connections of every cached sender of this context's database."""
    for key in [k for k in _cache if k[0] == id(ctx.db)]:
        _, sender = _cache.pop(key)
        await sender.aclose()
