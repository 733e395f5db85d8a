"""The usual ingestion group, run start to finish on SQLite's writer connection.

When every user in the group is already known, the whole transaction — look-ups, event
insert, profile upserts, dropped events — runs in the writer thread in one hand-off
(`Database.run_in_writer`). Anything else (new users, claims, merges, tracked last
values) returns None untouched, and the group takes the async path with the full
identity rules. Both paths share planning and accounting (committer.plan_rows/account)
and the statements (store.py, profiles/queries.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tidings.bulk import Values
from tidings.events import committer as _committer
from tidings.events.store import INSERT_ONE_SQLITE, LOOKUP, STORED_IDS_SQLITE
from tidings.profiles.queries import delta_rows, touch_user_sql, upsert_daily_sql, upsert_stats_sql
from tidings.users.identity import match_known

if TYPE_CHECKING:
    from tidings.events.committer import Submission, Users

_V = Values("sqlite")
_DROPPED = (
    "INSERT INTO dropped_events (app_id, received_at, code, field, message, excerpt) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
)


def store_in_writer(group: Sequence[Submission], conn: sqlite3.Connection) -> list[set[str]] | None:
    """Store `group` in one transaction on `conn`; None (nothing done) if it needs the
    careful path."""
    if any(ud.last_values for sub in group for ud in sub.deltas.users.values()):
        return None
    conn.execute("BEGIN IMMEDIATE")
    try:
        users = _known_users(conn, group)
        if users is None:
            conn.execute("ROLLBACK")
            return None
        rows, owners = _committer.plan_rows(group, users)
        already = _stored(conn, rows)
        fresh = [row for row in rows if (row[0], row[2]) not in already]
        conn.executemany(INSERT_ONE_SQLITE, fresh)
        inserted = {(row[0], row[2]) for row in fresh}
        stored, deltas = _committer.account(group, owners, inserted, users)
        daily, stats, touch = delta_rows(deltas, _V)
        conn.executemany(upsert_daily_sql("sqlite"), daily)
        conn.executemany(upsert_stats_sql("sqlite"), stats)
        conn.executemany(touch_user_sql("sqlite"), touch)
        dropped = [
            (
                d["app_id"],
                _V.time(d["received_at"]),
                d["code"],
                d["field"],
                d["message"],
                d["excerpt"],
            )
            for sub in group
            for d in sub.dropped
        ]
        conn.executemany(_DROPPED, dropped)
        conn.execute("COMMIT")
        return stored
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _known_users(conn: sqlite3.Connection, group: Sequence[Submission]) -> Users | None:
    """(app, identity) -> user id when every identity names a known user, else None.

    Runs identity verification for anonymous ids that belong to a known user, as the
    async path does.
    """
    users: Users = {}
    for app_id in {sub.caller.app_id for sub in group}:
        wanted = {ev.who for sub in group if sub.caller.app_id == app_id for ev in sub.events}
        by_ext = _lookup(
            conn,
            "SELECT external_id, id, external_id FROM users WHERE app_id = ?1 AND external_id IN",
            app_id,
            {w.external_id for w in wanted if w.external_id is not None},
        )
        by_anon = _lookup(
            conn,
            "SELECT a.anonymous_id, u.id, u.external_id FROM anonymous_ids a "
            "JOIN users u ON u.id = a.user_id WHERE a.app_id = ?1 AND a.anonymous_id IN",
            app_id,
            {w.anonymous_id for w in wanted if w.anonymous_id is not None},
        )
        resolved = match_known(wanted, {k: uid for k, (uid, _) in by_ext.items()}, by_anon)
        if len(resolved) < len(wanted):
            return None  # new user, claim or merge: the async path's rules apply
        for sub in group:
            if sub.caller.app_id == app_id and sub.check_resolved is not None:
                for ev in sub.events:
                    sub.check_resolved(ev, resolved[ev.who])
        users.update({(app_id, who): r.user_id for who, r in resolved.items()})
    return users


def _lookup(
    conn: sqlite3.Connection, select: str, app_id: int, keys: set[str]
) -> dict[str, tuple[int, str | None]]:
    if not keys:
        return {}
    marks = ", ".join(f"?{i}" for i in range(2, len(keys) + 2))
    rows = conn.execute(f"{select} ({marks})", (app_id, *keys)).fetchall()
    return {key: (uid, ext) for key, uid, ext in rows}


def _stored(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> set[tuple[int, str]]:
    """(app, message id) of rows already stored (retries), in fixed-size look-ups."""
    found: set[tuple[int, str]] = set()
    by_app: dict[int, list[str]] = {}
    for row in rows:
        by_app.setdefault(row[0], []).append(row[2])
    for app_id, ids in by_app.items():
        for i in range(0, len(ids), LOOKUP):
            chunk = ids[i : i + LOOKUP]
            padded = (app_id, *chunk, *([""] * (LOOKUP - len(chunk))))
            found.update((app_id, mid) for (mid,) in conn.execute(STORED_IDS_SQLITE, padded))
    return found
