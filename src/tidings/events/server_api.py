"""Server routes for events (server key): a user's events, and the app's dropped events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime

from tidings.context import AppContext, context
from tidings.events import queries
from tidings.events.server_schemas import DroppedEventOut, EventOut
from tidings.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Page,
    decode_time_cursor,
    paginate,
)
from tidings.tenancy.auth import Caller, server_reader
from tidings.users.actions import owned_user
from tidings.users.server_schemas import USER_NOT_FOUND

server_router = APIRouter(prefix="/v1", tags=["server"])

EVENTS_CURSOR = "events"
DROPPED_CURSOR = "dropped_events"
Since = Annotated[AwareDatetime | None, Query(description="ISO-8601 with a zone; inclusive.")]
Until = Annotated[AwareDatetime | None, Query(description="ISO-8601 with a zone; exclusive.")]


@server_router.get(
    "/users/{user_id}/events",
    response_model=Page[EventOut],
    responses=USER_NOT_FOUND,
    summary="List a user's events",
)
async def user_events(
    user_id: Annotated[int, Path(description="The user's Tidings id.")],
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    since: Since = None,
    until: Until = None,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Page[EventOut]:
    """The user's events, newest first (by corrected timestamp); `since`/`until` bound it."""
    after = decode_time_cursor(EVENTS_CURSOR, cursor) if cursor is not None else None
    async with ctx.db.read() as s:
        user = await owned_user(s, caller.app_id, user_id)
        rows = await queries.user_events(
            s,
            caller.app_id,
            user.id,
            name=name,
            since=since,
            until=until,
            after=after,
            limit=limit + 1,
        )
    events, next_cursor = paginate(rows, limit, EVENTS_CURSOR, lambda e: (e.timestamp, e.id))
    return Page[EventOut](
        data=[EventOut.model_validate(e) for e in events], next_cursor=next_cursor
    )


@server_router.get(
    "/dropped-events", response_model=Page[DroppedEventOut], summary="List dropped events"
)
async def dropped_events(
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    code: Annotated[str | None, Query(max_length=40, description="e.g. invalid")] = None,
    since: Since = None,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Page[DroppedEventOut]:
    """Events refused at ingestion, newest first, with the reason and the raw excerpt,
    so operators can see why events were dropped."""
    after = decode_time_cursor(DROPPED_CURSOR, cursor) if cursor is not None else None
    async with ctx.db.read() as s:
        rows = await queries.dropped_events(
            s, caller.app_id, code=code, since=since, after=after, limit=limit + 1
        )
    dropped, next_cursor = paginate(rows, limit, DROPPED_CURSOR, lambda d: (d.received_at, d.id))
    return Page[DroppedEventOut](
        data=[DroppedEventOut.model_validate(d) for d in dropped], next_cursor=next_cursor
    )
