"""Server routes to set, show (redacted) and delete an app's push provider credentials."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from tidings.context import AppContext, context
from tidings.delivery import credentials
from tidings.delivery.credentials import (
    ApnsIn,
    CredentialList,
    CredentialOut,
    FcmIn,
    MqttIn,
    Provider,
    WebPushIn,
)
from tidings.errors import NotFound
from tidings.tenancy.auth import Caller, server_reader, server_writer

router = APIRouter(prefix="/v1/push/credentials", tags=["server"])


@router.put("/fcm", response_model=CredentialOut, summary="Set FCM credentials")
async def put_fcm(
    body: FcmIn, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> CredentialOut:
    """A service-account key file; a bad file is a 422 on `service_account`."""
    return await credentials.save(ctx, caller.app_id, "fcm", body)


@router.put("/apns", response_model=CredentialOut, summary="Set APNs credentials")
async def put_apns(
    body: ApnsIn, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> CredentialOut:
    """A .p8 auth key with key id, team id and topic; a bad key is a 422 on `key`."""
    return await credentials.save(ctx, caller.app_id, "apns", body)


@router.put("/webpush", response_model=CredentialOut, summary="Set Web Push (VAPID) keys")
async def put_webpush(
    body: WebPushIn, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> CredentialOut:
    """Generates a VAPID key pair unless `private_key` is given; `summary.public_key` is
    the browsers' `applicationServerKey`."""
    return await credentials.save(ctx, caller.app_id, "webpush", body)


@router.put("/mqtt", response_model=CredentialOut, summary="Set the MQTT broker")
async def put_mqtt(
    body: MqttIn, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> CredentialOut:
    return await credentials.save(ctx, caller.app_id, "mqtt", body)


@router.get("", response_model=CredentialList, summary="List push credentials (redacted)")
async def list_credentials(
    caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> CredentialList:
    return CredentialList(data=await credentials.describe(ctx, caller.app_id))


@router.get("/{provider}", response_model=CredentialOut, summary="Show push credentials")
async def get_credentials(
    provider: Provider, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> CredentialOut:
    """Redacted: ids and public keys only, never a private key."""
    found = await credentials.describe(ctx, caller.app_id, provider)
    if not found:
        raise NotFound(f"no {provider} credentials are set", field="provider")
    return found[0]


@router.delete("/{provider}", status_code=204, summary="Delete push credentials")
async def delete_credentials(
    provider: Provider, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> Response:
    await credentials.remove(ctx, caller.app_id, provider)
    return Response(status_code=204)
