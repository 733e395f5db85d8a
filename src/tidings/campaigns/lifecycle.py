"""Campaign lifecycle (pure): draft → active/scheduled → paused → completed → archived."""

from __future__ import annotations

from datetime import datetime

from tidings.errors import Conflict

ALLOWED: dict[str, frozenset[str]] = {
    "draft": frozenset({"active", "archived"}),
    "scheduled": frozenset({"active", "paused", "completed", "archived"}),
    "active": frozenset({"paused", "completed", "archived"}),
    "paused": frozenset({"active", "completed", "archived"}),
    "completed": frozenset({"archived"}),
    "archived": frozenset(),
}
EDITABLE = frozenset({"draft", "scheduled", "active", "paused"})


def next_status(current: str, wanted: str, starts_at: datetime | None, now: datetime) -> str:
    """The status after asking for `wanted`; activating before `starts_at` schedules.

    A refused transition is a 409 naming `to`."""
    if wanted not in ALLOWED.get(current, frozenset()):
        raise Conflict(
            f"a {current} campaign cannot become {wanted}", field="to", code="bad_transition"
        )
    if wanted == "active" and starts_at is not None and starts_at > now:
        return "scheduled"
    return wanted


def effective_status(
    stored: str, starts_at: datetime | None, ends_at: datetime | None, now: datetime
) -> str:
    """What the status is now: a scheduled campaign whose start passed is active, an
    active one whose end passed is completed (no job needed to flip them)."""
    if stored == "scheduled" and (starts_at is None or starts_at <= now):
        stored = "active"
    if stored == "active" and ends_at is not None and ends_at <= now:
        return "completed"
    return stored
