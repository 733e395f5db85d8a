"""Web Push: VAPID (RFC 8292) signing, aes128gcm (RFC 8291) encryption and the send.

Answers: 201/200/202 delivered; 404/410 subscription gone; 429/5xx retry after
Retry-After; other 4xx rejected without retry.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tidings.clock import Clock
from tidings.delivery.payloads import WEBPUSH_LIMIT
from tidings.delivery.providers.base import Delivered, Outcome, Rejected, Retry, retry_after_seconds
from tidings.delivery.providers.http1 import Http1Pool, Lease, Reply

RECORD_SIZE = 4096
URGENCIES = ("very-low", "low", "normal", "high")
VAPID_LIFETIME = timedelta(hours=12)  # RFC 8292 allows up to 24 h
VAPID_RENEW_BEFORE = timedelta(hours=1)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


@dataclass(frozen=True)
class VapidKeys:
    """An application server's key pair: PEM private key and the base64url public key
    browsers take as `applicationServerKey`."""

    private_pem: str
    public_key: str


def generate_vapid_keys() -> VapidKeys:
    """A fresh P-256 key pair for one app."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return VapidKeys(pem, b64u(_public_bytes(key.public_key())))


def load_vapid_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """Load and check a P-256 private key; ValueError with a plain reason otherwise."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("VAPID keys must be P-256 (prime256v1) EC keys")
    return key


def encrypt(
    plaintext: bytes,
    p256dh: str,
    auth: str,
    *,
    salt: bytes | None = None,
    server_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """RFC 8291 aes128gcm body for one subscription; `salt`/`server_key` only for tests."""
    if len(plaintext) > WEBPUSH_LIMIT:
        raise ValueError(f"plaintext is {len(plaintext)} bytes; the limit is {WEBPUSH_LIMIT}")
    ua_public_bytes = unb64u(p256dh)
    ua_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public_bytes)
    server_key = server_key or ec.generate_private_key(ec.SECP256R1())
    as_public_bytes = _public_bytes(server_key.public_key())
    salt = salt or os.urandom(16)
    shared = server_key.exchange(ec.ECDH(), ua_public)
    ikm = _hkdf(unb64u(auth), shared, b"WebPush: info\0" + ua_public_bytes + as_public_bytes, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\0", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\0", 12)
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public_bytes)) + as_public_bytes
    return header + ciphertext


def decrypt(body: bytes, ua_private: ec.EllipticCurvePrivateKey, auth: str) -> bytes:
    """Inverse of `encrypt` for the subscription's side (fakes and tests)."""
    salt, (rs, idlen) = body[:16], struct.unpack("!IB", body[16:21])
    as_public_bytes = body[21 : 21 + idlen]
    ciphertext = body[21 + idlen :]
    if len(ciphertext) > rs:
        raise ValueError("more than one record")
    as_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public_bytes)
    ua_public_bytes = _public_bytes(ua_private.public_key())
    shared = ua_private.exchange(ec.ECDH(), as_public)
    ikm = _hkdf(unb64u(auth), shared, b"WebPush: info\0" + ua_public_bytes + as_public_bytes, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\0", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\0", 12)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    plain = padded.rstrip(b"\x00")
    if not plain.endswith(b"\x02"):
        raise ValueError("bad record delimiter")
    return plain[:-1]


def audience(endpoint: str) -> str:
    """The origin of a push endpoint: the VAPID `aud` claim."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class VapidSigner:
    """Signs VAPID JWTs, reusing one per audience until it is within an hour of expiry."""

    def __init__(self, private_pem: str, subject: str, clock: Clock) -> None:
        self._key = load_vapid_private_key(private_pem)
        self.public_key = b64u(_public_bytes(self._key.public_key()))
        self._subject = subject
        self._clock = clock
        self._cache: dict[str, tuple[str, datetime]] = {}
        self.mints = 0

    def authorization(self, aud: str) -> str:
        """The `Authorization: vapid t=…, k=…` header value for `aud`."""
        now = self._clock.now()
        cached = self._cache.get(aud)
        if cached is None or cached[1] - now < VAPID_RENEW_BEFORE:
            exp = now + VAPID_LIFETIME
            claims = {"aud": aud, "exp": int(exp.timestamp()), "sub": self._subject}
            token = jwt.encode(claims, self._key, algorithm="ES256", headers={"typ": "JWT"})
            cached = (token, exp)
            self._cache[aud] = cached
            self.mints += 1
        return f"vapid t={cached[0]}, k={self.public_key}"


@dataclass(frozen=True)
class Subscription:
    """A browser's PushSubscription: endpoint plus its `p256dh` and `auth` keys."""

    endpoint: str
    p256dh: str
    auth: str

    @classmethod
    def from_json(cls, text: str) -> Subscription:
        """Parse the JSON a browser's `subscription.toJSON()` gives; ValueError if not."""
        try:
            raw: Any = json.loads(text)
            return cls(raw["endpoint"], raw["keys"]["p256dh"], raw["keys"]["auth"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("not a Web Push subscription") from exc


class WebPushSender:
    """Encrypts, signs and posts one message per call over a shared client: an
    `Http1Pool` (leanest) or any httpx.AsyncClient."""

    def __init__(
        self, client: Http1Pool | httpx.AsyncClient, signer: VapidSigner, clock: Clock
    ) -> None:
        self._client = client
        self._signer = signer
        self._clock = clock

    async def send(
        self,
        subscription: Subscription,
        plaintext: bytes,
        *,
        ttl: int = 86_400,
        urgency: str = "normal",
        topic: str | None = None,
        lease: Lease | None = None,
    ) -> Outcome:
        if len(plaintext) > WEBPUSH_LIMIT:
            return Rejected(f"payload is {len(plaintext)} bytes; the limit is {WEBPUSH_LIMIT}")
        if urgency not in URGENCIES:
            return Rejected(f"urgency must be one of {', '.join(URGENCIES)}")
        try:
            body = encrypt(plaintext, subscription.p256dh, subscription.auth)
        except ValueError:
            return Rejected("subscription keys are not valid P-256 keys", token_invalid=True)
        headers = {
            "TTL": str(ttl),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self._signer.authorization(audience(subscription.endpoint)),
        }
        if topic:
            headers["Topic"] = topic
        try:
            if isinstance(self._client, Http1Pool):
                reply = await self._client.post(subscription.endpoint, body, headers, lease=lease)
            else:
                resp = await self._client.post(subscription.endpoint, content=body, headers=headers)
                reply = Reply(resp.status_code, dict(resp.headers), resp.content)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            return Retry(30.0, f"push service unreachable: {type(exc).__name__}")
        return _outcome(reply, self._clock.now())


def _outcome(resp: Reply, now: datetime) -> Outcome:
    status = resp.status
    if status in (200, 201, 202):
        return Delivered(resp.headers.get("location", ""))
    reason = f"{status} {resp.body[:200].decode('utf-8', 'replace')}".strip()
    if status in (404, 410):
        return Rejected(reason, token_invalid=True)
    if status == 429 or status >= 500:
        default = 60.0 if status == 429 else 10.0
        return Retry(
            retry_after_seconds(resp.headers.get("retry-after"), now=now, default=default), reason
        )
    return Rejected(reason)
