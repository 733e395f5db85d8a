"""In-device delivery against the machine's real Mosquitto broker (MQTT 5)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tidings.delivery.providers.base import Delivered, Rejected
from tidings.delivery.providers.mqtt import MqttSender, acks_filter, device_topic

HOST, PORT = "127.0.0.1", 1883


def _broker_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def broker() -> None:
    if not _broker_answers():
        if os.environ.get("CI") == "true":
            pytest.fail("Mosquitto does not answer at 127.0.0.1:1883 (required under CI)")
        pytest.skip("Mosquitto does not answer at 127.0.0.1:1883")


def _app() -> str:
    return f"app-{uuid.uuid4().hex[:8]}"


async def _collect(client: aiomqtt.Client, count: int, wait: float = 5.0) -> list[aiomqtt.Message]:
    got: list[aiomqtt.Message] = []

    async def read() -> None:
        async for message in client.messages:
            got.append(message)
            if len(got) >= count:
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), wait)
    return got


def test_qos1_delivery_to_the_device_topic() -> None:
    app = _app()

    async def scenario() -> tuple[object, list[aiomqtt.Message]]:
        async with (
            MqttSender.client(HOST, PORT, identifier=f"screen-{app}") as device,
            MqttSender.client(HOST, PORT) as backend,
        ):
            await device.subscribe(device_topic(app, "printer-7", "messages"), qos=1)
            sender = MqttSender(backend, app)
            outcome = await sender.send("printer-7", "m-1", {"title": "Toner low"}, expiry=60)
            return outcome, await _collect(device, 1)

    outcome, got = asyncio.run(scenario())
    assert outcome == Delivered("m-1")
    (message,) = got
    assert str(message.topic) == f"tidings/{app}/devices/printer-7/messages"
    assert message.qos == 1
    assert json.loads(message.payload) == {"message_id": "m-1", "title": "Toner low"}  # type: ignore[arg-type]


def test_queued_message_expires_while_the_device_is_offline() -> None:
    app = _app()
    topic = device_topic(app, "tv-1", "messages")

    async def scenario() -> list[str]:
        kwargs = {"identifier": f"tv-{app}", "clean_start": False}
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        async with MqttSender.client(HOST, PORT, properties=props, **kwargs) as device:
            await device.subscribe(topic, qos=1)
        # The device is offline; its persistent session queues QoS 1 messages.
        async with MqttSender.client(HOST, PORT) as backend:
            sender = MqttSender(backend, app)
            await sender.send("tv-1", "stale", {"title": "old"}, expiry=1)
            await sender.send("tv-1", "fresh", {"title": "new"}, expiry=300)
        await asyncio.sleep(2.2)  # let the first message's expiry interval pass
        async with MqttSender.client(HOST, PORT, properties=props, **kwargs) as device:
            got = await _collect(device, 2, wait=2)
        return [json.loads(m.payload)["message_id"] for m in got]  # type: ignore[arg-type]

    assert asyncio.run(scenario()) == ["fresh"]


def test_retained_status_is_replayed_and_cleared() -> None:
    app = _app()
    topic = device_topic(app, "kiosk-2", "status")

    async def scenario() -> tuple[list[aiomqtt.Message], list[aiomqtt.Message]]:
        async with MqttSender.client(HOST, PORT) as backend:
            sender = MqttSender(backend, app)
            await sender.set_status("kiosk-2", {"state": "online"})
            async with MqttSender.client(HOST, PORT) as late:
                await late.subscribe(topic, qos=1)
                first = await _collect(late, 1)
            await sender.set_status("kiosk-2", None)
            async with MqttSender.client(HOST, PORT) as later:
                await later.subscribe(topic, qos=1)
                second = await _collect(later, 1, wait=1)
        return first, second

    first, second = asyncio.run(scenario())
    assert len(first) == 1
    assert first[0].retain
    assert json.loads(first[0].payload) == {"state": "online"}  # type: ignore[arg-type]
    assert second == []


def test_unsafe_client_ids_are_refused_without_publishing() -> None:
    async def scenario() -> object:
        async with MqttSender.client(HOST, PORT) as backend:
            return await MqttSender(backend, "app").send("a/#", "m", {}, expiry=None)

    outcome = asyncio.run(scenario())
    assert isinstance(outcome, Rejected)
    assert outcome.token_invalid
    assert acks_filter("app") == "tidings/app/devices/+/acks"
