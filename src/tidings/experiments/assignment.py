"""Which arm a user is in: sticky, deterministic, and safe to re-weight.

Rules, in order (docs/analytics.md, "Assignment"):
1. A user with a stored arm (the variant on their first exposure's delivery row) keeps it,
   so changing weights later reshuffles nobody already exposed.
2. Once a winner is set, every user not held out sees the winner, exposed or not: the
   experiment is over and the losing arms only cost conversions. Users already in the
   holdout stay there, so long-term lift stays measurable; analysis keeps counting each
   user in the arm of their first exposure.
3. Everyone else is placed by hash(campaign, user) over the current weights: the same
   answer on every device and session, with no storage needed before the first exposure.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from tidings.targeting import bucketing

CONTROL = "control"


@lru_cache(maxsize=65536)
def _seed(campaign_id: int) -> int:
    """`bucketing.seed_hash` of the campaign's seed, kept per id (asked per message)."""
    return bucketing.seed_hash(f"campaign:{campaign_id}")


def by_hash(campaign_id: int, user_id: int, arms: Sequence[tuple[str, int]]) -> str:
    """The arm whose slice of the cumulative weights holds the user's bucket."""
    return _pick(campaign_id, user_id, arms, sum(w for _, w in arms))


def _pick(campaign_id: int, user_id: int, arms: Sequence[tuple[str, int]], total: int) -> str:
    if total <= 0:
        return arms[0][0]
    bucket = bucketing.mix((_seed(campaign_id) ^ user_id) & bucketing.MASK)
    point = bucket * total // bucketing.BUCKETS
    for key, weight in arms:
        if point < weight:
            return key
        point -= weight
    return arms[-1][0]


@lru_cache(maxsize=65536)
def _with_control(
    variants: tuple[tuple[str, int], ...], control_weight: int
) -> tuple[tuple[tuple[str, int], ...], int]:
    """The arms with the holdout last, and their total weight (asked per message)."""
    arms = (*variants, (CONTROL, control_weight))
    return arms, sum(w for _, w in arms)


def assign(
    campaign_id: int,
    user_id: int,
    variants: Sequence[tuple[str, int]],
    control_weight: int,
    *,
    stored: str | None = None,
    winner: str | None = None,
) -> str:
    """A variant key or CONTROL for this user (rules in the module docstring)."""
    if stored == CONTROL:
        return CONTROL
    if winner is not None or stored is not None:
        keys = {k for k, _ in variants}
        if winner is not None and winner in keys:
            return winner
        if stored is not None and stored in keys:
            return stored
    if isinstance(variants, tuple):
        return _pick(campaign_id, user_id, *_with_control(variants, control_weight))
    return by_hash(campaign_id, user_id, [*variants, (CONTROL, control_weight)])
