"""SDK hot routes answered without FastAPI's per-request machinery.

A session-start decision is the request every user makes; FastAPI's routing, dependency
solving and its own inner middleware cost more than a small decision (bench/decide.py:
the same stack answering a constant ran at a quarter of a bare Starlette app). A
`JsonPost` route does the same work by hand (read the body, validate it with the route's
pydantic model, the one access check, the use-case, orjson out) and sits in front of the
documented FastAPI route of the same path, which still gives the OpenAPI schema. Every
middleware (CORS, metrics, rate limit, guards) and error handler applies as before:
errors are raised, not answered here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tidings.context import AppContext
from tidings.errors import from_validation_errors
from tidings.tenancy.auth import Caller, client_caller

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[AppContext, Caller, M], Awaitable[Any]]

_JSON_HEADERS = [(b"content-type", b"application/json")]


class _Endpoint(Generic[M]):
    """The ASGI app behind a JsonPost route (a plain callable object, so Starlette hands
    it scope, receive and send instead of wrapping it as a request handler)."""

    def __init__(self, route: Route, model: type[M], handler: Handler[M]) -> None:
        self.route = route
        self.model = model
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What FastAPI's route would add: metrics label requests by route template.
        scope["route"] = self.route
        request = Request(scope, receive)
        caller = await client_caller(request)
        body = await request.body()
        if not body:
            raise from_validation_errors(
                [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
            )
        try:
            parsed = self.model.model_validate_json(body)
        except ValidationError as exc:
            raise from_validation_errors(exc.errors()) from None
        ctx: AppContext = scope["app"].state.ctx
        payload = orjson.dumps(await self.handler(ctx, caller, parsed), option=orjson.OPT_UTC_Z)
        headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


class JsonPost(Route, Generic[M]):
    """`POST path` with a JSON body of `model`, for client (write key) callers; the
    handler's plain JSON-ready result is the 200 response."""

    def __init__(self, path: str, model: type[M], handler: Handler[M]) -> None:
        super().__init__(path, endpoint=_Endpoint(self, model, handler), methods=["POST"])
        self.include_in_schema = False
