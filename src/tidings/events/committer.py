"""Group commit for ingestion: concurrent batches share one transaction.

Each track request hands its judged batch to the app's committer and waits. A drain task
takes everything pending (up to MAX_GROUP_EVENTS), resolves all users at once, writes
all events with one multi-row statement per table, folds profile deltas, commits, then
answers each request. A request is answered only after its events are committed, and a
batch is still all-or-nothing. If a group fails, each batch is retried alone so one bad
batch cannot fail the others. This amortizes per-transaction and per-statement costs
(bench/ingest.py measures it).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.bulk import Values
from tidings.db import Database, table_of
from tidings.events.models import DroppedEvent
from tidings.events.store import insert_events
from tidings.ops.metrics import INGEST_COMMIT_BATCHES, INGEST_COMMIT_SECONDS
from tidings.profiles.aggregate import ProfileDeltas, StoredEvent, fold, merge_into
from tidings.profiles.queries import apply_deltas
from tidings.tenancy.auth import Caller
from tidings.users.identity import Identity, Resolved, resolve_many

MAX_GROUP_EVENTS = 5000

_dropped = table_of(DroppedEvent)


@dataclass
class PendingEvent:
    """A judged, valid event waiting to be stored."""

    index: int
    who: Identity
    user_hash: str | None
    message_id: str
    name: str
    properties: dict[str, Any]
    timestamp: datetime
    device_id: str | None


@dataclass
class Submission:
    """One track request's work: its valid events and its dropped-event rows."""

    caller: Caller
    events: list[PendingEvent]
    dropped: list[dict[str, Any]]
    now: datetime
    # Checks an anonymous-only identity that resolved to a known user (identity
    # verification); raises to fail this submission.
    check_resolved: Callable[[PendingEvent, Resolved], None] | None = None
    future: asyncio.Future[set[str]] = field(init=False)
    # Filled by `prepare`, before the submission waits for the writer.
    cells: list[tuple[Any, ...]] = field(init=False, default_factory=list)
    deltas: ProfileDeltas = field(init=False, default_factory=ProfileDeltas.empty)

    @property
    def size(self) -> int:
        return len(self.events) + len(self.dropped)

    @property
    def tracked(self) -> list[str]:
        props = self.caller.settings.get("profile_properties")
        return [str(p) for p in props] if isinstance(props, list) else []

    def prepare(self, v: Values) -> None:
        """Convert values and fold profiles by identity now, outside the write lock."""
        received = v.time(self.now)
        self.cells = [
            (
                ev.message_id,
                ev.name,
                v.json(ev.properties),
                v.time(ev.timestamp),
                received,
                ev.device_id,
            )
            for ev in self.events
        ]
        self.deltas = fold(_stand_ins(self.events), self.tracked)


def _stand_ins(events: Sequence[PendingEvent]) -> list[StoredEvent]:
    """Events keyed by identity: the user ids are not known before the transaction."""
    return [StoredEvent(ev.who, ev.name, ev.timestamp, ev.properties) for ev in events]


