"""Cursor pagination shared by every list route.

A cursor is opaque to callers: URL-safe base64 of `[kind, tag, sort key, id]`, naming the
last row of a page. The next page starts strictly after it in the list's order, so rows
inserted meanwhile never shift a page (no duplicates, no gaps), unlike offsets. `kind`
ties a cursor to its list: a users cursor sent to the events list is a 422.
Responses are `{"data": [...], "next_cursor": "..." | null}`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field

from tidings.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_CHARS = 512
MAX_ROW_ID = 2**63 - 1  # BIGINT keys (events, dropped events)
MAX_INT_ID = 2**31 - 1  # INTEGER keys (users, devices) on PostgreSQL

CursorKey = int | str | datetime
T = TypeVar("T")
R = TypeVar("R")

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}.")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_CHARS, description="`next_cursor` of the previous page."),
]


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null when there is none."
    )


def encode_cursor(kind: str, key: CursorKey, row_id: int) -> str:
    """An opaque cursor naming the row (`key`, `row_id`) of list `kind`."""
    if isinstance(key, datetime):
        if key.tzinfo is None:
            raise ValueError("cursor datetimes must be timezone-aware")
        payload: list[object] = [kind, "t", key.astimezone(UTC).isoformat(), row_id]
    elif isinstance(key, bool):
        raise TypeError("booleans are not cursor keys")
    elif isinstance(key, int):
        payload = [kind, "i", key, row_id]
    else:
        payload = [kind, "s", key, row_id]
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


def decode_cursor(
    kind: str, cursor: str, *, field: str = "cursor", max_id: int = MAX_ROW_ID
) -> tuple[CursorKey, int]:
    """The (sort key, id) a cursor names; ValidationFailed naming `field` if it is not ours.

    Ids (and integer keys) outside 0..`max_id` cannot come from this API's rows, so they
    are refused here rather than overflowing a database parameter.
    """

    def bad(why: str) -> ValidationFailed:
        return ValidationFailed(f"invalid cursor: {why}", field=field, code="invalid_cursor")

    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad("too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise bad("not a cursor returned by this API") from exc
    if not (isinstance(payload, list) and len(payload) == 4):
        raise bad("not a cursor returned by this API")
    got_kind, tag, value, row_id = payload
    if got_kind != kind:
        raise bad(f"it belongs to another list ({got_kind!r})")
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 <= row_id <= max_id:
        raise bad("malformed")
    if tag == "i" and isinstance(value, int) and not isinstance(value, bool):
        if not -max_id - 1 <= value <= max_id:
            raise bad("malformed")
        return value, row_id
    if tag == "s" and isinstance(value, str):
        return value, row_id
    if tag == "t" and isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError as exc:
            raise bad("malformed") from exc
        if at.tzinfo is None:
            raise bad("malformed")
        return at, row_id
    raise bad("malformed")


def decode_time_cursor(
    kind: str, cursor: str, *, field: str = "cursor", max_id: int = MAX_ROW_ID
) -> tuple[datetime, int]:
    """Like `decode_cursor`, for lists ordered by a time."""
    key, row_id = decode_cursor(kind, cursor, field=field, max_id=max_id)
    if not isinstance(key, datetime):
        raise ValidationFailed("invalid cursor: malformed", field=field, code="invalid_cursor")
    return key, row_id


def paginate(
    rows: Sequence[R], limit: int, kind: str, position: Callable[[R], tuple[CursorKey, int]]
) -> tuple[list[R], str | None]:
    """Cut `rows` (fetched with `limit + 1`) to a page; the cursor names its last row."""
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, None
    key, row_id = position(page[-1])
    return page, encode_cursor(kind, key, row_id)
