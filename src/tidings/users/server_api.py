"""Server routes for users (server key): list, profile, patch, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime

from tidings.context import AppContext, context
from tidings.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page
from tidings.privacy import actions as privacy
from tidings.tenancy.auth import Caller, server_reader, server_writer
from tidings.users import actions
from tidings.users.schemas import UserOut
from tidings.users.server_schemas import (
    USER_NOT_FOUND,
    UserFilters,
    UserPatchIn,
    UserProfileOut,
)

server_router = APIRouter(prefix="/v1", tags=["server"])

UserId = Annotated[int, Path(description="The user's Tidings id (`user_id` from identify).")]
Since = Annotated[AwareDatetime | None, Query(description="ISO-8601 with a zone; inclusive.")]
Until = Annotated[AwareDatetime | None, Query(description="ISO-8601 with a zone; exclusive.")]


@server_router.get("/users", response_model=Page[UserOut], summary="List users")
async def list_users(
    request: Request,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    external_id: Annotated[str | None, Query(max_length=255)] = None,
    anonymous_id: Annotated[str | None, Query(max_length=255)] = None,
    seen_after: Since = None,
    seen_before: Until = None,
    created_after: Since = None,
    q: Annotated[
        str | None, Query(max_length=255, description="Part of an external or anonymous id.")
    ] = None,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Page[UserOut]:
    """Users by id, filtered. `attr.<name>=<value>` filters on a declared attribute
    (equality; a list attribute matches when it contains the value), e.g. `attr.plan=pro`.
    `seen_*` compare `last_seen_at`."""
    filters = UserFilters(
        external_id=external_id,
        anonymous_id=anonymous_id,
        seen_after=seen_after,
        seen_before=seen_before,
        created_after=created_after,
        q=q,
    )
    return await actions.list_users(
        ctx, caller, filters, request.query_params.multi_items(), cursor=cursor, limit=limit
    )


@server_router.get(
    "/users/{user_id}",
    response_model=UserProfileOut,
    responses=USER_NOT_FOUND,
    summary="Get a user's profile",
)
async def get_user(
    user_id: UserId,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> UserProfileOut:
    """The user with attributes, consent, location and behaviour aggregates: per-event
    totals and daily counts over the last 30 days."""
    return await actions.user_profile(ctx, caller, user_id)


@server_router.patch(
    "/users/{user_id}", response_model=UserOut, responses=USER_NOT_FOUND, summary="Update a user"
)
async def update_user(
    user_id: UserId,
    body: UserPatchIn,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> UserOut:
    """Change attributes (typed; null unsets), locale, timezone, consent or location.
    One bad field rejects the whole request (422 naming it) and nothing changes."""
    return await actions.update_user(ctx, caller, user_id, body)


@server_router.delete(
    "/users/{user_id}", status_code=204, responses=USER_NOT_FOUND, summary="Delete a user"
)
async def delete_user(
    user_id: UserId,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> Response:
    """Remove the user and everything about them (the same as `POST .../erase`)."""
    await privacy.erase_user(ctx, caller, user_id)
    return Response(status_code=204)
