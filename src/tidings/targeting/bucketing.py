"""Stable percentage buckets: hash(seed, user) → 0..9999, the same in Python and SQL.

The bucket is the first 4 bytes of MD5("<seed>:<user id>") as an unsigned integer,
modulo 10,000; a user is in a `p` percent slice when bucket < p x 100. PostgreSQL
computes the same with `md5()`; SQLite gets `bucket` registered.
"""

from __future__ import annotations

from hashlib import md5

BUCKETS = 10_000


def bucket(seed: str, user_id: int) -> int:
    """The user's bucket (0..9999) for this seed."""
    digest = md5(f"{seed}:{user_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


def threshold(percentage: float) -> int:
    """Buckets below this are in the slice (percentage 12.34 → 1234)."""
    return round(percentage * 100)
