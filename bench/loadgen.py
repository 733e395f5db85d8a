"""A minimal HTTP/1.1 keep-alive load client: pre-encoded requests, tiny client overhead.

Benchmarks use it so the load generator costs as little CPU as possible on a 2-core box.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)


def encode_post(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run(host: str, port: int, requests: Sequence[bytes], concurrency: int) -> LoadResult:
    """Send every request once over `concurrency` keep-alive connections."""
    queue = list(reversed(requests))
    result = LoadResult(0.0)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue:
                req = queue.pop()
                t0 = time.perf_counter()
                writer.write(req)
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - t0)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - start
    return result
