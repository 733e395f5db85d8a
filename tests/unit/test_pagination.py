"""Cursor pagination: opaque cursors round-trip, foreign or tampered ones are a 422."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.errors import ValidationFailed
from tidings.pagination import (
    MAX_CURSOR_CHARS,
    decode_cursor,
    decode_time_cursor,
    encode_cursor,
    paginate,
)

aware = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
keys = st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=60), aware)


@given(
    kind=st.sampled_from(["users", "events", "dropped_events"]),
    key=keys,
    row_id=st.integers(0, 2**63 - 1),
)
def test_a_cursor_names_the_same_position_it_was_made_from(
    kind: str, key: int | str | datetime, row_id: int
) -> None:
    cursor = encode_cursor(kind, key, row_id)
    assert decode_cursor(kind, cursor) == (key, row_id)
    assert cursor.isascii()
    assert not set(cursor) & set("=+/")


def test_a_time_cursor_comes_back_in_utc_whatever_zone_it_was_made_in() -> None:
    tehran = timezone(timedelta(hours=3, minutes=30))
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=tehran)
    got, row_id = decode_time_cursor("events", encode_cursor("events", at, 7))
    assert (got, row_id) == (at, 7)
    assert got.utcoffset() == timedelta(0)


def test_naive_datetimes_cannot_become_cursors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_cursor("events", datetime(2026, 1, 1), 1)


def raw(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "",
        raw({"kind": "users"}),
        raw(["users", "i", 1]),
        raw(["users", "i", 1, "2"]),
        raw(["users", "i", 1, True]),
        raw(["users", "i", 1, -1]),
        raw(["users", "i", 1, 2**63]),
        raw(["users", "i", 2**63, 1]),
        raw(["users", "i", True, 1]),
        raw(["users", "x", 1, 1]),
        raw(["users", "t", "yesterday", 1]),
        raw(["users", "t", "2026-01-01T00:00:00", 1]),
        raw(["users", "s", 5, 1]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * (MAX_CURSOR_CHARS + 1),
    ],
)
def test_a_cursor_this_api_did_not_make_is_a_422_naming_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        decode_cursor("users", cursor)
    assert err.value.status == 422
    assert err.value.field == "cursor"
    assert err.value.code == "invalid_cursor"


def test_ids_beyond_the_lists_column_are_refused() -> None:
    assert decode_cursor("users", encode_cursor("users", 5, 2**31 - 1), max_id=2**31 - 1)
    with pytest.raises(ValidationFailed) as err:
        decode_cursor("users", encode_cursor("users", 5, 2**31), max_id=2**31 - 1)
    assert err.value.field == "cursor"


def test_a_cursor_of_another_list_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="another list") as err:
        decode_cursor("events", encode_cursor("users", 5, 5))
    assert err.value.field == "cursor"


def test_a_time_list_refuses_a_cursor_without_a_time() -> None:
    with pytest.raises(ValidationFailed) as err:
        decode_time_cursor("events", encode_cursor("events", 5, 5))
    assert err.value.field == "cursor"


@given(total=st.integers(0, 40), limit=st.integers(1, 12))
def test_walking_pages_yields_every_row_once_in_order(total: int, limit: int) -> None:
    rows = list(range(1, total + 1))
    seen: list[int] = []
    after = 0
    for _ in range(total + 2):
        fetched = [r for r in rows if r > after][: limit + 1]
        page, cursor = paginate(fetched, limit, "users", lambda r: (r, r))
        seen.extend(page)
        if cursor is None:
            break
        after = int(decode_cursor("users", cursor)[1])
    assert seen == rows


def test_a_full_last_page_has_no_next_cursor() -> None:
    page, cursor = paginate([1, 2, 3], 3, "users", lambda r: (r, r))
    assert (page, cursor) == ([1, 2, 3], None)
    page, cursor = paginate([1, 2, 3, 4], 3, "users", lambda r: (r, r))
    assert page == [1, 2, 3]
    assert cursor is not None
    assert decode_cursor("users", cursor) == (3, 3)
