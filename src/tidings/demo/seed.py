"""Create (or find again) the demo tenant and fill it through the real client actions.

Users are identified, their devices registered and their events tracked with the app's
write key, exactly as SDKs would, so profiles and aggregates are the real thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select, update

from tidings.context import AppContext
from tidings.demo import keyfile
from tidings.demo.generate import DemoUser
from tidings.demo.keyfile import DemoKeys
from tidings.devices.actions import register
from tidings.devices.schemas import DeviceIn
from tidings.errors import Unauthorized
from tidings.events.ingest import track
from tidings.events.schemas import MAX_EVENTS, TrackIn, TrackOut
from tidings.tenancy import actions
from tidings.tenancy.auth import Caller, authenticate
from tidings.tenancy.models import App, Workspace
from tidings.users.actions import identify
from tidings.users.schemas import IdentifyIn

DEMO_WORKSPACE = "Tidings demo"
DEMO_APP = "Demo app"
# Event properties whose last value each profile keeps (`last_values`).
PROFILE_PROPERTIES = ["plan", "app_version"]


async def _caller(ctx: AppContext, token: str) -> Caller | None:
    try:
        return await authenticate(ctx.db, token)
    except Unauthorized:
        return None


async def _new_server_key(ctx: AppContext, app_id: int) -> str:
    made = await actions.create_server_key(
        ctx.db, app_id, "demo", ["read", "write"], now=ctx.clock.now()
    )
    return made.token


async def _reuse(ctx: AppContext, stored: DemoKeys) -> DemoKeys | None:
    """The stored keys if their app is still here; a fresh server key if only it is gone."""
    writer = await _caller(ctx, stored.write_key)
    if writer is None or writer.app_id != stored.app_id:
        return None
    server = await _caller(ctx, stored.server_key)
    if server is None or server.app_id != stored.app_id:
        stored.server_key = await _new_server_key(ctx, stored.app_id)
    return stored


async def _find_demo_app(ctx: AppContext) -> DemoKeys | None:
    """The demo app of an earlier run whose keys file was lost (a new server key is minted)."""
    async with ctx.db.read() as s:
        stmt = (
            select(App)
            .join(Workspace, Workspace.id == App.workspace_id)
            .where(Workspace.name == DEMO_WORKSPACE, App.name == DEMO_APP)
            .order_by(App.id)
        )
        app = (await s.execute(stmt)).scalars().first()
    if app is None:
        return None
    try:
        secret = ctx.box.open(app.identity_secret_sealed)
    except ValueError:
        return None  # sealed under another secret key: start a fresh demo app
    token = await _new_server_key(ctx, app.id)
    return DemoKeys(app.workspace_id, app.id, app.write_key, token, secret)


async def _create(ctx: AppContext) -> DemoKeys:
    now = ctx.clock.now()
    ws = await actions.create_workspace(ctx.db, DEMO_WORKSPACE, now=now)
    made = await actions.create_app(ctx.db, ctx.box, ws, DEMO_APP, now=now)
    # No action edits app settings yet; the demo sets its tracked properties directly.
    async with ctx.db.write() as s:
        await s.execute(
            update(App)
            .where(App.id == made.app_id)
            .values(settings={"profile_properties": PROFILE_PROPERTIES})
        )
    token = await _new_server_key(ctx, made.app_id)
    return DemoKeys(ws, made.app_id, made.write_key, token, made.identity_secret)


async def ensure_tenant(ctx: AppContext, keys_path: Path) -> DemoKeys:
    """The demo workspace, app and keys: reused when they exist, created otherwise; saved."""
    stored = keyfile.load(keys_path)
    keys = await _reuse(ctx, stored) if stored is not None else None
    if keys is None:
        keys = await _find_demo_app(ctx) or await _create(ctx)
    keyfile.save(keys_path, keys)
    return keys


def _check(out: TrackOut, user: DemoUser) -> None:
    if out.rejected:
        first = next(r.error for r in out.results if r.error is not None)
        raise RuntimeError(f"demo event for {user.external_id} rejected: {first}")


async def seed_user(ctx: AppContext, caller: Caller, user: DemoUser) -> int:
    """Identify the user, register its devices, track its events; returns events stored."""
    stored = 0
    if user.anonymous_events:
        batch = TrackIn(events=list(user.anonymous_events), anonymous_id=user.anonymous_id)
        out = TrackOut.model_validate(await track(ctx, caller, batch))
        _check(out, user)
        stored += out.accepted
    await identify(ctx, caller, IdentifyIn.model_validate(user.identify))
    for device in user.devices:
        await register(ctx, caller, DeviceIn.model_validate(device))
    for start in range(0, len(user.events), MAX_EVENTS):
        chunk = user.events[start : start + MAX_EVENTS]
        batch = TrackIn(events=list(chunk), external_id=user.external_id)
        out = TrackOut.model_validate(await track(ctx, caller, batch))
        _check(out, user)
        stored += out.accepted
    return stored


async def seed(
    ctx: AppContext,
    keys: DemoKeys,
    users: Sequence[DemoUser],
    keys_path: Path,
    on_user: Callable[[int], None],
) -> None:
    """Seed `users` beyond those an earlier run completed; `on_user(events)` after each."""
    caller = await authenticate(ctx.db, keys.write_key)
    for user in users[keys.seeded_users :]:
        on_user(await seed_user(ctx, caller, user))
    if len(users) > keys.seeded_users:
        keys.seeded_users = len(users)
        keyfile.save(keys_path, keys)
