"""Who gets a push and when (PURE): consent, control group, attention budget, quiet hours
in the user's timezone (held until they end, never dropped) and local send moments.

Time comes in as arguments; nothing here reads the clock or the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidings.experiments import assignment

CONTROL = assignment.CONTROL
QUEUED, SUPPRESSED = "queued", "suppressed"
# A recurring send whose local moment passed more than this long ago is missed, not late.
MISSED_AFTER = timedelta(hours=1)
# Recurring plans start when the first timezone (UTC+14) reaches the local time.
EARLIEST = ZoneInfo("Etc/GMT-14")
LATEST = ZoneInfo("Etc/GMT+12")


@dataclass(frozen=True, slots=True)
class Budget:
    """The app's attention budget as push sees it (None: no limit)."""

    max_per_day: int | None = 3
    min_gap_seconds: int = 30


@dataclass(frozen=True, slots=True)
class Rules:
    """A push campaign's delivery controls, as values."""

    campaign_id: int
    variants: tuple[tuple[str, int], ...]
    control_weight: int = 0
    consent_channel: str | None = "push"  # None: no opt-in needed (in-device)
    quiet_hours: tuple[int, int] | None = (22, 8)
    budget: Budget = Budget()
    exempt_from_budget: bool = False
    winner: str | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """One user as the planner needs them: consent, timezone and recent messages (any
    channel; moments they were shown or sent)."""

    user_id: int
    consent: Mapping[str, bool]
    timezone: str | None
    recent: Sequence[datetime] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """`queued` with the variant and when to send, or `suppressed` with the reason."""

    status: str
    reason: str | None
    variant: str
    send_at: datetime


def zone(name: str | None) -> tzinfo:
    """The user's timezone; UTC when unknown or invalid."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def variant(rules: Rules, user_id: int) -> str:
    """The user's arm, as in-app (experiments.assignment): a winner, once picked, takes
    the new traffic; the holdout stays held out."""
    return assignment.assign(
        rules.campaign_id, user_id, rules.variants, rules.control_weight, winner=rules.winner
    )


def local_moment(day: date, at: time, tz: tzinfo) -> datetime:
    """`day` at wall-clock `at` in `tz`, in UTC (a skipped DST hour moves forward)."""
    local = datetime.combine(day, at, tzinfo=tz)
    return local.astimezone(UTC)


def next_local(at: time, tz: tzinfo, after: datetime) -> datetime:
    """The first moment at or after `after` whose wall clock in `tz` reads `at`."""
    today = after.astimezone(tz).date()
    for offset in range(3):
        moment = local_moment(today + timedelta(days=offset), at, tz)
        if moment >= after:
            return moment
    raise AssertionError("a local time recurs every day")


def in_quiet_hours(moment: datetime, tz: tzinfo, quiet: tuple[int, int]) -> bool:
    start, end = quiet
    if start == end:
        return False
    hour = moment.astimezone(tz).hour
    return start <= hour < end if start < end else hour >= start or hour < end


def after_quiet_hours(moment: datetime, tz: tzinfo, quiet: tuple[int, int] | None) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (the user's local time)."""
    if quiet is None or not in_quiet_hours(moment, tz, quiet):
        return moment
    return next_local(time(quiet[1]), tz, moment)


def over_budget(recent: Sequence[datetime], at: datetime, budget: Budget) -> str | None:
    """The budget rule a message at `at` would break, or None."""
    day = [m for m in recent if at - timedelta(days=1) < m <= at]
    if budget.max_per_day is not None and len(day) >= budget.max_per_day:
        return "budget"
    if budget.min_gap_seconds and any(
        abs((at - m).total_seconds()) < budget.min_gap_seconds for m in recent
    ):
        return "budget"
    return None


def decide(r: Recipient, rules: Rules, wanted_at: datetime, now: datetime) -> Decision:
    """One user's fate for one occurrence wanted at `wanted_at` (already local-time aware).

    Order: consent, control group, quiet hours (hold), then the budget at the held moment.
    """
    arm = variant(rules, r.user_id)
    if rules.consent_channel and r.consent.get(rules.consent_channel) is not True:
        return Decision(SUPPRESSED, "no_consent", arm, wanted_at)
    if arm == CONTROL:
        return Decision(SUPPRESSED, "control", arm, wanted_at)
    send_at = after_quiet_hours(max(wanted_at, now), zone(r.timezone), rules.quiet_hours)
    if not rules.exempt_from_budget:
        reason = over_budget(r.recent, send_at, rules.budget)
        if reason is not None:
            return Decision(SUPPRESSED, reason, arm, send_at)
    return Decision(QUEUED, None, arm, send_at)


def wanted_moment(
    kind: str,
    *,
    timezone: str | None,
    now: datetime,
    at_time: time | None = None,
    on_day: date | None = None,
) -> datetime | None:
    """When a user's send is wanted before quiet hours; None when it was missed.

    `local_time`: `on_day` at `at_time` in their zone (now if that passed), or the next
    such moment without a day; `recurring`: `on_day` at `at_time` (missed when more than
    MISSED_AFTER late); anything else: now.
    """
    if kind not in ("local_time", "recurring") or at_time is None:
        return now
    tz = zone(timezone)
    if kind == "local_time":
        if on_day is None:
            return next_local(at_time, tz, now)
        return max(local_moment(on_day, at_time, tz), now)
    assert on_day is not None
    moment = local_moment(on_day, at_time, tz)
    if moment < now - MISSED_AFTER:
        return None
    return max(moment, now)


def first_period(every: str, weekday: int | None, now: datetime) -> date:
    """The first local date a recurring schedule plans: one no timezone has passed yet."""
    day = now.astimezone(LATEST).date()
    if every == "week":
        assert weekday is not None
        day += timedelta(days=(weekday - day.weekday()) % 7)
    return day


def next_period(every: str, day: date) -> date:
    return day + timedelta(days=7 if every == "week" else 1)


def period_starts(day: date, at_time: time) -> datetime:
    """When the earliest timezone reaches `at_time` on `day`: the plan for `day` runs then
    (less an hour, so the first users' sends are ready on time)."""
    return local_moment(day, at_time, EARLIEST) - timedelta(hours=1)
