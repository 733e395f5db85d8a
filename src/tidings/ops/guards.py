"""Whole-request checks for API writes, before any parsing: media type, size, encoding.

For POST/PUT/PATCH under `/v1/` with a body:
- `Content-Type` must be `application/json` (parameters such as charset allowed): else 415.
- `Content-Encoding` may be absent/identity, `gzip` or `deflate`: else 415.
- The body may not exceed `max_body_bytes`, judged from `Content-Length` up front, while
  streaming a body without one (chunked), and after decompression (incrementally, so a
  gzip bomb is refused after at most `max_body_bytes` of output): else 413.
A compressed body is handed on decompressed, with its headers adjusted to match.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidings.ops.inflate import ENCODINGS, Corrupt, Inflater, TooLarge
from tidings.ops.responses import send_error

GUARDED_METHODS = frozenset({"POST", "PUT", "PATCH"})
GUARDED_PREFIX = "/v1/"
JSON = "application/json"
_DROPPED = frozenset({b"content-length", b"content-encoding", b"transfer-encoding"})


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _too_large(limit: int) -> _Refused:
    return _Refused(
        413, "payload_too_large", f"the request body is larger than {limit} bytes", "body"
    )


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


class RequestGuard:
    """ASGI middleware enforcing the module's rules; other requests pass untouched."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in GUARDED_METHODS
            or not scope["path"].startswith(GUARDED_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        try:
            encoding, length = self._check_headers(scope)
            if encoding is None and length is not None:
                # The server frames the body by Content-Length (already checked), so it
                # cannot grow past it: stream it through untouched, the fast path.
                await self.app(scope, receive, send)
                return
            body = await self._read(receive, encoding)
        except _Refused as refused:
            await send_error(send, refused.status, refused.code, refused.message, refused.field)
            return
        if body is None:
            return  # the client went away
        # Mutated in place, not copied: outer middleware reads what routing adds to scope.
        scope["headers"] = [
            *(pair for pair in scope["headers"] if pair[0] not in _DROPPED),
            (b"content-length", str(len(body)).encode()),
        ]
        await self.app(scope, _replay(body, receive), send)

    def _check_headers(self, scope: Scope) -> tuple[str | None, int | None]:
        """The body's encoding (None for identity) and declared length; or refuse."""
        content_type = encoding = ""
        length: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise _Refused(
                        400, "bad_request", "Content-Length is not a number", "content-length"
                    ) from None
            elif name == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked and not length:
            return None, 0  # no body: nothing to judge
        if _media_type(content_type) != JSON:
            raise _Refused(
                415,
                "unsupported_media_type",
                f"send the body as {JSON}, not {content_type or 'an unnamed type'}",
                "content-type",
            )
        if encoding in ("", "identity"):
            encoding = ""
        elif encoding not in ENCODINGS:
            raise _Refused(
                415,
                "unsupported_media_type",
                f"Content-Encoding {encoding!r} is not supported; use gzip or deflate",
                "content-encoding",
            )
        if length is not None and length > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        return encoding or None, None if chunked else length

    async def _read(self, receive: Receive, encoding: str | None) -> bytes | None:
        """The whole body, decompressed and bounded; None if the client disconnected."""
        limit = self.max_body_bytes
        inflater = Inflater(encoding, limit) if encoding else None
        parts: list[bytes] = []
        received = 0
        more = True
        try:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk: bytes = message.get("body", b"")
                more = message.get("more_body", False)
                received += len(chunk)
                if received > limit:
                    raise _too_large(limit)
                parts.append(inflater.feed(chunk) if inflater else chunk)
            if inflater:
                parts.append(inflater.finish())
        except TooLarge:
            raise _too_large(limit) from None
        except Corrupt as exc:
            raise _Refused(
                400,
                "malformed_encoding",
                f"the body is not valid {encoding} data: {exc}",
                "content-encoding",
            ) from None
        return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that yields `body` once, then defers to the real one (disconnects)."""
    done = False

    async def replay() -> Message:
        nonlocal done
        if done:
            return await receive()
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
