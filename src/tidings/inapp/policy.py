"""Each check is one function: None when it passes, else (reason, detail)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidings.experiments import assignment
from tidings.inapp.model import Budget, Shown, Spec

Failure = tuple[str, str] | None
CONTROL = assignment.CONTROL


def schedule(spec: Spec, now: datetime) -> Failure:
    if spec.status != "active":
        return "not_active", f"the campaign is {spec.status}"
    if spec.starts_at is not None and now < spec.starts_at:
        return "not_started", f"starts at {spec.starts_at.isoformat()}"
    if spec.ends_at is not None and now >= spec.ends_at:
        return "ended", f"ended at {spec.ends_at.isoformat()}"
    return None


def cap(spec: Spec, mine: Sequence[Shown], now: datetime) -> Failure:
    """Per-campaign cap, re-eligibility and completion-aware return for one user."""
    shown = [s for s in mine if s.displayed_at is not None]
    if not shown:
        return None
    last = max(s.displayed_at for s in shown if s.displayed_at is not None)
    if spec.until_completed is not None:
        if any(s.completed_at is not None for s in shown):
            return "completed", "answered or completed: never shown again"
        if len(shown) > spec.until_completed.max_returns:
            return "returns_exhausted", f"came back {spec.until_completed.max_returns} time(s)"
        back = last + timedelta(days=spec.until_completed.after_days)
        if now < back:
            return "not_yet_reeligible", f"may return at {back.isoformat()}"
        return None
    window = [
        s
        for s in shown
        if spec.per_days is None
        or (s.displayed_at is not None and s.displayed_at > now - timedelta(days=spec.per_days))
    ]
    if len(window) >= spec.max_impressions:
        per = "ever" if spec.per_days is None else f"per {spec.per_days:g} day(s)"
        return "capped", f"{len(window)} of {spec.max_impressions} impression(s) {per}"
    if spec.reeligible_after_days is not None:
        back = last + timedelta(days=spec.reeligible_after_days)
        if now < back:
            return "not_yet_reeligible", f"eligible again at {back.isoformat()}"
    return None


def local_hour(now: datetime, timezone: str | None) -> int:
    """The hour of `now` in the user's timezone (UTC when unknown)."""
    try:
        zone = ZoneInfo(timezone) if timezone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    return now.astimezone(zone).hour if zone else now.hour


def display_hours(spec: Spec, now: datetime, timezone: str | None) -> Failure:
    if spec.display_hours is None:
        return None
    start, end = spec.display_hours
    hour = local_hour(now, timezone)
    inside = start <= hour < end if start <= end else hour >= start or hour < end
    if inside:
        return None
    return "outside_display_hours", f"local hour {hour} is outside {start}:00-{end}:00"


def budget(
    spec: Spec, everything: Sequence[Shown], session_id: str | None, b: Budget, now: datetime
) -> Failure:
    """The app-wide attention budget over every channel's showings; exempt campaigns pass."""
    if spec.exempt_from_budget:
        return None
    return spent(everything, session_id, b, now)


def spent(everything: Sequence[Shown], session_id: str | None, b: Budget, now: datetime) -> Failure:
    """Whether the budget is used up for any campaign it applies to (the same answer for
    every one of them, so a decision asks once)."""
    counted = [s for s in everything if s.displayed_at is not None]
    if not counted:
        return None
    if b.max_inapp_per_session is not None and session_id is not None:
        in_session = sum(1 for s in counted if s.channel == "in_app" and s.session_id == session_id)
        if in_session >= b.max_inapp_per_session:
            return "budget_session", f"{in_session} in-app message(s) this session"
    day_ago = now - timedelta(days=1)
    today = [s for s in counted if s.displayed_at is not None and s.displayed_at > day_ago]
    if b.max_per_day is not None and len(today) >= b.max_per_day:
        return "budget_day", f"{len(today)} message(s) in the last 24 hours"
    if b.min_gap_seconds and today:
        last = max(s.displayed_at for s in today if s.displayed_at is not None)
        if now < last + timedelta(seconds=b.min_gap_seconds):
            return "budget_gap", f"last message at {last.isoformat()}"
    return None


def stored_arm(mine: Sequence[Shown]) -> str | None:
    """The arm the user's first recorded occurrence of a campaign holds, if any."""
    return min(((s.occurrence, s.variant) for s in mine if s.variant), default=(0, None))[1]


def variant(spec: Spec, user_id: int, stored: str | None = None) -> str:
    """A variant key, or CONTROL (the holdout): the user's `stored` arm (from their first
    exposure) if any, the winner once set, else hash(campaign, user) over the weights."""
    return assignment.assign(
        spec.campaign_id,
        user_id,
        spec.variants,
        spec.control_weight,
        stored=stored,
        winner=spec.winner,
    )
