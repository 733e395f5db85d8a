"""A TCP fault proxy for tests: put it between Tidings and a database (or any server).

Modes, switchable at any moment:
- `pass`: bytes flow both ways untouched.
- `blackhole`: connections are accepted but nothing is forwarded or answered, as if the
  server hung or the network dropped every packet. Connections that lost bytes this way
  are reset when the mode changes again, since their streams are no longer coherent.
- `reset`: every open connection is closed with a TCP RST, and so is each new one.

    with FaultProxy("127.0.0.1", 5432) as proxy:   # runs on its own thread and loop
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test"
        proxy.set_mode("blackhole")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["pass", "blackhole", "reset"]
MODES: tuple[Mode, ...] = ("pass", "blackhole", "reset")
_CHUNK = 64 * 1024


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tainted: bool = False  # bytes were dropped: the stream is corrupt from here on
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST (SO_LINGER 0) rather than a polite FIN."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards `127.0.0.1:<port>` to `upstream_host:upstream_port` under a fault mode."""

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.mode: Mode = "pass"
        self.connections_seen = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    # -- asyncio API (use from the loop that runs the proxy) -------------------------

    async def start(self) -> None:
        """Listen on loopback; `self.port` holds the bound port afterwards."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._drop(link)
        if self._server is not None:
            await self._server.wait_closed()

    def apply_mode(self, mode: Mode) -> None:
        """Switch mode; must run on the proxy's loop (`set_mode` does that for you)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        for link in list(self._links):
            if mode == "reset" or link.tainted:
                self._drop(link)

    # -- threaded API (use from tests) -------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        """Switch mode from any thread; returns once the switch has taken effect."""
        if self._loop is None:
            self.apply_mode(mode)
            return

        async def _apply() -> None:
            self.apply_mode(mode)

        asyncio.run_coroutine_threadsafe(_apply(), self._loop).result(5)

    def __enter__(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.start()
            self._ready.set()
            await self._stop.wait()
            await self.close()

        asyncio.run(main())

    # -- forwarding ----------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_seen += 1
        link = _Link(client=writer)
        if self.mode == "reset":
            _reset(writer)
            return
        self._links.add(link)
        try:
            if self.mode == "blackhole":
                # Nothing reaches the server: swallow what the client says until released.
                link.tainted = True
                await self._swallow(reader)
                return
            up_reader, link.upstream = await asyncio.open_connection(*self.upstream)
            link.tasks = [
                asyncio.create_task(self._pump(reader, link.upstream, link)),
                asyncio.create_task(self._pump(up_reader, writer, link)),
            ]
            await asyncio.gather(*link.tasks, return_exceptions=True)
        except OSError:
            pass
        finally:
            self._drop(link)

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(_CHUNK):
            pass

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if self.mode != "pass":
                    link.tainted = True
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            # One side finished: end the other so both close together.
            self._drop(link, graceful=self.mode == "pass" and not link.tainted)

    def _drop(self, link: _Link, *, graceful: bool = False) -> None:
        self._links.discard(link)
        for end in (link.client, link.upstream):
            if graceful and end is not None:
                end.close()
            else:
                _reset(end)
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current and not task.done():
                task.cancel()


__all__ = ["MODES", "FaultProxy", "Mode"]
