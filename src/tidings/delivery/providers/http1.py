"""A lean keep-alive HTTP/1.1 client for provider sends (h11 on asyncio streams).

Each request goes out in one write (headers and body together) over a pooled
connection per origin; on loopback and at fan-out rates this costs about half the CPU
of httpx per request. Any connection fault closes that connection and raises OSError
(or TimeoutError); callers map both to a retry.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11


@dataclass(frozen=True)
class Reply:
    """Status, lower-cased headers and the whole body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)

    def reusable(self) -> bool:
        return self.h11.our_state is h11.IDLE and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


@dataclass
class Lease:
    """A connection slot and a live connection taken before a request is committed to (see
    `Http1Pool.lease`); `post(..., lease=)` uses it, `give_back` returns it unused."""

    origin: tuple[str, str, int]
    conn: _Conn
    used: bool = False
    staged: bytes | None = None  # the encoded request (see `Http1Pool.stage`)


def _origin(url: str) -> tuple[tuple[str, str, int], str, str]:
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, parts.hostname or "", port), target, parts.netloc


class Http1Pool:
    """Up to `per_origin` keep-alive connections to each origin (scheme://host:port)."""

    def __init__(
        self,
        *,
        per_origin: int = 16,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._per_origin = per_origin
        self._timeout = timeout
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], deque[_Conn]] = {}
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}

    async def __aenter__(self) -> Http1Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.popleft().close()

    async def lease(self, url: str) -> Lease:
        """Take `url`'s origin slot and a connected connection now, so a later `post` with
        it writes at once (nothing to wait for or connect between a commitment and the
        wire). OSError/TimeoutError if no connection can be made."""
        origin = _origin(url)[0]
        slots = self._slots.setdefault(origin, asyncio.Semaphore(self._per_origin))
        await slots.acquire()
        try:
            return Lease(origin, await self._acquire(origin))
        except BaseException:
            slots.release()
            raise

    def give_back(self, lease: Lease) -> None:
        """Return an unused lease: its connection goes back to the idle ones."""
        if lease.used:
            return
        lease.used = True
        if lease.staged is not None:
            lease.conn.close()  # its HTTP state already holds a request never sent
        else:
            self._put_back(lease.origin, lease.conn)
        self._slots[lease.origin].release()

    def _put_back(self, origin: tuple[str, str, int], conn: _Conn) -> None:
        if conn.reusable():
            self._idle.setdefault(origin, deque()).append(conn)
        else:
            conn.close()

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, lease: Lease | None = None
    ) -> Reply:
        origin, target, netloc = _origin(url)
        slots = self._slots.setdefault(origin, asyncio.Semaphore(self._per_origin))
        out = [("Host", netloc), ("Content-Length", str(len(body)))]
        out.extend(headers.items())
        staged = None
        if lease is not None and not lease.used and lease.origin == origin:
            lease.used = True  # its slot is held already
            conn, staged = lease.conn, lease.staged
        else:
            await slots.acquire()
            try:
                conn = await self._acquire(origin)
            except BaseException:
                slots.release()
                raise
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._exchange(conn, target, out, body, staged)
        except BaseException:
            conn.close()
            raise
        finally:
            slots.release()
        self._put_back(origin, conn)
        return reply

    async def _acquire(self, origin: tuple[str, str, int]) -> _Conn:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.reusable():
                return conn
            conn.close()
        scheme, host, port = origin
        context: Any = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
        async with asyncio.timeout(self._timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Conn(reader, writer)

    @staticmethod
    def _request(conn: _Conn, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        c = conn.h11
        request = h11.Request(method="POST", target=target, headers=headers)
        data = c.send(request) or b""
        data += c.send(h11.Data(data=body)) or b""
        data += c.send(h11.EndOfMessage()) or b""
        return data

    def stage(self, lease: Lease, url: str, body: bytes, headers: dict[str, str]) -> None:
        """Encode the request on the leased connection now, so `post(..., lease=)` only
        writes bytes: from a commitment to the wire is then one `write` call."""
        _, target, netloc = _origin(url)
        out = [("Host", netloc), ("Content-Length", str(len(body)))]
        out.extend(headers.items())
        lease.staged = self._request(lease.conn, target, out, body)

    @classmethod
    async def _exchange(
        cls,
        conn: _Conn,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        staged: bytes | None = None,
    ) -> Reply:
        c = conn.h11
        conn.writer.write(
            staged if staged is not None else cls._request(conn, target, headers, body)
        )
        status, got, chunks = 0, {}, []
        while True:
            try:
                event = c.next_event()
            except h11.RemoteProtocolError as exc:
                raise OSError(f"bad HTTP response: {exc}") from exc
            if event is h11.NEED_DATA:
                # An empty read is EOF; h11 then ends the message or reports the close.
                c.receive_data(await conn.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                got = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise OSError("connection closed before the response ended")
        if c.our_state is h11.DONE and c.their_state is h11.DONE:
            c.start_next_cycle()
        return Reply(status, got, b"".join(chunks))
