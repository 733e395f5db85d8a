"""Per-key rate limiting for the API (`/v1/...`): 429 `rate_limited` with `Retry-After`.

Requests are counted per API key: the `Authorization` header is hashed with a per-process
random key (keys never sit in memory in clear, and the digests are useless elsewhere);
requests without one are counted per client address. Health, readiness and metrics
routes live outside `/v1/` and are never limited.

The seam for a shared store (Redis, a later issue) is the `Limiter` protocol: anything
with `async acquire(key) -> seconds to wait` plugs into `RateLimitMiddleware(limiter=...)`.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from tidings.config import Settings
from tidings.ops.responses import send_error
from tidings.ops.tokenbucket import TokenBuckets

LIMITED_PREFIX = "/v1/"


class Limiter(Protocol):
    """Decides whether a request under `key` may proceed."""

    async def acquire(self, key: bytes) -> float:
        """0.0 to proceed, else the seconds until the caller may retry."""
        ...


class MemoryLimiter:
    """Token buckets in this process's memory: right for one API node."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.buckets = TokenBuckets(rate, burst, max_keys=max_keys)

    async def acquire(self, key: bytes) -> float:
        return self.buckets.take(key)


def retry_after_header(wait: float) -> bytes:
    """Whole seconds, at least 1, never less than the real wait."""
    return str(max(1, math.ceil(wait))).encode()


class RateLimitMiddleware:
    """ASGI middleware; `rate_limit_per_second = 0` turns it into a pass-through."""

    def __init__(self, app: ASGIApp, settings: Settings, limiter: Limiter | None = None) -> None:
        self.app = app
        if limiter is None and settings.rate_limit_per_second > 0:
            limiter = MemoryLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.limiter = limiter
        self._salt = os.urandom(16)

    def _key(self, scope: Scope) -> bytes:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hashlib.blake2b(value, digest_size=16, key=self._salt).digest()
        client = scope.get("client")
        host = client[0] if client else "unknown"
        return b"addr:" + host.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.limiter is None
            or scope["type"] != "http"
            or not scope["path"].startswith(LIMITED_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        wait = await self.limiter.acquire(self._key(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = retry_after_header(wait)
        await send_error(
            send,
            429,
            "rate_limited",
            f"too many requests for this API key; retry in {retry_after.decode()} s",
            "authorization",
            [(b"retry-after", retry_after)],
        )
