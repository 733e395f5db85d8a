"""Server routes for profile settings: which event properties profiles keep the last
value of (`last_values`, readable by audience rules and by templates as `event.*`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from tidings.context import AppContext, context
from tidings.tenancy.actions import set_app_setting
from tidings.tenancy.auth import Caller, server_reader, server_writer

router = APIRouter(prefix="/v1", tags=["server"])

SETTING = "profile_properties"
Property = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ProfileProperties(BaseModel):
    model_config = ConfigDict(extra="forbid")

    properties: Annotated[list[Property], Field(max_length=50)] = Field(
        description="Event properties whose latest value (by event time) profiles keep."
    )


def properties_of(settings: dict[str, object]) -> ProfileProperties:
    raw = settings.get(SETTING)
    return ProfileProperties(properties=[str(p) for p in raw] if isinstance(raw, list) else [])


@router.put(
    "/profile-properties", response_model=ProfileProperties, summary="Set tracked properties"
)
async def set_properties(
    body: ProfileProperties,
    caller: Caller = Depends(server_writer),
    ctx: AppContext = Depends(context),
) -> ProfileProperties:
    """Events ingested from now on (within a few seconds) keep these properties' values."""
    unique = ProfileProperties(properties=list(dict.fromkeys(body.properties)))
    await set_app_setting(ctx.db, caller.app_id, SETTING, unique.properties)
    return unique


@router.get(
    "/profile-properties", response_model=ProfileProperties, summary="Get tracked properties"
)
async def get_properties(caller: Caller = Depends(server_reader)) -> ProfileProperties:
    return properties_of(caller.settings)
