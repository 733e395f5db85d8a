"""Where an `on_event` watch may resume without skipping an event.

On PostgreSQL an event's id is taken when it is inserted but becomes visible when its
transaction commits, so a lower id can appear after a higher one was read. The watch
therefore re-reads everything above its settled cursor (planning an event twice is a
no-op: its occurrence is the event id) and moves the cursor past ids only once every
transaction that could still hold a lower id has ended:

- each run notes the highest id it read (`top`), held as pending;
- the next run stamps it with its snapshot's `xmax`: every transaction that had taken
  an id up to `top` by then has a transaction id below that stamp;
- once the oldest running transaction (`xmin`) reaches the stamp, they have all
  committed or rolled back, and the cursor moves to `top`.

SQLite has one writer at a time, so ids commit in order and the cursor moves at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import dialect_name

MAX_HELD = 32  # pending entries kept; older ones merge (later release, never earlier)

Held = list[list[int | None]]  # [[top id, xmax stamp or None], ...], oldest first


@dataclass(frozen=True, slots=True)
class Horizon:
    """A PostgreSQL snapshot's bounds: transactions below `xmin` have all ended; every
    transaction id assigned so far is below `xmax`."""

    xmin: int
    xmax: int


async def horizon(s: AsyncSession) -> Horizon | None:
    """The current snapshot's bounds on PostgreSQL; None where ids commit in order.
    Call it before the transaction writes anything (its own id would hold xmin)."""
    if dialect_name(s) != "postgresql":
        return None
    row = (
        await s.execute(
            sa.text(
                "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text "
                "FROM pg_current_snapshot() AS s"
            )
        )
    ).one()
    return Horizon(int(row[0]), int(row[1]))


def advance(after: int, held: Held, top: int, now: Horizon | None) -> tuple[int, Held]:
    """PURE: the settled cursor and the pending entries after a run that read up to id
    `top` (`after` when it read nothing) at snapshot `now`."""
    if now is None:
        return max(after, top), []
    stamped = [[m, x if x is not None else now.xmax] for m, x in held]
    for m, x in stamped:
        assert m is not None and x is not None
        if x <= now.xmin:
            after = max(after, m)
    pending: Held = [[m, x] for m, x in stamped if x is not None and x > now.xmin]
    highest = max([after, *(int(m) for m, _ in pending if m is not None)])
    if top > highest:
        pending.append([top, None])
    while len(pending) > MAX_HELD:
        (m1, x1), (m2, x2) = pending[0], pending[1]
        assert m1 is not None and m2 is not None and x1 is not None and x2 is not None
        pending[:2] = [[max(m1, m2), max(x1, x2)]]
    return after, pending
