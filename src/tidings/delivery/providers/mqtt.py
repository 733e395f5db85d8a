"""In-device messages over MQTT 5 (aiomqtt): QoS 1 publishes to a per-device topic tree.

Topics, one direction per subtree (device ACLs can then allow only its own subtree):
  tidings/{app}/devices/{client_id}/messages  cloud→device, QoS 1, message expiry
  tidings/{app}/devices/{client_id}/acks      device→cloud `{message_id, state}`
  tidings/{app}/devices/{client_id}/status    retained current status
A broker PUBACK means the broker has the message, not that a screen showed it.
"""

from __future__ import annotations

import json
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tidings.delivery.providers.base import Delivered, Outcome, Rejected, Retry

ROOT = "tidings"
FORBIDDEN_IN_SEGMENT = set("/+#\0")


def _segment(value: str, what: str) -> str:
    if not value or set(value) & FORBIDDEN_IN_SEGMENT or value.startswith("$"):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level")
    return value


def device_topic(app: str, client_id: str, leaf: str) -> str:
    """`tidings/{app}/devices/{client_id}/{leaf}`; ValueError for unsafe ids."""
    return f"{ROOT}/{_segment(app, 'app')}/devices/{_segment(client_id, 'client id')}/{leaf}"


def acks_filter(app: str) -> str:
    """The backend's subscription for every device's acks in one app."""
    return f"{ROOT}/{_segment(app, 'app')}/devices/+/acks"


def _expiry(seconds: int | None) -> Properties | None:
    if seconds is None:
        return None
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.MessageExpiryInterval = seconds
    return props


class MqttSender:
    """Publishes over one connected aiomqtt client (MQTT v5)."""

    def __init__(self, client: aiomqtt.Client, app: str) -> None:
        self._client = client
        self._app = app

    @staticmethod
    def client(host: str = "127.0.0.1", port: int = 1883, **kwargs: Any) -> aiomqtt.Client:
        """A v5 client to use as `async with MqttSender.client() as c:`."""
        return aiomqtt.Client(host, port, protocol=aiomqtt.ProtocolVersion.V5, **kwargs)

    async def send(
        self, client_id: str, message_id: str, payload: dict[str, Any], *, expiry: int | None
    ) -> Outcome:
        """QoS 1 publish of `{message_id, …payload}`; returns once the broker PUBACKs."""
        try:
            topic = device_topic(self._app, client_id, "messages")
        except ValueError as exc:
            return Rejected(str(exc), token_invalid=True)
        body = json.dumps({"message_id": message_id, **payload}, separators=(",", ":"))
        try:
            await self._client.publish(topic, body, qos=1, properties=_expiry(expiry), timeout=10)
        except aiomqtt.MqttError as exc:
            return Retry(10.0, f"MQTT broker: {exc}")
        return Delivered(message_id)

    async def set_status(self, client_id: str, status: dict[str, Any] | None) -> None:
        """Retain the device's current status; None clears the retained copy."""
        topic = device_topic(self._app, client_id, "status")
        body = b"" if status is None else json.dumps(status, separators=(",", ":")).encode()
        await self._client.publish(topic, body, qos=1, retain=True, timeout=10)
