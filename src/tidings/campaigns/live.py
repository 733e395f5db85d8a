"""One SSE connection: on each campaign going live, the user's decision for it is sent.

Events: `ready` once subscribed, `message` with a decided message (same shape as in the
decision endpoint), and a comment line every KEEPALIVE seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request

from tidings.campaigns.client_schemas import DecideIn
from tidings.campaigns.decisions import decide_for
from tidings.campaigns.stream import hub
from tidings.context import AppContext
from tidings.tenancy.auth import Caller

KEEPALIVE = 15.0


def _event(name: str, data: object) -> bytes:
    payload = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


async def events(
    ctx: AppContext, caller: Caller, who: DecideIn, request: Request
) -> AsyncIterator[bytes]:
    queue = hub.subscribe(caller.app_id)
    try:
        yield _event("ready", {"session_id": who.session_id})
        while True:
            try:
                campaign_id = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keepalive\n\n"
                continue
            decision = await decide_for(ctx, caller, who)
            for m in decision["messages"]:
                if m["campaign_id"] == campaign_id:
                    yield _event("message", m)
    finally:
        hub.unsubscribe(caller.app_id, queue)
