"""The HTTP ceiling: the same server stack (Starlette on uvicorn) parsing the same JSON,
storing nothing. Run with `uvicorn bench.ceiling_app:app`."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def track(request: Request) -> Response:
    body = json.loads(await request.body())
    return Response(b'{"accepted":%d}' % len(body["events"]), media_type="application/json")


app = Starlette(routes=[Route("/v1/track", track, methods=["POST"])])
