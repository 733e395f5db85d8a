"""Device use-cases: register or update a device and its push address.

One address belongs to one device: registering an address already held by another device
of the app takes it from that device (the newer registration survives). Concurrent
registrations of the same address are serialized (PostgreSQL: a transaction-scoped
advisory lock on the address; SQLite: the single writer), so two devices never both end
up active on it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.context import AppContext
from tidings.db import dialect_insert, dialect_name, table_of
from tidings.devices import push_address
from tidings.devices.models import Device
from tidings.devices.schemas import FACTS, DeviceIn, DeviceOut
from tidings.errors import NotFound, ValidationFailed
from tidings.tenancy.auth import Caller
from tidings.users.actions import apply_location
from tidings.users.identity import Identity, resolve
from tidings.users.models import User
from tidings.users.verification import must_verify, verify

_devices = table_of(Device)
LOCATION_FIELDS = ("latitude", "longitude", "country", "region", "city")
MOVED = "moved_to_another_device"


def checked_push(body: DeviceIn) -> push_address.PushAddress | None:
    """The request's push address, validated; 422 naming the field (e.g. `push.address`)."""
    if body.push is None:
        return None
    try:
        return push_address.parse(body.push.provider, body.push.address, body.platform)
    except push_address.PushAddressError as exc:
        raise ValidationFailed(exc.message, field=f"push.{exc.field}", code=exc.code) from exc


async def register(ctx: AppContext, caller: Caller, body: DeviceIn) -> DeviceOut:
    """Create or update `body.device_id` for the user the request names."""
    verify(caller, ctx.box, body.external_id, body.user_hash)
    address = checked_push(body)
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        if address is not None:
            # First, before any row lock, so lock order is always address -> rows.
            await _lock_address(s, address)
        resolved = await resolve(
            s, caller.app_id, Identity(body.external_id, body.anonymous_id), now
        )
        if body.external_id is None and must_verify(caller):
            # An anonymous id that already belongs to a known user is that user's identity.
            verify(caller, ctx.box, resolved.external_id, body.user_hash)
        device = await _device_for_update(s, caller.app_id, body, resolved.user_id, now)
        _apply_facts(device, body, now)
        if "push" in body.model_fields_set:
            await _set_push(s, device, address, now)
        elif device.push_active:
            _check_kept_push(device)
        user = await s.get(User, resolved.user_id)
        if user is None:
            raise NotFound("user not found", field="external_id")
        _touch_user(user, device, now)
        await s.flush()
        return DeviceOut.of(device)


async def _lock_address(s: AsyncSession, address: push_address.PushAddress) -> None:
    """Serialize registrations of one address until this transaction ends (PostgreSQL)."""
    if dialect_name(s) != "postgresql":
        return  # SQLite has one writer at a time already
    key = int.from_bytes(bytes.fromhex(address.key_hash[:16]), "big", signed=True)
    await s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def _device_for_update(
    s: AsyncSession, app_id: int, body: DeviceIn, user_id: int, now: datetime
) -> Device:
    """The device row for `body.device_id`, created if new, locked, and owned by `user_id`."""
    await s.execute(
        dialect_insert(s, _devices)
        .values(
            app_id=app_id,
            user_id=user_id,
            device_id=body.device_id,
            platform=body.platform,
            push_active=False,
            created_at=now,
            last_seen_at=now,
        )
        .on_conflict_do_nothing(index_elements=["app_id", "device_id"])
    )
    stmt = (
        select(Device)
        .where(Device.app_id == app_id, Device.device_id == body.device_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    device = (await s.execute(stmt)).scalar_one()
    # A device follows whoever uses it now (logout, then login as someone else).
    device.user_id = user_id
    return device


def _apply_facts(device: Device, body: DeviceIn, now: datetime) -> None:
    """Set the facts the request carries; omitted ones keep their value, null clears."""
    given = body.model_fields_set
    device.platform = body.platform
    for name in FACTS:
        if name in given:
            setattr(device, name, getattr(body, name))
    if "screen" in given:
        device.screen_width = body.screen.width if body.screen else None
        device.screen_height = body.screen.height if body.screen else None
    if "location" in given:
        # A location is one reading: a new one replaces every part of the old.
        fields = body.location.model_dump() if body.location else {}
        apply_location(device, {key: fields.get(key) for key in LOCATION_FIELDS})
    device.last_seen_at = now


async def _set_push(
    s: AsyncSession, device: Device, address: push_address.PushAddress | None, now: datetime
) -> None:
    device.push_updated_at = now
    device.push_invalid_reason = None
    if address is None:
        device.push_provider = device.push_address = device.push_address_hash = None
        device.push_active = False
        return
    await s.execute(
        update(_devices)
        .where(
            _devices.c.app_id == device.app_id,
            _devices.c.push_provider == address.provider,
            _devices.c.push_address_hash == address.key_hash,
            _devices.c.id != device.id,
        )
        .values(
            push_address=None,
            push_address_hash=None,
            push_active=False,
            push_invalid_reason=MOVED,
            push_updated_at=now,
        )
    )
    device.push_provider = address.provider
    device.push_address = address.text
    device.push_address_hash = address.key_hash
    device.push_active = True


def _check_kept_push(device: Device) -> None:
    """A kept active address must still reach the device if its platform changed."""
    assert device.push_provider is not None
    try:
        push_address.check_platform(device.push_provider, device.platform)
    except push_address.PushAddressError as exc:
        raise ValidationFailed(
            f"{exc.message}; send a new `push` or `push: null` with the new platform",
            field="platform",
            code=exc.code,
        ) from exc


def _touch_user(user: User, device: Device, now: datetime) -> None:
    """The user was just seen; the device's locale, timezone, location fill the user's gaps."""
    if user.last_seen_at is None or user.last_seen_at < now:
        user.last_seen_at = now
    if user.first_seen_at is None:
        user.first_seen_at = now
    if user.locale is None and device.locale is not None:
        user.locale = device.locale
    if user.timezone is None and device.timezone is not None:
        user.timezone = device.timezone
    if all(getattr(user, key) is None for key in LOCATION_FIELDS):
        apply_location(user, {key: getattr(device, key) for key in LOCATION_FIELDS})
    user.updated_at = now
