"""Fold a batch of newly stored events into profile deltas (pure).

The deltas are applied with upserts in the same transaction as the events, so a profile
never disagrees with the events that built it. Ingestion folds each request's events by
identity before it waits for the writer, then `merge_into` re-keys them by user id inside
the transaction: the fold's work stays out of the write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

SESSION_START = "$session_start"


@dataclass(frozen=True)
class StoredEvent:
    user_id: Any  # the user's id, or any stand-in key for it (an identity) until known
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
    """Per-user changes; keys hold user ids (or stand-ins for them, see merge_into)."""

    daily: dict[tuple[Any, str, date], int]
    stats: dict[tuple[Any, str], StatDelta]
    users: dict[Any, UserDelta]

    @classmethod
    def empty(cls) -> ProfileDeltas:
        return cls({}, {}, {})


def merge_into(acc: ProfileDeltas, part: ProfileDeltas, user_of: Mapping[Any, int]) -> None:
    """Add `part` to `acc`, re-keying its users through `user_of` (stand-in -> user id).

    Two stand-ins may name one user (an external id and an anonymous id that is theirs):
    their counts add up, first/last widen, the later last value wins.
    """
    for (who, name, day), count in part.daily.items():
        key = (user_of[who], name, day)
        acc.daily[key] = acc.daily.get(key, 0) + count
    for (who, name), st in part.stats.items():
        skey = (user_of[who], name)
        have = acc.stats.get(skey)
        if have is None:
            acc.stats[skey] = StatDelta(st.first_at, st.last_at, st.count)
        else:
            have.first_at = min(have.first_at, st.first_at)
            have.last_at = max(have.last_at, st.last_at)
            have.count += st.count
    for who, ud in part.users.items():
        uid = user_of[who]
        mine = acc.users.get(uid)
        if mine is None:
            acc.users[uid] = UserDelta(
                ud.first_seen, ud.last_seen, ud.sessions, dict(ud.last_values)
            )
            continue
        mine.first_seen = min(mine.first_seen, ud.first_seen)
        mine.last_seen = max(mine.last_seen, ud.last_seen)
        mine.sessions += ud.sessions
        for prop, (at, value) in ud.last_values.items():
            seen = mine.last_values.get(prop)
            if seen is None or at >= seen[0]:
                mine.last_values[prop] = (at, value)


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
