"""A lean keep-alive HTTP/1.1 client for provider sends (asyncio protocols + httptools).

Each request goes out in one write (headers and body together) over a pooled
connection per origin. Requests are encoded by hand from a cached header block and
responses are parsed by httptools' C parser in the protocol's `data_received`, so a
request costs no task and no Python-level parsing: at fan-out rates this costs a
fraction of h11's (and httpx's) CPU per request (bench/fanout.py). Any connection
fault closes that connection and raises OSError (or TimeoutError); callers map both
to a retry.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httptools

_Origin = tuple[str, str, int]
# Header names are RFC 9110 tokens; values may not break the request apart.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_HEADS_KEPT = 256  # encoded header blocks kept (one per distinct header set)


@dataclass(frozen=True)
class Reply:
    """Status, lower-cased headers and the whole body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Conn(asyncio.Protocol):
    """One connection: at most one request outstanding; its reply resolves `waiter`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Reply] | None = None
        self.closed = False
        self._keep_alive = True
        self._parser = httptools.HttpResponseParser(self)
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._headers_done = False
        self._sized = False  # Content-Length or chunked: the body's end is known

    def reusable(self) -> bool:
        return not self.closed and self._keep_alive and self.waiter is None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> asyncio.Future[Reply]:
        """Write one encoded request now; the future resolves with its reply."""
        assert self.transport is not None and self.waiter is None
        if self.closed:
            raise OSError("connection closed")
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.transport.write(data)
        return waiter

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(OSError(f"bad HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost settles a pending reply

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and not self._sized and self.waiter is not None:
            self.on_message_complete()  # a body delimited by the connection's close
        self._fail(OSError("connection closed before the response ended"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key == "content-length" or key == "transfer-encoding":
            self._sized = True
        self._headers[key] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        headers, self._headers = self._headers, {}
        body = b"".join(self._chunks)
        self._chunks = []
        self._headers_done = self._sized = False
        if 100 <= status < 200:
            return  # an interim response: the final one follows
        if not self._parser.should_keep_alive():
            self._keep_alive = False
        waiter, self.waiter = self.waiter, None
        if waiter is None:
            self.close()  # a response nobody asked for: the connection is out of step
        elif not waiter.done():
            waiter.set_result(Reply(status, headers, body))

    def _fail(self, exc: OSError) -> None:
        self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


@dataclass
class Lease:
    """A connection slot and a live connection taken before a request is committed to (see
    `Http1Pool.lease`); `post(..., lease=)` uses it, `give_back` returns it unused."""

    origin: _Origin
    conn: _Conn
    used: bool = False
    staged: bytes | None = None  # the encoded request (see `Http1Pool.stage`)


_origins: dict[str, tuple[_Origin, str, str]] = {}


def _origin(url: str) -> tuple[_Origin, str, str]:
    known = _origins.get(url)
    if known is not None:
        return known
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    found = (scheme, parts.hostname or "", port), target, parts.netloc
    if len(_origins) < 1024:  # send URLs are few (one per provider and push service)
        _origins[url] = found
    return found


def _head(target: str, netloc: str, headers: dict[str, str]) -> bytes:
    """The request line and headers, less Content-Length and the blank line."""
    lines = [f"POST {target} HTTP/1.1\r\nHost: {netloc}\r\n"]
    for name, value in headers.items():
        if not _NAME.fullmatch(name) or _BAD_VALUE.search(value):
            raise ValueError(f"invalid HTTP header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    if _BAD_VALUE.search(target) or _BAD_VALUE.search(netloc) or " " in target:
        raise ValueError("invalid request target")
    return "".join(lines).encode("latin-1")


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
        self._idle: dict[_Origin, deque[_Conn]] = {}
        self._slots: dict[_Origin, asyncio.Semaphore] = {}
        self._heads: dict[tuple[str, str, tuple[tuple[str, str], ...]], bytes] = {}

    async def __aenter__(self) -> Http1Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.popleft().close()

    def _slots_of(self, origin: _Origin) -> asyncio.Semaphore:
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = asyncio.Semaphore(self._per_origin)
        return slots

    async def lease(self, url: str) -> Lease:
        """Take `url`'s origin slot and a connected connection now, so a later `post` with
        it writes at once (nothing to wait for or connect between a commitment and the
        wire). OSError/TimeoutError if no connection can be made."""
        origin = _origin(url)[0]
        slots = self._slots_of(origin)
        await slots.acquire()
        try:
            return Lease(origin, await self._acquire(origin))
        except BaseException:
            slots.release()
            raise

    async def leases(self, url: str, most: int) -> list[Lease]:
        """At least one lease (waiting for a slot) and up to `most`, as many as are free
        now: one commitment can then cover many requests. OSError/TimeoutError when not
        even one connection can be made."""
        origin = _origin(url)[0]
        slots = self._slots_of(origin)
        await slots.acquire()
        taken = 1
        while taken < most and not slots.locked():
            await slots.acquire()  # free: returns without suspending
            taken += 1
        idle = self._idle.get(origin)
        conns: list[_Conn] = []
        while idle and len(conns) < taken:
            conn = idle.pop()
            if conn.reusable():
                conns.append(conn)
            else:
                conn.close()
        missing = taken - len(conns)
        if missing:
            made = await asyncio.gather(
                *(self._connect(origin) for _ in range(missing)), return_exceptions=True
            )
            error = next((m for m in made if isinstance(m, BaseException)), None)
            conns.extend(m for m in made if isinstance(m, _Conn))
            if error is not None and not conns:
                for _ in range(taken):
                    slots.release()
                raise error
        for _ in range(taken - len(conns)):
            slots.release()
        return [Lease(origin, conn) for conn in conns]

    def give_back(self, lease: Lease) -> None:
        """Return an unused lease: its connection goes back to the idle ones."""
        if lease.used:
            return
        lease.used = True
        self._put_back(lease.origin, lease.conn)
        self._slots[lease.origin].release()

    def _put_back(self, origin: _Origin, conn: _Conn) -> None:
        if conn.reusable():
            self._idle.setdefault(origin, deque()).append(conn)
        else:
            conn.close()

    def _encode(self, url: str, body: bytes, headers: dict[str, str]) -> bytes:
        _, target, netloc = _origin(url)
        key = (target, netloc, tuple(headers.items()))
        head = self._heads.get(key)
        if head is None:
            head = _head(target, netloc, headers)
            if len(self._heads) >= _HEADS_KEPT:
                self._heads.clear()  # e.g. a new bearer token every hour
            self._heads[key] = head
        return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, lease: Lease | None = None
    ) -> Reply:
        origin = _origin(url)[0]
        slots = self._slots_of(origin)
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
            data = staged if staged is not None else self._encode(url, body, headers)
            async with asyncio.timeout(self._timeout):
                reply = await conn.send(data)
        except BaseException:
            conn.close()
            raise
        finally:
            slots.release()
        self._put_back(origin, conn)
        return reply

    async def post_staged(self, leases: Sequence[Lease]) -> list[Reply | OSError | TimeoutError]:
        """Write every lease's staged request now, then collect the replies (each lease's
        slot and connection are given back as its reply arrives). A connection fault is
        that request's answer, as OSError or TimeoutError."""
        out: list[Reply | OSError | TimeoutError] = []
        sent: list[tuple[Lease, asyncio.Future[Reply] | None]] = []
        for lease in leases:
            assert lease.staged is not None and not lease.used
            lease.used = True
            try:
                sent.append((lease, lease.conn.send(lease.staged)))
            except OSError:
                sent.append((lease, None))
        done = 0
        try:
            async with asyncio.timeout(self._timeout):
                for lease, waiter in sent:
                    try:
                        if waiter is None:
                            raise OSError("connection closed")
                        out.append(await waiter)
                        self._put_back(lease.origin, lease.conn)
                    except OSError as exc:
                        lease.conn.close()
                        out.append(exc)
                    self._slots[lease.origin].release()
                    done += 1
        except TimeoutError as exc:
            out.extend(exc for _ in sent[done:])
        finally:
            for lease, _ in sent[done:]:  # timed out or cancelled: never reuse these
                lease.conn.close()
                self._slots[lease.origin].release()
        return out

    async def _acquire(self, origin: _Origin) -> _Conn:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.reusable():
                return conn
            conn.close()
        return await self._connect(origin)

    async def _connect(self, origin: _Origin) -> _Conn:
        scheme, host, port = origin
        context: Any = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._timeout):
            transport, conn = await loop.create_connection(_Conn, host, port, ssl=context)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def stage(self, lease: Lease, url: str, body: bytes, headers: dict[str, str]) -> None:
        """Encode the request for the leased connection now, so `post(..., lease=)` only
        writes bytes: from a commitment to the wire is then one `write` call."""
        lease.staged = self._encode(url, body, headers)
