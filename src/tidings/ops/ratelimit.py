"""Rate limit (placeholder while being built)."""

from typing import Any


class RateLimitMiddleware:
    def __init__(self, app: Any, settings: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
