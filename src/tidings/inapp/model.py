"""The values the decision reads: a campaign's spec, one past showing, the budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Return:
    """Dismissed-without-completing may return after `after_days`, at most `max_returns`."""

    after_days: float
    max_returns: int


@dataclass(frozen=True, slots=True)
class Spec:
    """What the decision needs to know about one campaign."""

    campaign_id: int
    format: str
    status: str
    priority: int = 100
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    max_impressions: int = 1
    per_days: float | None = None
    reeligible_after_days: float | None = None
    until_completed: Return | None = None
    exempt_from_budget: bool = False
    display_hours: tuple[int, int] | None = None
    variants: tuple[tuple[str, int], ...] = (("a", 1),)
    control_weight: int = 0
    # Once set, traffic goes to this variant (experiments.assignment).
    winner: str | None = None


@dataclass(frozen=True, slots=True)
class Shown:
    """One past occurrence of a message to this user (any channel)."""

    campaign_id: int
    occurrence: int
    channel: str
    displayed_at: datetime | None
    dismissed_at: datetime | None = None
    completed_at: datetime | None = None
    session_id: str | None = None
    # The arm recorded on this occurrence ("control": a logged holdout exposure, never
    # displayed); the first one is the user's sticky arm.
    variant: str = ""


@dataclass(frozen=True, slots=True)
class Budget:
    """App-wide attention budget; None means no limit."""

    max_inapp_per_session: int | None = 1
    max_per_day: int | None = 3
    min_gap_seconds: int = 30


@dataclass(frozen=True, slots=True)
class Verdict:
    """Eligible or not, the first reason why not, and (when eligible) what to show."""

    campaign_id: int
    eligible: bool
    reason: str
    detail: str = ""
    variant: str | None = None
    occurrence: int = 1
