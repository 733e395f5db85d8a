"""CORS for client (write-key) routes only: the SDK runs on the app's origin, Tidings on another.

Write keys are public, so any origin may call these routes; no cookies are involved
(`Access-Control-Allow-Credentials` is never sent). Server routes get no CORS headers,
so a browser page cannot use a secret server key cross-origin. Pure ASGI, so ingestion
pays nothing for it beyond a path check.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLIENT_PATHS = ("/v1/track", "/v1/identify", "/v1/devices", "/v1/push/opened", "/sdk/push-key")
CLIENT_PREFIXES = ("/v1/inapp/",)
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "authorization, content-type"
# The SDK reads Retry-After to back off as the server asks.
EXPOSE_HEADERS = "retry-after"
MAX_AGE = "86400"


def is_client_path(path: str) -> bool:
    return path in CLIENT_PATHS or path.startswith(CLIENT_PREFIXES)


class ClientCors:
    """Answers preflights for client routes and marks their responses readable cross-origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_client_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = Headers(scope=scope).get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                        (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                        (b"access-control-max-age", MAX_AGE.encode()),
                        (b"vary", b"origin"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", b"*"))
                headers.append((b"access-control-expose-headers", EXPOSE_HEADERS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)
