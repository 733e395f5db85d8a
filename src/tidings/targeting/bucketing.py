"""Stable percentage buckets: hash(seed, user) -> 0..9999, the same in Python and SQL.

The seed is hashed once (first 4 bytes of its MD5); each user's bucket is that hash
XOR the user id, put through a 32-bit integer mixer (two multiply-xorshift rounds), modulo
10,000. Only integer AND, OR, shifts and multiplication by a 27-bit constant are needed,
so SQLite and PostgreSQL compute the identical bucket in plain SQL (`targeting.sql`), and
a call costs a fraction of a microsecond here. A user is in a `p` percent slice when
bucket < p * 100.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import md5

BUCKETS = 10_000
MASK = 0xFFFFFFFF
MIX = 0x45D9F3B


@lru_cache(maxsize=4096)  # seeds are few (one per campaign or rule); users are many
def seed_hash(seed: str) -> int:
    """The 32-bit hash of a rule's seed."""
    return int.from_bytes(md5(seed.encode(), usedforsecurity=False).digest()[:4], "big")


def mix(h: int) -> int:
    """The bucket (0..9999) of a 32-bit value (seed hash XOR user id)."""
    h = ((h ^ (h >> 16)) * MIX) & MASK
    h = ((h ^ (h >> 16)) * MIX) & MASK
    return (h ^ (h >> 16)) % BUCKETS


def bucket(seed: str, user_id: int) -> int:
    """The user's bucket (0..9999) for this seed."""
    return mix((seed_hash(seed) ^ user_id) & MASK)


def threshold(percentage: float) -> int:
    """Buckets below this are in the slice (percentage 12.34 -> 1234)."""
    return round(percentage * 100)
