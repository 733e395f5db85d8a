"""Privacy routes (server key): GDPR erase and export of one user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from tidings.context import AppContext, context
from tidings.privacy import actions
from tidings.privacy.schemas import ErasedOut, UserExportOut
from tidings.tenancy.auth import Caller, server_reader, server_writer
from tidings.users.server_schemas import USER_NOT_FOUND

router = APIRouter(prefix="/v1", tags=["server"])

UserId = Annotated[int, Path(description="The user's Tidings id.")]


@router.post(
    "/users/{user_id}/erase",
    response_model=ErasedOut,
    responses=USER_NOT_FOUND,
    summary="Erase a user (GDPR)",
)
async def erase(
    user_id: UserId,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> ErasedOut:
    """Delete the user and everything about them in every table; returns rows removed
    per table. Dropped events whose excerpt names the user's ids are deleted too."""
    return await actions.erase_user(ctx, caller, user_id)


@router.get(
    "/users/{user_id}/export",
    response_model=UserExportOut,
    responses=USER_NOT_FOUND,
    summary="Export a user (GDPR)",
)
async def export(
    user_id: UserId,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> UserExportOut:
    """One JSON document with the user, anonymous ids, attributes, devices, every event
    and the behaviour aggregates; nothing about any other user."""
    return await actions.export_user(ctx, caller, user_id)
