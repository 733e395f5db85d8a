"""The send ledger's transaction on SQLite's writer connection, in one hand-off.

The same statements as `queries.record` and `queries.take` (outcomes first, then
marks), run start to finish in the writer thread (`Database.run_in_writer`) instead of
one async hop and one SQLAlchemy compile per statement: the ledger is written for every
wave of every send job, and on a busy machine those hops, not SQLite, were most of its
cost (bench/fanout.py). Ids travel as one JSON array, so each statement's text is the
same every time and SQLite's statement cache keeps it. A batch with an invalid token to
deactivate returns None untouched and takes the async path (`queries.deactivate`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from tidings.bulk import Values
from tidings.clock import Clock

_V = Values("sqlite")
_IDS = "id IN (SELECT value FROM json_each(?{n}))"
TAKE = (
    "UPDATE deliveries SET status = 'sending' WHERE status = 'queued' AND "
    + _IDS.format(n=1)
    + " RETURNING id"
)
RECORD = (
    "UPDATE deliveries SET status = ?1, reason = ?2 WHERE status = 'sending' AND "
    + _IDS.format(n=3)
)
RECORD_SHOWN = (
    "UPDATE deliveries SET status = ?1, reason = ?2, displayed_at = ?3 "
    "WHERE status = 'sending' AND " + _IDS.format(n=4)
)


class Outcome(Protocol):
    """An outcome to record (send.py's `_Written`)."""

    @property
    def delivery_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def invalid(self) -> Any: ...


def write(
    clock: Clock, items: Sequence[int | Outcome], conn: sqlite3.Connection
) -> list[Any] | None:
    """Record the outcomes and mark the ids (delivery ids) `sending` in one transaction;
    per item: None for an outcome, whether this caller took the row for an id."""
    outcomes = [i for i in items if not isinstance(i, int)]
    if any(o.invalid is not None for o in outcomes):
        return None
    by_kind: dict[tuple[str, str | None], list[int]] = {}
    for o in outcomes:
        by_kind.setdefault((o.status, o.reason), []).append(o.delivery_id)
    ids = [i for i in items if isinstance(i, int)]
    conn.execute("BEGIN IMMEDIATE")
    try:
        if by_kind:
            now = _V.time(clock.now())
            for (status, reason), done in by_kind.items():
                if status in ("sent", "delivered"):  # counts against the attention budget
                    conn.execute(RECORD_SHOWN, (status, reason, now, _V.json(done)))
                else:
                    conn.execute(RECORD, (status, reason, _V.json(done)))
        taken = {r[0] for r in conn.execute(TAKE, (_V.json(ids),)).fetchall()} if ids else set()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return [i in taken if isinstance(i, int) else None for i in items]
