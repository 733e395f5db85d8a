"""The event schema under Hypothesis: any JSON either validates or names where it is wrong."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidings.events.ingest import _judge, _Rejected
from tidings.events.schemas import MAX_EVENT_BYTES, EventError, EventIn, TrackIn
from tidings.events.timing import FUTURE_LIMIT

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
timestamps = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.integers(min_value=0, max_value=4_102_444_800),  # epoch seconds
    st.integers(min_value=100_000_000_000, max_value=4_102_444_800_000),  # epoch ms
    st.text(max_size=20),
    st.booleans(),
)
event_fields = {
    "name": st.one_of(
        st.sampled_from(["purchase", "$session_start", "$page_view"]), st.text(max_size=220)
    ),
    "properties": st.one_of(
        st.dictionaries(st.text(max_size=8), json_value, max_size=4), json_value
    ),
    "timestamp": timestamps,
    "message_id": st.one_of(st.uuids().map(str), st.text(max_size=140), st.integers()),
    "external_id": st.one_of(st.text(min_size=1, max_size=20), st.none(), st.integers()),
    "anonymous_id": st.one_of(st.text(min_size=1, max_size=20), st.none()),
    "device_id": st.one_of(st.text(max_size=20), st.none()),
    "surprise": json_value,
}


@st.composite
def events(draw: st.DrawFn) -> Any:
    """Mostly event-shaped dicts with random fields present, missing or wrong; sometimes junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_value)
    keys = draw(st.sets(st.sampled_from(sorted(event_fields)), max_size=len(event_fields)))
    return {k: draw(event_fields[k]) for k in sorted(keys)}


def names_a_place_in(field: str | None, raw: Any, index: int) -> bool:
    """`field` is `events[i]` or a path into the event through a key it has or must have."""
    where = f"events[{index}]"
    if field == where:
        return True
    if field is None or not field.startswith(where + "."):
        return False
    rest = field[len(where) + 1 :]
    keys = set(EventIn.model_fields) | (set(raw) if isinstance(raw, dict) else set())
    return any(rest == k or rest.startswith((f"{k}.", f"{k}[")) for k in keys)


def judge(raw: Any, batch: TrackIn | None = None, index: int = 0) -> Any:
    batch = batch or TrackIn(events=[raw])
    return _judge(index, raw, batch, None, NOW)


def verdict(raw: Any, batch: TrackIn, index: int = 0) -> tuple[Any, list[str]] | EventError:
    """The accepted event and its warnings, or the error it was rejected with."""
    try:
        return judge(raw, batch, index)  # type: ignore[no-any-return]
    except _Rejected as rej:
        return error_of(rej)


def error_of(rej: _Rejected) -> EventError:
    """The rejection as the API reports it (however ingest happens to carry it)."""
    return EventError.model_validate(rej.error, from_attributes=True)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(raw=events(), index=st.integers(0, 499))
def test_any_json_event_is_accepted_or_rejected_with_a_field_path(raw: Any, index: int) -> None:
    result = verdict(raw, TrackIn(events=[raw]), index)
    if isinstance(result, EventError):
        assert result.code in {
            "invalid",
            "event_too_large",
            "missing_identity",
            "invalid_timestamp",
        }
        assert result.message
        assert names_a_place_in(result.field, raw, index), result.field
        return
    # Accepted: it really is a valid event, placed no more than 23 h ahead.
    valid, warnings = result
    assert isinstance(raw, dict)
    parsed = EventIn.model_validate(raw)
    assert valid.name == parsed.name == raw["name"]
    assert valid.index == index
    assert valid.who.external_id is not None or valid.who.anonymous_id is not None
    assert valid.timestamp <= NOW + FUTURE_LIMIT
    assert valid.timestamp.tzinfo is not None
    assert valid.message_id
    if "message_id" in raw:
        assert valid.message_id == raw["message_id"]
    assert set(warnings) <= {"clock_skew_corrected", "timestamp_in_future_clamped"}


