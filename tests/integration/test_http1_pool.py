"""The lean HTTP/1.1 client (`Http1Pool`) against a loopback server that answers with
scripted bytes: response framings, interim responses, connection faults, staged waves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tidings.delivery.providers.http1 import Http1Pool, Reply

Answer = Callable[[bytes], bytes | None]  # request bytes → response bytes (None: hang up)


async def _serve(answer: Answer) -> tuple[asyncio.Server, str, list[bytes]]:
    """A server reading one request at a time per connection (Content-Length bodies)."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                seen.append(request)
                out = answer(request)
                if out is None:
                    break
                writer.write(out)
                await writer.drain()
                if b"connection: close" in out.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/send", seen


def _run(
    answer: Answer, scenario: Callable[[Http1Pool, str], object]
) -> tuple[object, list[bytes]]:
    async def main() -> tuple[object, list[bytes]]:
        server, url, seen = await _serve(answer)
        async with server, Http1Pool(per_origin=4, timeout=5) as pool:
            result = scenario(pool, url)
            if asyncio.iscoroutine(result):
                result = await result
            return result, seen

    return asyncio.run(main())


def _ok(body: bytes = b'{"name":"m/1"}') -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Id: 7\r\n\r\n%s" % (len(body), body)


HEADERS = {"Authorization": "Bearer t", "Content-Type": "application/json"}


def test_a_request_is_one_framed_post_and_the_reply_is_parsed() -> None:
    reply, seen = _run(lambda _: _ok(), lambda pool, url: pool.post(url, b'{"a":1}', HEADERS))
    assert reply == Reply(200, {"content-length": "14", "x-id": "7"}, b'{"name":"m/1"}')
    [request] = seen
    head, body = request.split(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/send HTTP/1.1"
    assert set(lines[1:]) >= {
        b"Content-Length: 7",
        b"Authorization: Bearer t",
        b"Content-Type: application/json",
    }
    assert body == b'{"a":1}'


def test_chunked_close_delimited_and_interim_responses() -> None:
    answers = iter(
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"after"),
            b"HTTP/1.1 503 Unavailable\r\nConnection: close\r\n\r\nbye",
        ]
    )

    async def three(pool: Http1Pool, url: str) -> list[Reply]:
        return [await pool.post(url, b"{}", HEADERS) for _ in range(3)]

    replies, seen = _run(lambda _: next(answers), three)
    assert isinstance(replies, list)
    assert [(r.status, r.body) for r in replies] == [
        (200, b"abcde"),
        (200, b"after"),
        (503, b"bye"),
    ]
    assert len(seen) == 3


def test_a_connection_closed_mid_answer_is_an_oserror_and_the_next_post_reconnects() -> None:
    answers = iter([None, _ok()])

    async def two(pool: Http1Pool, url: str) -> tuple[str, int]:
        with pytest.raises(OSError, match="closed") as failed:
            await pool.post(url, b"{}", HEADERS)
        return str(failed.value), (await pool.post(url, b"{}", HEADERS)).status

    result, seen = _run(lambda _: next(answers), two)
    assert result == ("connection closed before the response ended", 200)
    assert len(seen) == 2


def test_staged_requests_go_out_together_and_each_gets_its_own_answer() -> None:
    def answer(request: bytes) -> bytes | None:
        body = request.split(b"\r\n\r\n", 1)[1]
        return None if body == b"drop" else _ok(body)

    async def wave(pool: Http1Pool, url: str) -> tuple[list[object], int]:
        leases = await pool.leases(url, 10)  # at most per_origin (4) free now
        for lease, body in zip(leases, [b"a", b"drop", b"c", b"d"], strict=True):
            pool.stage(lease, url, body, HEADERS)
        out = await pool.post_staged(leases)
        again = await pool.leases(url, 10)  # every slot came back
        for lease in again:
            pool.give_back(lease)
        return [r.body if isinstance(r, Reply) else type(r).__name__ for r in out], len(again)

    result, seen = _run(answer, wave)
    assert result == ([b"a", "OSError", b"c", b"d"], 4)
    assert len(seen) == 4


def test_a_header_that_would_split_the_request_is_refused() -> None:
    async def bad(pool: Http1Pool, url: str) -> None:
        await pool.post(url, b"{}", {"X-Evil": "a\r\nInjected: 1"})

    with pytest.raises(ValueError, match="invalid HTTP header"):
        _run(lambda _: _ok(), bad)
