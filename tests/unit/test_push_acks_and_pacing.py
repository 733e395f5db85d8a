"""Pure parts of device acks, send pacing and the on_event watch cursor."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tidings.push.acks import Ack, MalformedAck, backoff, parse
from tidings.push.pacing import next_slot
from tidings.push.watch_cursor import MAX_HELD, Held, Horizon, advance

TOPIC = "tidings/7/devices/kiosk-1/acks"


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_an_ack_names_the_client_from_the_topic_and_the_delivery() -> None:
    assert parse(TOPIC, body(message_id="42", state="displayed"), "7") == Ack(
        "kiosk-1", 42, "displayed"
    )
    assert parse(TOPIC, body(message_id=42, state="clicked"), "7").delivery_id == 42


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (TOPIC, b"not json"),
        (TOPIC, b"[1, 2]"),
        (TOPIC, body(state="displayed")),
        (TOPIC, body(message_id="abc", state="displayed")),
        (TOPIC, body(message_id=0, state="displayed")),
        (TOPIC, body(message_id=True, state="displayed")),
        (TOPIC, body(message_id="1", state="exploded")),
        (TOPIC, body(message_id="1")),
        (TOPIC, b"{" + b" " * 2000 + b"}"),
        (TOPIC, None),
        ("tidings/8/devices/kiosk-1/acks", body(message_id="1", state="received")),
        ("tidings/7/devices/kiosk-1/status", body(message_id="1", state="received")),
        ("tidings/7/devices/a/b/acks", body(message_id="1", state="received")),
    ],
)
def test_anything_else_is_malformed(topic: str, payload: bytes | None) -> None:
    with pytest.raises(MalformedAck):
        parse(topic, payload, "7")


def test_reconnect_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(1)
    waits = [backoff(n, rng) for n in range(12)]
    assert 0.25 <= waits[0] <= 0.5
    assert 2.0 <= waits[3] <= 4.0
    assert all(15.0 <= w <= 30.0 for w in waits[6:])
    assert backoff(10_000, rng) <= 30.0


T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_slots_follow_each_other_and_restart_from_now_when_idle() -> None:
    first = next_slot(None, T0, 100, 50.0)
    assert (first.start, first.end) == (T0, T0 + timedelta(seconds=2))
    second = next_slot(first.end, T0 + timedelta(seconds=0.5), 50, 50.0)
    assert second.start == first.end
    assert second.moment(10) == first.end + timedelta(seconds=0.2)
    later = T0 + timedelta(minutes=5)
    assert next_slot(second.end, later, 1, 50.0).start == later


def test_sqlite_cursor_moves_at_once() -> None:
    assert advance(10, [], 25, None) == (25, [])
    assert advance(10, [], 10, None) == (10, [])


def test_postgres_cursor_waits_until_every_older_transaction_ended() -> None:
    # Run 1 reads up to 30 while transactions 100.. are running: 30 is pending.
    after, held = advance(10, [], 30, Horizon(xmin=100, xmax=105))
    assert (after, held) == (10, [[30, None]])
    # Run 2: transaction 100 still runs; 30 gets stamped with this snapshot's xmax.
    after, held = advance(after, held, 40, Horizon(xmin=100, xmax=110))
    assert (after, held) == (10, [[30, 110], [40, None]])
    # Run 3: everything below 110 ended: 30 is settled; 40 is stamped 112.
    after, held = advance(after, held, 40, Horizon(xmin=110, xmax=112))
    assert (after, held) == (30, [[40, 112]])
    # Run 4: nothing running at all.
    assert advance(after, held, 40, Horizon(xmin=112, xmax=112)) == (40, [])


def test_a_long_transaction_keeps_a_bounded_list() -> None:
    after = 0
    held: Held = []
    for n in range(1, 200):
        after, held = advance(after, held, n, Horizon(xmin=5, xmax=10 + n))
    assert after == 0
    assert len(held) <= MAX_HELD + 1
    assert advance(after, held, 199, Horizon(xmin=10_000, xmax=10_000)) == (199, [])
