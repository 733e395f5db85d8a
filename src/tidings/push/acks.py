"""Device acks of in-device messages: a device publishes `{"message_id", "state"}` on
`tidings/{app}/devices/{client_id}/acks` (`message_id` is the delivery id it got).

States and what they record on the delivery row (the first moment of each is kept, so
a repeated ack changes nothing; a later state implies the earlier ones):
  received  → ack_received_at              the device has it
  displayed → ack_displayed_at             a screen showed it
  clicked   → clicked_at (like a push open) someone acted on it
  dismissed → dismissed_at                  someone closed it
An ack counts only from the device the delivery was sent to: the topic's client id
must be that device's MQTT address, so one device cannot ack another's messages.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.delivery.providers.mqtt import ROOT
from tidings.push import queries

STATES = ("received", "displayed", "clicked", "dismissed")
MAX_ACK_BYTES = 1024
# Columns each state sets (only where still empty).
COLUMNS = {
    "received": ("ack_received_at",),
    "displayed": ("ack_received_at", "ack_displayed_at"),
    "clicked": ("ack_received_at", "ack_displayed_at", "clicked_at"),
    "dismissed": ("ack_received_at", "ack_displayed_at", "dismissed_at"),
}
RECORDED, DUPLICATE, REFUSED, MALFORMED = "recorded", "duplicate", "refused", "malformed"


class MalformedAck(ValueError):
    """A message on an acks topic that is not an ack."""


@dataclass(frozen=True, slots=True)
class Ack:
    client_id: str
    delivery_id: int
    state: str


def parse(topic: str, payload: Any, app: str) -> Ack:
    """PURE: the ack in an MQTT message of `app`'s acks subtree; MalformedAck otherwise."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[:3] != [ROOT, app, "devices"] or parts[4] != "acks":
        raise MalformedAck(f"not an acks topic of app {app}")
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_ACK_BYTES:
        raise MalformedAck("payload must be JSON of at most 1 KB")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise MalformedAck("payload is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedAck("payload is not a JSON object")
    raw_id, state = body.get("message_id"), body.get("state")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
        raise MalformedAck("message_id must be the delivery id")
    try:
        delivery_id = int(raw_id)
    except ValueError as exc:
        raise MalformedAck("message_id must be the delivery id") from exc
    if delivery_id < 1:
        raise MalformedAck("message_id must be the delivery id")
    if state not in STATES:
        raise MalformedAck(f"state must be one of {', '.join(STATES)}")
    return Ack(parts[3], delivery_id, state)


def backoff(attempt: int, rng: random.Random, *, base: float = 0.5, cap: float = 30.0) -> float:
    """PURE: seconds before reconnect attempt `attempt` (from 0): doubling, capped, with
    jitter so a fleet of workers does not reconnect in step after a broker restart."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 16))
    return ceiling / 2 + rng.random() * ceiling / 2


async def record(s: AsyncSession, app_id: int, ack: Ack, now: datetime) -> str:
    """Write `ack` on its delivery row: `recorded`, `duplicate` (nothing new) or `refused`
    (no such in-device delivery of this app sent to this client id)."""
    d, v = queries.deliveries, queries.devices
    cols = COLUMNS[ack.state]
    row = (
        await s.execute(
            sa.select(*(d.c[c] for c in cols))
            .join(v, v.c.id == d.c.device_id)
            .where(
                d.c.id == ack.delivery_id,
                d.c.app_id == app_id,
                d.c.channel == "device",
                d.c.status != "suppressed",
                v.c.push_provider == "mqtt",
                v.c.push_address == ack.client_id,
            )
        )
    ).first()
    if row is None:
        return REFUSED
    if all(at is not None for at in row):
        return DUPLICATE
    # COALESCE: an ack recorded meanwhile by another worker keeps its first moment.
    values = {c: sa.func.coalesce(d.c[c], sa.literal(now, d.c[c].type)) for c in cols}
    await s.execute(sa.update(d).where(d.c.id == ack.delivery_id).values(**values))
    return RECORDED
