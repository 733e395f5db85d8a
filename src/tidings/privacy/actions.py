"""GDPR erase and export of one user.

The rows about a user are found from the schema, not listed by hand: every table in
`tidings.tables.metadata` with a `user_id` column or a foreign key to `users.id` (so
tables added later, such as deliveries or conversations, are covered without touching
this module), plus the user row itself. `dropped_events` hold no user id: they are found
by scanning their raw excerpt for the user's external id and anonymous ids as JSON
strings (an id held only at batch level, or cut off by the 1 KB excerpt limit, is not
in the excerpt and so not personal data there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import orjson
from pydantic_core import to_jsonable_python
from sqlalchemy import Column, ColumnElement, CursorResult, Table, delete, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.context import AppContext
from tidings.db import table_of
from tidings.events.models import DroppedEvent
from tidings.privacy.schemas import ErasedOut, UserExportOut
from tidings.tables import metadata
from tidings.tenancy.auth import Caller
from tidings.users import queries as user_queries
from tidings.users.actions import owned_user
from tidings.users.models import User
from tidings.users.server_schemas import user_out

_users = table_of(User)
_dropped = table_of(DroppedEvent)


def user_references() -> list[tuple[Table, Column[Any]]]:
    """Every (table, column) holding a user id, dependents before what they depend on."""
    found: list[tuple[Table, Column[Any]]] = []
    for table in reversed(metadata.sorted_tables):
        if table is _users:
            continue
        for column in table.columns:
            points_at_users = any(fk.column is _users.c.id for fk in column.foreign_keys)
            if column.name == "user_id" or points_at_users:
                found.append((table, column))
    return found


def _mentions(identifiers: Sequence[str]) -> ColumnElement[bool]:
    """Excerpts naming any of `identifiers` as a JSON string (quotes included)."""
    tokens = [orjson.dumps(i).decode() for i in identifiers]
    if not tokens:
        return false()
    return or_(*(_dropped.c.excerpt.contains(t, autoescape=True) for t in tokens))


async def _identifiers(s: AsyncSession, user: User) -> list[str]:
    anon = await user_queries.anonymous_ids(s, user.id)
    return [i for i in (user.external_id, *anon) if i]


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def erase_user(ctx: AppContext, caller: Caller, user_id: int) -> ErasedOut:
    """Delete the user and every row about them in one transaction; counts per table."""
    async with ctx.db.write() as s:
        user = await owned_user(s, caller.app_id, user_id)
        uid, external_id = user.id, user.external_id
        identifiers = await _identifiers(s, user)
        s.expunge(user)
        deleted: dict[str, int] = {}
        for table, column in user_references():
            result = await s.execute(delete(table).where(column == uid))
            deleted[table.name] = deleted.get(table.name, 0) + _rowcount(result)
        result = await s.execute(
            delete(_dropped).where(_dropped.c.app_id == caller.app_id, _mentions(identifiers))
        )
        deleted[_dropped.name] = _rowcount(result)
        result = await s.execute(delete(_users).where(_users.c.id == uid))
        deleted[_users.name] = _rowcount(result)
    return ErasedOut(user_id=uid, external_id=external_id, deleted=deleted)


def _rows(result: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [to_jsonable_python(dict(r._mapping)) for r in result]
    return rows


async def export_user(ctx: AppContext, caller: Caller, user_id: int) -> UserExportOut:
    """One document holding every row about the user (and only that user)."""
    async with ctx.db.read() as s:
        user = await owned_user(s, caller.app_id, user_id)
        identifiers = await _identifiers(s, user)
        records: dict[str, list[dict[str, Any]]] = {}
        for table, column in sorted(user_references(), key=lambda tc: tc[0].name):
            stmt = select(table).where(column == user.id).order_by(*table.primary_key.columns)
            records.setdefault(table.name, []).extend(_rows(await s.execute(stmt)))
        dropped = await s.execute(
            select(_dropped)
            .where(_dropped.c.app_id == caller.app_id, _mentions(identifiers))
            .order_by(_dropped.c.id)
        )
        return UserExportOut(
            exported_at=ctx.clock.now(),
            app_id=caller.app_id,
            user=user_out(user, await user_queries.anonymous_ids(s, user.id)),
            records=records,
            dropped_events=_rows(dropped),
        )
