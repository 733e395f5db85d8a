"""The one read a decision needs: the user a client request names, their profile and
their past showings, in a single prebuilt statement. Never commits.

The decision runs at every session start, so its reads are its cost: one round trip
instead of three, statements built once per dialect instead of per request, and on SQLite
a plain read-only connection used in place, with no thread hand-off (bench/decide.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from tidings.db import Database, UTCDateTime, dialect_name, table_of
from tidings.deliveries.models import Delivery
from tidings.deliveries.queries import in_history
from tidings.inapp.model import Shown
from tidings.profiles.loader import (
    decode_json_rows,
    json_rows,
    moment,
    profile_columns,
    profile_from_row,
    window_start,
)
from tidings.profiles.snapshot import Profile
from tidings.users.models import AnonymousId, User

By = Literal["external_id", "anonymous_id"]

_users = table_of(User)
_anonymous = table_of(AnonymousId)
_deliveries = table_of(Delivery)

# Shown's fields, in order.
_SHOWN = (
    "campaign_id",
    "occurrence",
    "channel",
    "displayed_at",
    "dismissed_at",
    "completed_at",
    "session_id",
    "variant",
)


def _history(dialect: str) -> Any:
    d = _deliveries
    return json_rows(
        dialect,
        [d.c[name] for name in _SHOWN],
        sa.and_(d.c.user_id == _users.c.id, in_history(d.c)),
    )


@lru_cache(maxsize=8)
def decision_query(dialect: str, by: By) -> sa.Select[Any]:
    """Profile columns plus `history_json`; parameters `app_id`, `who`, `since`."""
    query = sa.select(*profile_columns(dialect), _history(dialect).label("history_json"))
    app_id = sa.bindparam("app_id", type_=sa.Integer)
    if by == "external_id":
        return query.where(_users.c.app_id == app_id, _users.c.external_id == sa.bindparam("who"))
    owner = (
        sa.select(_anonymous.c.user_id)
        .where(_anonymous.c.app_id == app_id, _anonymous.c.anonymous_id == sa.bindparam("who"))
        .scalar_subquery()
    )
    return query.where(_users.c.id == owner, _users.c.app_id == app_id)


def _shown(values: list[Any]) -> Shown:
    c_id, occurrence, channel, displayed, dismissed, completed, session_id, variant = values
    return Shown(
        int(c_id),
        int(occurrence),
        channel,
        moment(displayed) if displayed is not None else None,
        moment(dismissed) if dismissed is not None else None,
        moment(completed) if completed is not None else None,
        session_id,
        variant or "",
    )


@lru_cache(maxsize=4)
def _sqlite_statement(by: By) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """(SQL text, parameter names in order, constant parameters) for the plain driver."""
    compiled = decision_query("sqlite", by).compile(dialect=sqlite.dialect())
    return str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params)


def _decoder(type_: Any) -> Callable[[Any], Any] | None:
    """How a users column comes back from the plain driver; None: as it is."""
    if isinstance(type_, UTCDateTime):
        return lambda v: None if v is None else moment(v)
    if isinstance(type_, sa.JSON):
        return lambda v: orjson.loads(v) if isinstance(v, str | bytes) else v
    return None


# What SQLAlchemy would do to each column of a users row, done without it: the columns
# in order, then the ones that need decoding.
_USER_NAMES = tuple(c.name for c in _users.c)
_DECODED = [(c.name, d) for c in _users.c if (d := _decoder(c.type)) is not None]
_NAMES = (*_USER_NAMES, "daily_json", "stats_json", "devices_json", "history_json")


def _sqlite_row(row: tuple[Any, ...]) -> dict[str, Any]:
    fields = dict(zip(_NAMES, row, strict=True))
    for name, decode in _DECODED:
        fields[name] = decode(fields[name])
    return fields


async def decision_inputs(
    db: Database,
    app_id: int,
    *,
    external_id: str | None,
    anonymous_id: str | None,
    now: datetime,
) -> tuple[Profile, list[Shown]] | None:
    """(profile, history) of the user named by external id (else anonymous id), or None
    when the app has no such user."""
    by: By = "external_id" if external_id is not None else "anonymous_id"
    who = external_id or anonymous_id
    since = window_start(now)
    fields: Mapping[str, Any]
    if db.has_writer_thread:
        sql, names, constants = _sqlite_statement(by)
        values = {**constants, "app_id": app_id, "who": who, "since": since.isoformat()}
        args = [values[name] for name in names]
        raw = db.read_now(lambda conn: conn.execute(sql, args).fetchone())
        if raw is None:
            return None
        fields = _sqlite_row(raw)
    else:
        params = {"app_id": app_id, "who": who, "since": since}
        async with db.read() as s:
            row = (await s.execute(decision_query(dialect_name(s), by), params)).first()
        if row is None:
            return None
        fields = row._mapping
    history = [_shown(values) for values in decode_json_rows(fields["history_json"])]
    return profile_from_row(fields), history
