"""The one access check: who is calling, with which key, for which app.

Keys travel as `Authorization: Bearer <key>`. A write key (public, in SDKs) may only use
client routes; a server key (secret) may use server routes within its scopes, and client
routes too when it has the `write` scope (backend tracking).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from tidings.db import Database
from tidings.errors import Forbidden, Unauthorized
from tidings.refreshes import Refreshes
from tidings.tenancy import keys, queries

KeyKind = Literal["write", "server"]


@dataclass(frozen=True)
class Caller:
    app_id: int
    workspace_id: int
    kind: KeyKind
    scopes: frozenset[str]
    key_id: int | None  # server key id; None for the write key
    identity_secret_sealed: str
    identity_verification: bool
    settings: dict[str, object]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "missing API key: send `Authorization: Bearer <key>`", field="authorization"
        )
    return token.strip()


# Write keys are public and never revoked, and every SDK request carries one: their
# callers are kept briefly so ingestion does not pay a database read per request (which
# measured as the largest cost under load). App settings changes made on another node
# reach them within TTL plus one background read; made here, at once.
# Server keys are not cached, so a revocation takes effect on the next request.
WRITE_KEY_TTL = 5.0
_WRITE_KEY_CACHE_MAX = 10_000
_write_keys: dict[str, tuple[float, Caller]] = {}
# Bumped by `forget_cached_callers`: reads that began before a change do not store theirs.
_generation = 0
_refreshes: Refreshes[str] = Refreshes()


def forget_cached_callers() -> None:
    """Drop cached write-key callers (after changing an app's settings in this process);
    a read already under way does not store what it found."""
    global _generation
    _generation += 1
    _write_keys.clear()


async def authenticate(db: Database, token: str) -> Caller:
    """Resolve a key to its caller, or raise 401 for an unknown or revoked key."""
    if token.startswith(keys.WRITE_KEY_PREFIX):
        cached = _write_keys.get(token)
        if cached is None:
            return await _remember(db, token)
        # Past the TTL the cached caller still answers while one task reads it again.
        if time.monotonic() - cached[0] >= WRITE_KEY_TTL:
            _refreshes.start(token, lambda: _refresh(db, token))
        return cached[1]
    return await _authenticate(db, token)


async def _remember(db: Database, token: str) -> Caller:
    now = time.monotonic()
    generation = _generation
    caller = await _authenticate(db, token)
    if generation == _generation:
        if len(_write_keys) >= _WRITE_KEY_CACHE_MAX:
            _write_keys.clear()
        _write_keys[token] = (now, caller)
    return caller


async def _refresh(db: Database, token: str) -> None:
    try:
        await _remember(db, token)
    except Exception:
        # The next request reads the key itself and answers its own error (401, 503).
        _write_keys.pop(token, None)


async def _authenticate(db: Database, token: str) -> Caller:
    async with db.read() as s:
        if token.startswith(keys.WRITE_KEY_PREFIX):
            app = await queries.app_by_write_key(s, token)
            if app is None:
                raise Unauthorized("unknown write key", field="authorization")
            return Caller(
                app.id,
                app.workspace_id,
                "write",
                frozenset({"write"}),
                None,
                app.identity_secret_sealed,
                app.identity_verification,
                app.settings,
            )
        parts = keys.split_server_key(token)
        if parts is None:
            raise Unauthorized("malformed API key", field="authorization")
        key = await queries.server_key_by_prefix(s, parts[0])
        if key is None or not keys.server_key_matches(parts[1], key.secret_hash):
            raise Unauthorized("unknown server key", field="authorization")
        if key.revoked_at is not None:
            raise Unauthorized(
                "this server key was revoked", field="authorization", code="key_revoked"
            )
        app = await queries.get_app(s, key.app_id)
        if app is None:
            raise Unauthorized("unknown server key", field="authorization")
        return Caller(
            app.id,
            app.workspace_id,
            "server",
            frozenset(key.scopes),
            key.id,
            app.identity_secret_sealed,
            app.identity_verification,
            app.settings,
        )


def database(request: Request) -> Database:
    db: Database = request.app.state.ctx.db
    return db


async def client_caller(request: Request) -> Caller:
    """Dependency for client (SDK) routes: a write key, or a server key with `write`."""
    caller = await authenticate(database(request), _bearer(request))
    if caller.kind == "server" and "write" not in caller.scopes:
        raise Forbidden("this server key lacks the `write` scope", field="authorization")
    request.state.caller = caller
    return caller


async def _server_caller(request: Request, scope: str) -> Caller:
    caller = await authenticate(database(request), _bearer(request))
    if caller.kind != "server":
        raise Forbidden(
            "a write key cannot call server routes; use a server key",
            field="authorization",
            code="wrong_key_type",
        )
    if scope not in caller.scopes:
        raise Forbidden(f"this server key lacks the `{scope}` scope", field="authorization")
    request.state.caller = caller
    return caller


async def server_reader(request: Request) -> Caller:
    """Dependency for server routes that read."""
    return await _server_caller(request, "read")


async def server_writer(request: Request) -> Caller:
    """Dependency for server routes that change data."""
    return await _server_caller(request, "write")
