"""Token buckets per key, pure: time comes from an injected function, nothing else is read.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request
takes one. A bucket left alone for `burst / rate` seconds is full again, which is exactly
a fresh bucket, so idle buckets are dropped without changing any answer. A hard cap on
the number of buckets bounds memory even under a flood of distinct keys.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """`take(key)` answers 0.0 when allowed, else the seconds until a token is available."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        now: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be > 0, burst >= 1 and max_keys >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._now = now
        self._refill_seconds = self.burst / self.rate
        # Least recently used first: the front is always the idlest bucket.
        self._buckets: OrderedDict[bytes, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: bytes, cost: float = 1.0) -> float:
        """Spend `cost` tokens from `key`'s bucket if it has them; see the class docstring."""
        now = self._now()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[key] = bucket
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            wait = 0.0
        else:
            wait = (cost - bucket.tokens) / self.rate
        self._evict(now)
        return wait

    def _evict(self, now: float) -> None:
        """Drop buckets that refilled completely, then the idlest ones beyond `max_keys`."""
        buckets = self._buckets
        while buckets:
            key, oldest = next(iter(buckets.items()))
            full_at = oldest.updated + (self.burst - oldest.tokens) / self.rate
            if full_at > now and len(buckets) <= self.max_keys:
                return
            del buckets[key]
