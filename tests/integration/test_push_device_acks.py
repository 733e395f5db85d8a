"""Device acks over the machine's real Mosquitto: an in-device campaign goes out, the
screens ack on their own topics, and the delivery rows and the report show it; an ack
from another client id, or garbage, changes nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant
from tests.integration.test_push_campaigns import (
    WAIT_SECONDS,
    activate,
    campaign,
    device,
    identify,
    mosquitto,
    no_budget,
    report,
    rows,
    wait_for,
)

from tidings.delivery.providers.mqtt import device_topic
from tidings.push.ack_listener import AckListener
from tidings.testing.live import LiveServer, free_port

HOST, PORT = "127.0.0.1", 1883


def listener(live: LiveServer) -> AckListener:
    found: AckListener = live.app.state.ack_listener
    return found


def screen(name: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        HOST, PORT, protocol=aiomqtt.ProtocolVersion.V5, identifier=f"{name}-{uuid.uuid4().hex}"
    )


def ack(message_id: str, state: str) -> str:
    return json.dumps({"message_id": message_id, "state": state})


def test_device_acks_land_on_the_delivery_row_of_the_device_it_was_sent_to(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, live: LiveServer
) -> None:
    mosquitto()
    http = client
    r = http.put(
        "/v1/push/credentials/mqtt",
        json={"host": HOST, "port": PORT},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    no_budget(http, tenant)
    identify(http, tenant, "lobby")
    identify(http, tenant, "cafe")
    device(http, tenant, "lobby", "tv-1", "device", {"provider": "mqtt", "address": "tv-lobby"})
    device(http, tenant, "cafe", "tv-2", "device", {"provider": "mqtt", "address": "tv-cafe"})
    wait_for(lambda: tenant.app_id in listener(live).subscribed, "the ack subscription")
    before = dict(listener(live).outcomes)
    app = str(tenant.app_id)
    cid = campaign(
        http,
        tenant,
        {"en": {"format": "device", "payload": {"screen": "promo"}}},
        channel="device",
        controls={"push": {"quiet_hours": None, "ttl_seconds": 600}},
    )

    async def screens() -> dict[str, str]:
        got: dict[str, str] = {}
        async with screen("lobby") as lobby, screen("cafe") as cafe:
            for c, name in ((lobby, "tv-lobby"), (cafe, "tv-cafe")):
                await c.subscribe(device_topic(app, name, "messages"), qos=1)
            await asyncio.to_thread(activate, http, tenant, cid)

            async def first(c: aiomqtt.Client, name: str) -> None:
                async for message in c.messages:
                    assert isinstance(message.payload, bytes)
                    got[name] = json.loads(message.payload)["message_id"]
                    return

            async with asyncio.timeout(WAIT_SECONDS):
                await asyncio.gather(first(lobby, "tv-lobby"), first(cafe, "tv-cafe"))
            lobby_acks = device_topic(app, "tv-lobby", "acks")
            cafe_acks = device_topic(app, "tv-cafe", "acks")
            # The café screen tries to dismiss the lobby's message, and sends garbage.
            # (Publishing on the lobby's topic is for the broker's ACLs to refuse.)
            await cafe.publish(cafe_acks, ack(got["tv-lobby"], "dismissed"), qos=1)
            await cafe.publish(cafe_acks, b"{not json", qos=1)
            await cafe.publish(cafe_acks, ack(got["tv-cafe"], "received"), qos=1)
            await lobby.publish(lobby_acks, ack(got["tv-lobby"], "displayed"), qos=1)
            await lobby.publish(lobby_acks, ack(got["tv-lobby"], "clicked"), qos=1)
            await lobby.publish(lobby_acks, ack(got["tv-lobby"], "displayed"), qos=1)
        return got

    got = asyncio.run(screens())

    def counted() -> dict[str, int]:
        now = listener(live).outcomes
        return {k: now.get(k, 0) - before.get(k, 0) for k in now}

    wait_for(lambda: sum(counted().values()) >= 6, "all six acks read")
    by_device = {str(r["id"]): r for r in rows(sql, cid)}
    lobby, cafe = by_device[got["tv-lobby"]], by_device[got["tv-cafe"]]
    assert lobby["ack_received_at"] is not None
    assert lobby["ack_displayed_at"] is not None
    assert lobby["clicked_at"] is not None
    assert cafe["ack_received_at"] is not None
    assert cafe["ack_displayed_at"] is None
    assert cafe["dismissed_at"] is None
    assert lobby["dismissed_at"] is None  # the café's dismissal was refused
    assert counted() == {"recorded": 3, "duplicate": 1, "refused": 1, "malformed": 1}
    rep = report(http, tenant, cid)
    assert rep["device_acks"] == {"received": 2, "displayed": 1, "clicked": 1, "dismissed": 0}
    assert rep["opened"] == 1
    metrics = http.get("/metrics").text
    assert 'tidings_device_acks_total{outcome="malformed"}' in metrics


class Broker:
    """A Mosquitto of the test's own on a free port, that the test stops and starts."""

    def __init__(self, binary: str, conf: Path, port: int) -> None:
        self.binary, self.conf, self.port = binary, conf, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stderr=subprocess.DEVNULL)
        wait_for(lambda: _answers(self.port), "the test's broker")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    binary = shutil.which("mosquitto")
    if binary is None:
        pytest.skip("no mosquitto binary to run a broker of the test's own")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = Broker(binary, conf, port)
    try:
        yield broker
    finally:
        broker.stop()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def test_the_listener_reconnects_after_losing_its_broker(
    client: httpx.Client, tenant: Tenant, live: LiveServer, own_broker: Broker
) -> None:
    port = own_broker.port
    own_broker.start()
    r = client.put(
        "/v1/push/credentials/mqtt",
        json={"host": HOST, "port": port},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text
    acks = listener(live)
    wait_for(lambda: tenant.app_id in acks.subscribed, "the ack subscription")
    own_broker.stop()
    wait_for(lambda: tenant.app_id not in acks.subscribed, "the listener to notice")
    own_broker.start()  # the broker is back
    wait_for(lambda: tenant.app_id in acks.subscribed, "the subscription again")
    before = acks.outcomes["refused"]

    async def late_ack() -> None:
        async with aiomqtt.Client(HOST, port, protocol=aiomqtt.ProtocolVersion.V5) as screen:
            topic = device_topic(str(tenant.app_id), "tv-x", "acks")
            await screen.publish(topic, ack("999999999", "displayed"), qos=1)

    asyncio.run(late_ack())
    # Read after the reconnect (and refused: no such delivery was sent to tv-x).
    wait_for(lambda: acks.outcomes["refused"] > before, "the ack after the reconnect")
    # Credentials gone: the listener lets go of the app.
    r = client.delete("/v1/push/credentials/mqtt", headers=tenant.server_headers())
    assert r.status_code == 204, r.text
    wait_for(lambda: tenant.app_id not in acks.subscribed, "the listener to let go")