class GroupCommitter:
    """Per-database queue of submissions, drained by one task at a time."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._values = Values(db.engine.dialect.name)
        self._pending: list[Submission] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, sub: Submission) -> set[str]:
        """Store `sub`; returns the message ids it stored (the rest were duplicates)."""
        sub.prepare(self._values)
        sub.future = asyncio.get_running_loop().create_future()
        self._pending.append(sub)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await asyncio.shield(sub.future)

    async def _drain(self) -> None:
        while self._pending:
            group: list[Submission] = []
            total = 0
            while self._pending and (
                not group or total + self._pending[0].size <= MAX_GROUP_EVENTS
            ):
                sub = self._pending.pop(0)
                group.append(sub)
                total += sub.size
            try:
                results = await commit_group(self._db, group)
            except Exception:
                for sub in group:  # isolate the failure: each batch alone
                    await self._commit_alone(sub)
                continue
            for sub, stored in zip(group, results, strict=True):
                _settle(sub, stored, None)

    async def _commit_alone(self, sub: Submission) -> None:
        for attempt in (1, 2):
            try:
                _settle(sub, (await commit_group(self._db, [sub]))[0], None)
                return
            except IntegrityError as exc:
                # A user erased or merged between resolution and insert: resolve again.
                if attempt == 2:
                    _settle(sub, None, exc)
            except Exception as exc:
                _settle(sub, None, exc)
                return


def _settle(sub: Submission, stored: set[str] | None, exc: BaseException | None) -> None:
    if sub.future.done():
        return
    if exc is not None:
        sub.future.set_exception(exc)
    else:
        assert stored is not None
        sub.future.set_result(stored)


_committers: weakref.WeakKeyDictionary[Database, GroupCommitter] = weakref.WeakKeyDictionary()


def committer_for(db: Database) -> GroupCommitter:
    found = _committers.get(db)
    if found is None:
        found = _committers[db] = GroupCommitter(db)
    return found


Owners = dict[tuple[int, str], int]  # (app, message id) -> the submission that owns it
Users = dict[tuple[int, Identity], int]  # (app, identity) -> user id


def plan_rows(group: Sequence[Submission], users: Users) -> tuple[list[tuple[Any, ...]], Owners]:
    """Event rows for the group; the same event in two concurrent batches: first one wins."""
    owners: Owners = {}
    rows = []
    for n, sub in enumerate(group):
        app_id = sub.caller.app_id
        for ev, cells in zip(sub.events, sub.cells, strict=True):
            key = (app_id, ev.message_id)
            if key in owners:
                continue
            owners[key] = n
            rows.append((app_id, users[(app_id, ev.who)], *cells))
    return rows, owners


def account(
    group: Sequence[Submission], owners: Owners, inserted: set[tuple[int, str]], users: Users
) -> tuple[list[set[str]], ProfileDeltas]:
    """Per submission, the message ids it stored; and the profile deltas of all of them."""
    stored: list[set[str]] = []
    deltas = ProfileDeltas.empty()
    for n, sub in enumerate(group):
        app_id = sub.caller.app_id
        mine = [
            ev
            for ev in sub.events
            if owners[(app_id, ev.message_id)] == n and (app_id, ev.message_id) in inserted
        ]
        stored.append({ev.message_id for ev in mine})
        # Usually every event was new and the prepared fold stands; retries refold exactly.
        part = sub.deltas if len(mine) == len(sub.events) else fold(_stand_ins(mine), sub.tracked)
        merge_into(deltas, part, {ev.who: users[(app_id, ev.who)] for ev in sub.events})
    return stored, deltas


async def commit_group(db: Database, group: Sequence[Submission]) -> list[set[str]]:
    """Store every submission of `group` in one transaction; per submission, what it stored."""
    INGEST_COMMIT_BATCHES.observe(len(group))
    with INGEST_COMMIT_SECONDS.time():
        if db.has_writer_thread:
            # The usual group (every user known) runs start to finish in the writer thread.
            from tidings.events.writer import store_in_writer  # imports this module

            done = await db.run_in_writer(partial(store_in_writer, group))
            if done is not None:
                return done
        async with db.write() as s:
            return await _store(s, group)


async def _store(s: AsyncSession, group: Sequence[Submission]) -> list[set[str]]:
    users: Users = {}
    for app_id in {sub.caller.app_id for sub in group}:
        identities = {ev.who for sub in group if sub.caller.app_id == app_id for ev in sub.events}
        if not identities:
            continue
        resolved = await resolve_many(s, app_id, identities, group[0].now)
        for sub in group:
            if sub.caller.app_id == app_id and sub.check_resolved is not None:
                for ev in sub.events:
                    sub.check_resolved(ev, resolved[ev.who])
        users.update({(app_id, who): r.user_id for who, r in resolved.items()})

    conn = await s.connection()
    rows, owners = plan_rows(group, users)
    inserted = await insert_events(conn, rows)
    stored, deltas = account(group, owners, inserted, users)
    await apply_deltas(conn, deltas)
    dropped = [row for sub in group for row in sub.dropped]
    if dropped:
        await conn.execute(_dropped.insert(), dropped)
    return stored
