"""Run a real Tidings server (uvicorn, real HTTP on loopback) in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvicorn

from tidings.app import create_app
from tidings.clock import Clock
from tidings.config import Settings
from tidings.context import AppContext

T = TypeVar("T")


class LiveServer:
    """`with LiveServer(settings) as live:` serves at `live.url` until the block ends."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings, clock=clock)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="tidings-live", daemon=True)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve(sockets=[self._sock]))

    def __enter__(self) -> LiveServer:
        self._thread.start()
        for _ in range(400):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.025)
        raise RuntimeError("Tidings test server did not start")

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.app.state.ctx
        return ctx

    def call(self, fn: Callable[[AppContext], Awaitable[T]], timeout: float = 60) -> T:
        """Run `fn(ctx)` on the server's own event loop (same engine, same clock)."""
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(_as_coro(fn, self.ctx), self._loop)
        return fut.result(timeout)


async def _as_coro(fn: Callable[[AppContext], Awaitable[T]], ctx: AppContext) -> T:
    return await fn(ctx)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


__all__ = ["LiveServer", "free_port"]
