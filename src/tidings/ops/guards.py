"""Request guards (placeholder while being built)."""

from typing import Any


class RequestGuard:
    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
