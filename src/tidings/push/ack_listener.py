"""The long-running reader of device acks: one MQTT subscription per app with MQTT
credentials, kept up to date as credentials come and go, reconnecting with backoff when
its broker goes away. Runs next to every job worker (`tidings serve`, `tidings worker`).

Every listener joins one MQTT 5 shared subscription per app (`$share/tidings-acks/…`),
so with many workers the broker hands each ack to one of them. Acks published while no
listener is connected are not kept by the broker (devices should ack again later, which
is harmless: recording is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections import Counter as Tally
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter

from tidings.context import AppContext
from tidings.delivery.models import PushCredential
from tidings.delivery.providers.mqtt import MqttSender, acks_filter
from tidings.ops.metrics import REGISTRY
from tidings.push import acks

log = logging.getLogger("tidings.push.acks")
SHARE_GROUP = "tidings-acks"
REFRESH_SECONDS = 5.0  # how often credentials are looked up for new or changed apps

DEVICE_ACKS = Counter(
    "tidings_device_acks_total",
    "MQTT device acks read, by outcome (recorded, duplicate, refused, malformed)",
    ["outcome"],
    registry=REGISTRY,
)


class AckListener:
    """Reads acks of every app with MQTT credentials until `stop()`."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.ctx = ctx
        self.refresh_seconds = refresh_seconds
        self.rng = rng or random.Random()
        self.subscribed: set[int] = set()  # apps whose subscription is live right now
        self.outcomes: Tally[str] = Tally()  # this listener's own counts (tests, logs)
        self._apps: dict[int, tuple[datetime, asyncio.Task[None]]] = {}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Follow the credentials; one task per app listens."""
        try:
            while not self._stopping.is_set():
                try:
                    await self._refresh()
                except Exception:
                    log.exception("device ack listener could not read MQTT credentials")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.refresh_seconds)
        finally:
            tasks = [task for _, task in self._apps.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._apps.clear()
            self.subscribed.clear()

    async def _refresh(self) -> None:
        async with self.ctx.db.read() as s:
            rows = (
                await s.execute(
                    sa.select(
                        PushCredential.app_id, PushCredential.updated_at, PushCredential.sealed
                    ).where(PushCredential.provider == "mqtt")
                )
            ).all()
        wanted = {app_id: (updated, sealed) for app_id, updated, sealed in rows}
        for app_id in [a for a in self._apps if a not in wanted]:
            _, task = self._apps.pop(app_id)
            task.cancel()
        for app_id, (updated, sealed) in wanted.items():
            current = self._apps.get(app_id)
            if current is not None and current[0] == updated and not current[1].done():
                continue
            if current is not None:
                current[1].cancel()
            secret = json.loads(self.ctx.box.open(sealed))
            task = asyncio.create_task(self._listen(app_id, secret), name=f"mqtt acks {app_id}")
            self._apps[app_id] = (updated, task)

    async def _listen(self, app_id: int, secret: dict[str, Any]) -> None:
        attempt = 0
        app = str(app_id)
        topic = f"$share/{SHARE_GROUP}/{acks_filter(app)}"
        try:
            while True:
                try:
                    async with MqttSender.client(
                        str(secret["host"]),
                        int(secret.get("port") or 1883),
                        username=secret.get("username"),
                        password=secret.get("password"),
                        identifier=f"tidings-acks-{app}-{secrets.token_hex(4)}",
                    ) as client:
                        await client.subscribe(topic, qos=1)
                        self.subscribed.add(app_id)
                        attempt = 0
                        async for message in client.messages:
                            await self.handle(app_id, str(message.topic), message.payload)
                except Exception as exc:  # MqttError, or a refused or unknown host
                    self.subscribed.discard(app_id)
                    wait = acks.backoff(attempt, self.rng)
                    attempt += 1
                    log.warning(
                        "MQTT broker of app %s lost (%s); reconnecting in %.1f s",
                        app_id,
                        exc,
                        wait,
                    )
                    await asyncio.sleep(wait)
        finally:
            self.subscribed.discard(app_id)

    async def handle(self, app_id: int, topic: str, payload: Any) -> str:
        """One message from the acks subtree: recorded, duplicate, refused or malformed.
        Never raises for a bad message: a device's garbage must not stop the listener."""
        try:
            ack = acks.parse(topic, payload, str(app_id))
        except acks.MalformedAck as exc:
            log.info("malformed device ack on %s: %s", topic, exc)
            return self._count(acks.MALFORMED)
        try:
            async with self.ctx.db.write() as s:
                outcome = await acks.record(s, app_id, ack, self.ctx.clock.now())
        except Exception:
            # The database is away: the ack is lost (the device may send it again).
            log.exception("could not record a device ack", extra={"app_id": app_id})
            return self._count("error")
        if outcome == acks.REFUSED:
            log.info(
                "device ack refused: delivery %s was not sent to client %s",
                ack.delivery_id,
                ack.client_id,
            )
        return self._count(outcome)

    def _count(self, outcome: str) -> str:
        self.outcomes[outcome] += 1
        DEVICE_ACKS.labels(outcome).inc()
        return outcome
