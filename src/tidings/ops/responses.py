"""Error responses sent straight from ASGI middleware, in the one error body shape.

Middleware runs outside FastAPI's exception handlers, so it writes
`{"error": {"code", "message", "field"}}` itself, exactly as `tidings.errors` does.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.types import Send


def error_body(code: str, message: str, field: str | None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "field": field}})


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    field: str | None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete JSON error response."""
    body = error_body(code, message, field)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