@given(raw=events())
def test_the_batch_identity_fills_in_for_events_without_one(raw: Any) -> None:
    result = verdict(raw, TrackIn(events=[raw], anonymous_id="batch-anon"))
    if isinstance(result, EventError):
        assert result.code != "missing_identity"
    elif raw.get("anonymous_id") is None:
        assert result[0].who.anonymous_id == "batch-anon"


def test_an_event_over_32_kb_is_too_large() -> None:
    raw = {"name": "big", "anonymous_id": "a", "properties": {"blob": "x" * MAX_EVENT_BYTES}}
    with pytest.raises(_Rejected) as rej:
        judge(raw)
    assert error_of(rej.value).code == "event_too_large"
    assert error_of(rej.value).field == "events[0]"


def test_an_event_just_under_32_kb_fits() -> None:
    raw: dict[str, Any] = {"name": "big", "anonymous_id": "a", "properties": {"blob": ""}}
    raw["properties"]["blob"] = "x" * (MAX_EVENT_BYTES - len(orjson.dumps(raw)))
    assert len(orjson.dumps(raw)) == MAX_EVENT_BYTES
    valid, _ = judge(raw)
    assert valid.name == "big"


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ({"anonymous_id": "a"}, "invalid", "events[0].name"),
        ({"name": "", "anonymous_id": "a"}, "invalid", "events[0].name"),
        ({"name": "a\nb", "anonymous_id": "a"}, "invalid", "events[0].name"),
        ({"name": "x" * 201, "anonymous_id": "a"}, "invalid", "events[0].name"),
        ({"name": "x", "anonymous_id": "a", "properties": []}, "invalid", "events[0].properties"),
        ({"name": "x", "anonymous_id": "a", "colour": 1}, "invalid", "events[0].colour"),
        (
            {"name": "x", "anonymous_id": "a", "message_id": "m" * 129},
            "invalid",
            "events[0].message_id",
        ),
        ({"name": "x"}, "missing_identity", "events[0].external_id"),
        (
            {"name": "x", "anonymous_id": "a", "timestamp": "noon"},
            "invalid_timestamp",
            "events[0].timestamp",
        ),
        (
            {"name": "x", "anonymous_id": "a", "timestamp": -5},
            "invalid_timestamp",
            "events[0].timestamp",
        ),
        (
            {"name": "x", "anonymous_id": "a", "timestamp": "2026-03-01T10:00:00"},
            "invalid_timestamp",
            "events[0].timestamp",
        ),
        ("purchase", "invalid", "events[0]"),
        (None, "invalid", "events[0]"),
    ],
)
def test_each_bad_event_names_its_field(raw: Any, code: str, field: str) -> None:
    with pytest.raises(_Rejected) as rej:
        judge(raw)
    error = error_of(rej.value)
    assert (error.code, error.field) == (code, field)


def test_timestamps_in_the_far_future_are_clamped() -> None:
    ahead = (NOW + timedelta(days=2)).isoformat()
    valid, warnings = judge({"name": "x", "anonymous_id": "a", "timestamp": ahead})
    assert valid.timestamp == NOW
    assert warnings == ["timestamp_in_future_clamped"]


@given(st.lists(events(), min_size=1, max_size=20))
def test_judging_is_per_event_and_order_free(raws: list[Any]) -> None:
    """One event's verdict never depends on its neighbours (apart from its index)."""
    batch = TrackIn(events=raws)
    for i, raw in enumerate(raws):
        in_batch, alone = verdict(raw, batch, i), verdict(raw, TrackIn(events=[raw]))
        assert summary(in_batch) == summary(alone)


def summary(result: tuple[Any, list[str]] | EventError) -> tuple[str, str]:
    if isinstance(result, EventError):
        return result.code, re.sub(r"^events\[\d+\]", "", result.field or "")
    return "accepted", result[0].name
