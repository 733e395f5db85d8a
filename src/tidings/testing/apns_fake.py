"""APNs on loopback over HTTP/2 (cleartext h2c, prior knowledge), built on `h2`.

It checks the provider JWT (ES256 with the key it hands out, `iat` under an hour old by
its `now()`), the topic and the payload size; answers 200 as a HEADERS frame with
END_STREAM and no body (as APNs does) and errors as HEADERS plus one JSON DATA frame.

    with ApnsFake() as fake:
        key = fake.p8_key            # PEM text of a .p8-style key the fake trusts
        fake.script.gone.add(tok)    # → 410 Unregistered with a timestamp
        fake.bad_tokens.add(tok)     # → 400 BadDeviceToken
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tidings.testing._serve import FaultScript, StreamThread


@dataclass(frozen=True)
class ApnsReceived:
    """One accepted notification: device token, headers and the decoded payload."""

    device_token: str
    headers: dict[str, str]
    payload: dict[str, Any]


@dataclass
class ApnsFake:
    """Start with `with ApnsFake() as fake:`; point senders at `fake.url`."""

    key_id: str = "ABC123DEFG"
    team_id: str = "TEAM123456"
    topic: str = "com.example.app"
    now: Callable[[], float] = time.time
    script: FaultScript = field(default_factory=FaultScript)
    bad_tokens: set[str] = field(default_factory=set)
    received: list[ApnsReceived] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    tokens_seen: set[str] = field(default_factory=set)
    connections: int = 0

    def __post_init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self._public = key.public_key()
        self.p8_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._server = StreamThread(self._connection, "apns-fake")
        self.url = self._server.url

    def __enter__(self) -> ApnsFake:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {_s(k): _s(v) for k, v in event.headers}
                        streams[event.stream_id] = (headers, bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        if self.script.delay:
                            await asyncio.sleep(self.script.delay)
                        status, extra, reply = self._answer(headers, bytes(body))
                        out = [(":status", str(status)), *extra]
                        if reply is None:
                            conn.send_headers(event.stream_id, out, end_stream=True)
                        else:
                            raw = json.dumps(reply).encode()
                            out.append(("content-type", "application/json"))
                            conn.send_headers(event.stream_id, out)
                            conn.send_data(event.stream_id, raw, end_stream=True)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            writer.close()

    def _refuse(self, status: int, reason: str, **more: Any) -> tuple[int, list[Any], Any]:
        self.rejected.append((status, reason))
        return status, [], {"reason": reason, **more}

    def _answer(self, h: dict[str, str], body: bytes) -> tuple[int, list[Any], Any]:
        path = h.get(":path", "")
        if h.get(":method") != "POST":
            return self._refuse(405, "MethodNotAllowed")
        if not path.startswith("/3/device/"):
            return self._refuse(404, "BadPath")
        device = path.removeprefix("/3/device/")
        auth = h.get("authorization", "")
        if not auth.startswith("bearer "):
            return self._refuse(403, "MissingProviderToken")
        token = auth[7:]
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["ES256"],
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return self._refuse(403, "InvalidProviderToken")
        if header.get("kid") != self.key_id or claims.get("iss") != self.team_id:
            return self._refuse(403, "InvalidProviderToken")
        if self.now() - float(claims.get("iat", 0)) > 3600:
            return self._refuse(403, "ExpiredProviderToken")
        self.tokens_seen.add(token)
        if not h.get("apns-topic"):
            return self._refuse(400, "MissingTopic")
        if h.get("apns-topic") != self.topic:
            return self._refuse(400, "DeviceTokenNotForTopic")
        if h.get("apns-priority", "10") not in ("1", "5", "10"):
            return self._refuse(400, "BadPriority")
        if len(h.get("apns-collapse-id", "").encode()) > 64:
            return self._refuse(400, "BadCollapseId")
        injected = self.script.take(device)
        if injected is not None:
            extra = [("retry-after", injected.retry_after)] if injected.retry_after else []
            self.rejected.append((injected.status, injected.reason or "injected"))
            return injected.status, extra, {"reason": injected.reason or "InternalServerError"}
        if device in self.bad_tokens:
            return self._refuse(400, "BadDeviceToken")
        if device in self.script.gone:
            return self._refuse(410, "Unregistered", timestamp=int(self.now() * 1000))
        if not body:
            return self._refuse(400, "PayloadEmpty")
        if len(body) > 4096:
            return self._refuse(413, "PayloadTooLarge")
        apns_id = h.get("apns-id") or str(uuid.uuid4())
        self.received.append(ApnsReceived(device, h, json.loads(body)))
        return 200, [("apns-id", apns_id)], None


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
