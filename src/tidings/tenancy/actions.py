"""Tenancy use-cases: create workspaces, apps, operators and keys; revoke keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from tidings.crypto import SecretBox
from tidings.db import Database
from tidings.errors import Conflict, NotFound, ValidationFailed
from tidings.tenancy import keys, passwords
from tidings.tenancy.auth import forget_cached_callers
from tidings.tenancy.models import ROLES, SCOPES, App, Operator, ServerKey, Workspace


@dataclass(frozen=True)
class CreatedApp:
    workspace_id: int
    app_id: int
    write_key: str
    identity_secret: str


@dataclass(frozen=True)
class CreatedServerKey:
    id: int
    app_id: int
    name: str
    scopes: list[str]
    token: str  # shown once; only its hash is stored


async def create_workspace(db: Database, name: str, *, now: datetime) -> int:
    async with db.write() as s:
        ws = Workspace(name=name, created_at=now)
        s.add(ws)
        await s.flush()
        return ws.id


async def create_app(
    db: Database,
    box: SecretBox,
    workspace_id: int,
    name: str,
    *,
    now: datetime,
    identity_verification: bool = False,
) -> CreatedApp:
    secret = keys.new_identity_secret()
    async with db.write() as s:
        if await s.get(Workspace, workspace_id) is None:
            raise NotFound(f"workspace {workspace_id} not found", field="workspace_id")
        app = App(
            workspace_id=workspace_id,
            name=name,
            write_key=keys.new_write_key(),
            identity_secret_sealed=box.seal(secret),
            identity_verification=identity_verification,
            settings={},
            created_at=now,
        )
        s.add(app)
        await s.flush()
        return CreatedApp(workspace_id, app.id, app.write_key, secret)


async def create_server_key(
    db: Database, app_id: int, name: str, scopes: list[str], *, now: datetime
) -> CreatedServerKey:
    bad = [scope for scope in scopes if scope not in SCOPES]
    if bad or not scopes:
        raise ValidationFailed(
            f"scopes must be a non-empty subset of {list(SCOPES)}", field="scopes"
        )
    minted = keys.new_server_key()
    async with db.write() as s:
        if await s.get(App, app_id) is None:
            raise NotFound(f"app {app_id} not found", field="app_id")
        key = ServerKey(
            app_id=app_id,
            name=name,
            prefix=minted.prefix,
            secret_hash=minted.secret_hash,
            scopes=sorted(set(scopes)),
            created_at=now,
        )
        s.add(key)
        await s.flush()
        return CreatedServerKey(key.id, app_id, name, key.scopes, minted.token)


async def revoke_server_key(db: Database, key_ref: str, *, now: datetime) -> int:
    """Revoke by id, prefix or the full token; returns the key id. Idempotent."""
    async with db.write() as s:
        parts = keys.split_server_key(key_ref)
        prefix = parts[0] if parts else key_ref
        key = (
            await s.execute(select(ServerKey).where(ServerKey.prefix == prefix))
        ).scalar_one_or_none()
        if key is None and parts is None and key_ref.isdigit():
            # Not a prefix (a prefix may be all digits too): then it is an id.
            key = await s.get(ServerKey, int(key_ref))
        if key is None:
            raise NotFound(f"no server key matches {key_ref!r}", field="key")
        if key.revoked_at is None:
            key.revoked_at = now
        return key.id


async def create_operator(
    db: Database,
    workspace_id: int,
    email: str,
    password: str,
    role: str,
    *,
    now: datetime,
    name: str = "",
) -> int:
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {list(ROLES)}", field="role")
    if "@" not in email or len(email) > 320:
        raise ValidationFailed("email is not a valid address", field="email")
    if len(password) < passwords.MIN_LENGTH:
        raise ValidationFailed(
            f"password must be at least {passwords.MIN_LENGTH} characters", field="password"
        )
    async with db.write() as s:
        taken = await s.scalar(select(func.count()).where(Operator.email == email.lower()))
        if taken:
            raise Conflict(f"an operator with email {email} already exists", field="email")
        op = Operator(
            workspace_id=workspace_id,
            email=email.lower(),
            name=name,
            password_hash=passwords.hash_password(password),
            role=role,
            created_at=now,
        )
        s.add(op)
        await s.flush()
        return op.id


async def set_app_setting(db: Database, app_id: int, key: str, value: object) -> None:
    """Store one of the app's settings (budget, tracked properties, lifecycle...); write-key
    callers cached in this process see it at once, other nodes within the cache's TTL."""
    async with db.write() as s:
        app = await s.get(App, app_id)
        if app is None:
            raise NotFound("no such app", field="authorization")
        app.settings = {**app.settings, key: value}
    forget_cached_callers()
