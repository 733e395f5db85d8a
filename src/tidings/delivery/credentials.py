"""Provider credentials per app: validated on save, sealed with SecretBox, shown redacted.

The secret parts (service-account key, .p8 key, VAPID private key, MQTT password) are
only ever in the sealed column; responses and logs see `summary`, which never holds them.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CursorResult, delete, select

from tidings.context import AppContext
from tidings.db import dialect_insert, table_of
from tidings.delivery.models import PushCredential
from tidings.delivery.providers import apns, fcm, webpush
from tidings.errors import NotFound, ValidationFailed

Provider = Literal["fcm", "apns", "webpush", "mqtt"]


class FcmIn(BaseModel):
    """A Firebase service-account key file, as an object or as its JSON text."""

    model_config = ConfigDict(extra="forbid")
    service_account: dict[str, Any] | str
    api_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#\s]+$",
        description="FCM's origin; only for proxies and fakes (default https://fcm.googleapis.com).",
    )


class ApnsIn(BaseModel):
    """An APNs auth key (.p8 contents) with its key id, team id and bundle id."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=10_000)
    key_id: str = Field(min_length=10, max_length=10)
    team_id: str = Field(min_length=10, max_length=10)
    topic: str = Field(min_length=1, max_length=255)
    environment: Literal["production", "sandbox"] = "production"
    api_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#\s]+$",
        description="APNs' origin; only for proxies and fakes (default: by `environment`).",
    )


class WebPushIn(BaseModel):
    """VAPID contact (`mailto:` or `https:`); a key pair is generated unless given."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=8, max_length=255)
    private_key: str | None = Field(None, max_length=10_000)


class MqttIn(BaseModel):
    """The MQTT broker for in-device messages."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=1000)


class CredentialOut(BaseModel):
    """What is stored, without any secret."""

    provider: Provider
    summary: dict[str, Any]
    created_at: str
    updated_at: str


class CredentialList(BaseModel):
    data: list[CredentialOut]


def _fcm(body: FcmIn) -> tuple[dict[str, Any], dict[str, Any]]:
    info = body.service_account
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            raise ValidationFailed(
                "service_account is not valid JSON", field="service_account"
            ) from None
        if not isinstance(info, dict):
            raise ValidationFailed("service_account must be a JSON object", field="service_account")
    try:
        fcm.load_service_account(info)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="service_account") from None
    summary = {
        "project_id": info["project_id"],
        "client_email": info["client_email"],
        "private_key_id": info.get("private_key_id"),
    }
    if body.api_url:
        info = {**info, "api_url": body.api_url}
        summary["api_url"] = body.api_url
    return info, summary


def _apns(body: ApnsIn) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        apns.load_p8(body.key)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="key") from None
    secret = body.model_dump()
    summary = {k: secret[k] for k in ("key_id", "team_id", "topic", "environment")}
    if body.api_url:
        summary["api_url"] = body.api_url
    return secret, summary


def _webpush(body: WebPushIn) -> tuple[dict[str, Any], dict[str, Any]]:
    if not body.subject.startswith(("mailto:", "https://")):
        raise ValidationFailed("subject must be a mailto: or https: URI", field="subject")
    if body.private_key is None:
        keys = webpush.generate_vapid_keys()
    else:
        try:
            key = webpush.load_vapid_private_key(body.private_key)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="private_key") from None
        keys = webpush.VapidKeys(
            body.private_key, webpush.b64u(webpush._public_bytes(key.public_key()))
        )
    secret = {"subject": body.subject, "private_key": keys.private_pem}
    return secret, {"subject": body.subject, "public_key": keys.public_key}


def _mqtt(body: MqttIn) -> tuple[dict[str, Any], dict[str, Any]]:
    secret = body.model_dump()
    summary = {"host": body.host, "port": body.port, "username": body.username}
    summary["has_password"] = body.password is not None
    return secret, summary


def _out(row: PushCredential) -> CredentialOut:
    return CredentialOut(
        provider=row.provider,
        summary=row.summary,
        created_at=row.created_at.isoformat(),
        updated_at=row.updated_at.isoformat(),
    )


async def save(
    ctx: AppContext, app_id: int, provider: Provider, body: FcmIn | ApnsIn | WebPushIn | MqttIn
) -> CredentialOut:
    """Validate, seal and upsert one provider's credentials; 422 names the bad field."""
    if isinstance(body, FcmIn):
        secret, summary = _fcm(body)
    elif isinstance(body, ApnsIn):
        secret, summary = _apns(body)
    elif isinstance(body, WebPushIn):
        secret, summary = _webpush(body)
    else:
        secret, summary = _mqtt(body)
    sealed = ctx.box.seal(json.dumps(secret))
    now = ctx.clock.now()
    table = table_of(PushCredential)
    async with ctx.db.write() as session:
        stmt = dialect_insert(session, table).values(
            app_id=app_id,
            provider=provider,
            sealed=sealed,
            summary=summary,
            created_at=now,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["app_id", "provider"],
            set_={"sealed": sealed, "summary": summary, "updated_at": now},
        )
        await session.execute(stmt)
        row = (
            await session.execute(
                select(PushCredential).where(
                    PushCredential.app_id == app_id, PushCredential.provider == provider
                )
            )
        ).scalar_one()
        return _out(row)


async def describe(
    ctx: AppContext, app_id: int, provider: str | None = None
) -> list[CredentialOut]:
    """Redacted credentials of an app (one provider, or all)."""
    query = select(PushCredential).where(PushCredential.app_id == app_id)
    if provider is not None:
        query = query.where(PushCredential.provider == provider)
    async with ctx.db.read() as session:
        rows = (await session.execute(query.order_by(PushCredential.provider))).scalars().all()
    return [_out(r) for r in rows]


async def remove(ctx: AppContext, app_id: int, provider: str) -> None:
    """Forget one provider's credentials; 404 if none were set."""
    async with ctx.db.write() as session:
        result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
            delete(PushCredential).where(
                PushCredential.app_id == app_id, PushCredential.provider == provider
            )
        )
    if not result.rowcount:
        raise NotFound(f"no {provider} credentials are set", field="provider")


async def open_secret(ctx: AppContext, app_id: int, provider: str) -> dict[str, Any] | None:
    """The unsealed credential JSON for senders (never for responses); None if unset."""
    async with ctx.db.read() as session:
        sealed = (
            await session.execute(
                select(PushCredential.sealed).where(
                    PushCredential.app_id == app_id, PushCredential.provider == provider
                )
            )
        ).scalar_one_or_none()
    if sealed is None:
        return None
    secret: dict[str, Any] = json.loads(ctx.box.open(sealed))
    return secret
