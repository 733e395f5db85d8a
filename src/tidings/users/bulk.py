"""Import many users: one write transaction per batch, row by row when a batch fails.

Rows arrive already validated (see importer.py). Within a batch, consecutive rows that
name only an `external_id` form a run taking the fast path: the run's users are read in
one query, changed in memory, and written back with one INSERT and one UPDATE
(executemany), so 500 rows cost a handful of statements instead of thousands. A row
with an `anonymous_id` goes through `identity.resolve` and `set_attributes`, exactly like
`POST /v1/identify` (claims and merges). If a batch still fails while writing (a
concurrent identify created the same user, a type was declared meanwhile), it is rolled
back and replayed one row per transaction on that careful path, so a bad row never costs
the good rows of its batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import Database, table_of
from tidings.errors import NotFound, TidingsError
from tidings.users import attributes as attrs
from tidings.users import queries
from tidings.users.actions import apply_facts, declare_types, set_attributes
from tidings.users.identity import Identity, resolve
from tidings.users.importer import ImportRow
from tidings.users.models import AnonymousId, User
from tidings.users.schemas import IdentifyIn

Status = Literal["created", "updated", "failed"]

_users = table_of(User)
# What an import may change on an existing user; everything else is the profile's.
_FACT_COLUMNS = (
    "attributes",
    "locale",
    "timezone",
    "consent",
    "country",
    "region",
    "city",
    "latitude",
    "longitude",
    "updated_at",
)
_update_facts = _users.update().where(_users.c.id == bindparam("_id"))


@dataclass(frozen=True)
class RowOutcome:
    line: int
    status: Status
    field: str | None = None
    message: str | None = None


async def _apply_one(s: AsyncSession, app_id: int, row: ImportRow, now: datetime) -> None:
    """The careful path: exactly what `POST /v1/identify` does for this row."""
    body = row.body
    resolved = await resolve(s, app_id, Identity(body.external_id, body.anonymous_id), now)
    user = await s.get(User, resolved.user_id)
    if user is None:
        raise NotFound("user not found")
    await set_attributes(s, user, body.attributes, now)
    apply_facts(user, body, now)
    await s.flush()


def _runs(rows: Sequence[ImportRow]) -> Iterator[list[ImportRow]]:
    """Maximal runs of external-id-only rows; each anonymous-id row is a run of its own."""
    run: list[ImportRow] = []
    for row in rows:
        if row.body.anonymous_id is None:
            run.append(row)
            continue
        if run:
            yield run
            run = []
        yield [row]
    if run:
        yield run


async def _known_anonymous(s: AsyncSession, app_id: int, anonymous_id: str) -> bool:
    stmt = select(AnonymousId.user_id).where(
        AnonymousId.app_id == app_id, AnonymousId.anonymous_id == anonymous_id
    )
    return (await s.execute(stmt)).first() is not None


async def _known_external(s: AsyncSession, app_id: int, external_id: str) -> bool:
    stmt = select(User.id).where(User.app_id == app_id, User.external_id == external_id)
    return (await s.execute(stmt)).first() is not None


async def _existed(s: AsyncSession, app_id: int, body: IdentifyIn) -> bool:
    if body.external_id is not None and await _known_external(s, app_id, body.external_id):
        return True
    return body.anonymous_id is not None and await _known_anonymous(s, app_id, body.anonymous_id)


async def _fast_run(
    s: AsyncSession, app_id: int, run: list[ImportRow], now: datetime
) -> list[RowOutcome]:
    """External-id-only rows: read the run's users once, write them back in two statements."""
    ids = {row.body.external_id for row in run}
    found = await s.execute(
        select(_users).where(_users.c.app_id == app_id, _users.c.external_id.in_(ids))
    )
    # Detached User objects used as plain records: nothing here goes through the ORM flush.
    drafts: dict[str, User] = {r.external_id: User(**r._mapping) for r in found}
    fresh: set[str] = set()
    declared = await queries.declared_types(s, app_id)
    new_types: dict[str, str] = {}
    outcomes: list[RowOutcome] = []
    for row in run:
        ext = row.body.external_id
        assert ext is not None
        try:
            values, new = attrs.check_attributes(row.body.attributes, {**declared, **new_types})
        except TidingsError as exc:
            outcomes.append(RowOutcome(row.line, "failed", exc.field, exc.message))
            continue
        new_types.update(new)
        user = drafts.get(ext)
        outcomes.append(RowOutcome(row.line, "created" if user is None else "updated"))
        if user is None:
            user = drafts[ext] = User(
                app_id=app_id,
                external_id=ext,
                attributes={},
                consent={},
                last_values={},
                session_count=0,
                created_at=now,
                updated_at=now,
            )
            fresh.add(ext)
        user.attributes = attrs.apply(user.attributes, values)
        apply_facts(user, row.body, now)
    await declare_types(s, app_id, new_types, now)
    inserts = [_record(drafts[ext], exclude=("id",)) for ext in fresh]
    updates = [
        {"_id": user.id, **{c: getattr(user, c) for c in _FACT_COLUMNS}}
        for ext, user in drafts.items()
        if ext not in fresh
    ]
    if inserts:
        await s.execute(_users.insert(), inserts)
    if updates:
        await s.execute(_update_facts, updates)
    return outcomes


def _record(user: User, *, exclude: tuple[str, ...]) -> dict[str, Any]:
    return {c.key: getattr(user, c.key) for c in _users.columns if c.key not in exclude}


async def _import_batch(
    s: AsyncSession, app_id: int, rows: Sequence[ImportRow], now: datetime
) -> list[RowOutcome]:
    outcomes: list[RowOutcome] = []
    for run in _runs(rows):
        if run[0].body.anonymous_id is None:
            outcomes.extend(await _fast_run(s, app_id, run, now))
            continue
        existed = await _existed(s, app_id, run[0].body)
        await _apply_one(s, app_id, run[0], now)
        outcomes.append(RowOutcome(run[0].line, "updated" if existed else "created"))
    return outcomes


async def import_rows(
    db: Database, app_id: int, rows: Sequence[ImportRow], *, now: datetime
) -> list[RowOutcome]:
    """Create or update the users `rows` name; one outcome per row, in order."""
    if len(rows) > 1:
        try:
            async with db.write() as s:
                return await _import_batch(s, app_id, rows, now)
        except (TidingsError, SQLAlchemyError):
            pass  # rolled back as a whole: replay it one row per transaction below
    return [await _import_single(db, app_id, row, now) for row in rows]


async def _import_single(db: Database, app_id: int, row: ImportRow, now: datetime) -> RowOutcome:
    try:
        async with db.write() as s:
            existed = await _existed(s, app_id, row.body)
            await _apply_one(s, app_id, row, now)
    except TidingsError as exc:
        return RowOutcome(row.line, "failed", exc.field, exc.message)
    except SQLAlchemyError as exc:
        return RowOutcome(row.line, "failed", None, _db_reason(exc))
    return RowOutcome(row.line, "updated" if existed else "created")


def _db_reason(exc: SQLAlchemyError) -> str:
    orig: Any = getattr(exc, "orig", None)
    return f"the database refused the row: {orig if orig is not None else exc}"[:500]
