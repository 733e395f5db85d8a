"""Background-thread servers on loopback for the protocol fakes."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Injected:
    """One scripted failure: answer `status` (with `reason`, `retry_after`) `times` times to
    requests whose address matches `address` (None: any)."""

    status: int
    reason: str | None = None
    retry_after: str | None = None
    times: int = 1
    address: str | None = None


@dataclass
class FaultScript:
    """Scripted failures, slowness and gone addresses shared by every fake."""

    delay: float = 0.0
    gone: set[str] = field(default_factory=set)
    _queue: list[Injected] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(
        self,
        status: int,
        *,
        reason: str | None = None,
        retry_after: str | None = None,
        times: int = 1,
        address: str | None = None,
    ) -> None:
        with self._lock:
            self._queue.append(Injected(status, reason, retry_after, times, address))

    def take(self, address: str) -> Injected | None:
        """The next scripted failure for `address`, consuming one of its `times`."""
        with self._lock:
            for item in self._queue:
                if item.address in (None, address):
                    item.times -= 1
                    if item.times <= 0:
                        self._queue.remove(item)
                    return item
        return None


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: no Nagle stall between a reply's headers and body.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class AsgiThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: Any, name: str) -> None:
        self._sock = _loopback_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self) -> None:
        self._thread.start()
        for _ in range(400):
            if self._server.started:
                return
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.025)
        raise RuntimeError("fake server did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


class StreamThread:
    """Serve a raw asyncio stream handler on 127.0.0.1 in a daemon thread."""

    def __init__(
        self,
        handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        name: str,
    ) -> None:
        self._sock = _loopback_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._handler = handler
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handler, sock=self._sock)
        self._ready.set()
        async with server:
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._sock.close()
