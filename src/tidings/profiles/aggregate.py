"""Fold a batch of newly stored events into profile deltas (pure).

The deltas are applied with upserts in the same transaction as the events, so a profile
never disagrees with the events that built it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

SESSION_START = "$session_start"


@dataclass(frozen=True)
class StoredEvent:
    user_id: int
    name: str
    timestamp: datetime
    properties: dict[str, Any]


@dataclass
class UserDelta:
    first_seen: datetime
    last_seen: datetime
    sessions: int = 0
    last_values: dict[str, tuple[datetime, Any]] = field(default_factory=dict)


@dataclass
class StatDelta:
    first_at: datetime
    last_at: datetime
    count: int


@dataclass
class ProfileDeltas:
    daily: dict[tuple[int, str, date], int]
    stats: dict[tuple[int, str], StatDelta]
    users: dict[int, UserDelta]


def fold(events: Iterable[StoredEvent], tracked_properties: Sequence[str] = ()) -> ProfileDeltas:
    """Counts per (user, event, UTC day), totals per (user, event), and per-user deltas."""
    daily: dict[tuple[int, str, date], int] = {}
    stats: dict[tuple[int, str], StatDelta] = {}
    users: dict[int, UserDelta] = {}
    for ev in events:
        key = (ev.user_id, ev.name, ev.timestamp.date())
        daily[key] = daily.get(key, 0) + 1
        stat = stats.get((ev.user_id, ev.name))
        if stat is None:
            stats[(ev.user_id, ev.name)] = StatDelta(ev.timestamp, ev.timestamp, 1)
        else:
            stat.count += 1
            stat.first_at = min(stat.first_at, ev.timestamp)
            stat.last_at = max(stat.last_at, ev.timestamp)
        user = users.get(ev.user_id)
        if user is None:
            user = users[ev.user_id] = UserDelta(ev.timestamp, ev.timestamp)
        else:
            user.first_seen = min(user.first_seen, ev.timestamp)
            user.last_seen = max(user.last_seen, ev.timestamp)
        if ev.name == SESSION_START:
            user.sessions += 1
        for prop in tracked_properties:
            if prop in ev.properties:
                seen = user.last_values.get(prop)
                if seen is None or ev.timestamp >= seen[0]:
                    user.last_values[prop] = (ev.timestamp, ev.properties[prop])
    return ProfileDeltas(daily, stats, users)
