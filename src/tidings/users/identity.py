"""Resolve (external id, anonymous id) pairs to users; create and merge as needed.

Rules (Segment-style):
- an anonymous id belongs to one user; identifying it with an external id claims that
  user (or merges it into the existing identified user, moving its whole history);
- an anonymous id already claimed by another identified user is never merged across:
  the request goes to the external id's user, which is a different person on a shared
  device.
Concurrency-safe: creation is INSERT .. ON CONFLICT DO NOTHING, then re-read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import dialect_insert, table_of
from tidings.devices.models import Device
from tidings.events.models import Event
from tidings.profiles import queries as profile_queries
from tidings.profiles.queries import newest_values
from tidings.users.models import AnonymousId, User


class Identity(NamedTuple):
    """Who a request names. A tuple, not a dataclass: it keys dicts per ingested event,
    and tuples hash in C."""

    external_id: str | None
    anonymous_id: str | None


@dataclass
class Resolved:
    user_id: int
    external_id: str | None
    merged_user_ids: list[int] = field(default_factory=list)


async def _user_by_external(
    s: AsyncSession, app_id: int, external_id: str
) -> tuple[int, str | None] | None:
    row = (
        await s.execute(
            select(User.id, User.external_id).where(
                User.app_id == app_id, User.external_id == external_id
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _user_by_anonymous(
    s: AsyncSession, app_id: int, anonymous_id: str
) -> tuple[int, str | None] | None:
    row = (
        await s.execute(
            select(User.id, User.external_id)
            .join(AnonymousId, AnonymousId.user_id == User.id)
            .where(AnonymousId.app_id == app_id, AnonymousId.anonymous_id == anonymous_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def _create_user(s: AsyncSession, app_id: int, external_id: str | None, now: datetime) -> int:
    values: dict[str, Any] = {
        "app_id": app_id,
        "external_id": external_id,
        "attributes": {},
        "consent": {},
        "last_values": {},
        "last_values_at": {},
        "session_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    stmt = dialect_insert(s, table_of(User)).values(**values)
    if external_id is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["app_id", "external_id"])
    new_id = (await s.execute(stmt.returning(table_of(User).c.id))).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    assert external_id is not None
    found = await _user_by_external(s, app_id, external_id)
    assert found is not None, "user vanished between conflict and re-read"
    return found[0]


async def _alias(
    s: AsyncSession, app_id: int, anonymous_id: str, user_id: int, now: datetime
) -> int:
    """Point `anonymous_id` at `user_id` unless it already points elsewhere; return the owner."""
    stmt = (
        dialect_insert(s, table_of(AnonymousId))
        .values(app_id=app_id, anonymous_id=anonymous_id, user_id=user_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["app_id", "anonymous_id"])
    )
    await s.execute(stmt)
    owner = await _user_by_anonymous(s, app_id, anonymous_id)
    assert owner is not None
    return owner[0]


async def resolve(s: AsyncSession, app_id: int, who: Identity, now: datetime) -> Resolved:
    """The user `who` names, created or merged as the rules above say."""
    ext, anon = who.external_id, who.anonymous_id
    if ext is None and anon is None:
        raise ValueError("an identity needs an external or anonymous id")
    if anon is None:
        assert ext is not None
        found = await _user_by_external(s, app_id, ext)
        return Resolved(found[0] if found else await _create_user(s, app_id, ext, now), ext)

    by_anon = await _user_by_anonymous(s, app_id, anon)
    if ext is None:
        if by_anon:
            return Resolved(by_anon[0], by_anon[1])
        user_id = await _create_user(s, app_id, None, now)
        owner = await _alias(s, app_id, anon, user_id, now)
        if owner != user_id:  # lost a race for this anonymous id: use the winner
            await s.execute(delete(User).where(User.id == user_id))
        found_anon = await _user_by_anonymous(s, app_id, anon)
        assert found_anon is not None
        return Resolved(owner, found_anon[1])

    by_ext = await _user_by_external(s, app_id, ext)
    if by_ext is None:
        if by_anon and by_anon[1] is None:
            # The anonymous user becomes this known user.
            await s.execute(
                update(User).where(User.id == by_anon[0]).values(external_id=ext, updated_at=now)
            )
            return Resolved(by_anon[0], ext)
        user_id = await _create_user(s, app_id, ext, now)
        if by_anon is None:
            await _alias(s, app_id, anon, user_id, now)
        return Resolved(user_id, ext)

    if by_anon is None:
        await _alias(s, app_id, anon, by_ext[0], now)
        return Resolved(by_ext[0], ext)
    if by_anon[0] != by_ext[0] and by_anon[1] is None:
        await merge_users(s, source_id=by_anon[0], target_id=by_ext[0], now=now)
        return Resolved(by_ext[0], ext, [by_anon[0]])
    return Resolved(by_ext[0], ext)


async def merge_users(s: AsyncSession, *, source_id: int, target_id: int, now: datetime) -> None:
    """Move everything of `source` onto `target`, then delete `source`."""
    src = await s.get(User, source_id)
    dst = await s.get(User, target_id)
    assert src is not None and dst is not None
    for table in (Event, Device, AnonymousId):
        await s.execute(update(table).where(table.user_id == source_id).values(user_id=target_id))
    await profile_queries.merge_aggregates(
        await s.connection(), source_id=source_id, target_id=target_id
    )
    # The identified user's own values win; the anonymous history fills the gaps.
    dst.attributes = {**src.attributes, **dst.attributes}
    dst.consent = {**src.consent, **dst.consent}
    dst.last_values, dst.last_values_at = newest_values(
        (dst.last_values, dst.last_values_at),
        {k: (src.last_values_at.get(k, ""), v) for k, v in src.last_values.items()},
    )
    for attr in ("locale", "timezone", "country", "region", "city", "latitude", "longitude"):
        if getattr(dst, attr) is None:
            setattr(dst, attr, getattr(src, attr))
    if src.first_seen_at and (dst.first_seen_at is None or src.first_seen_at < dst.first_seen_at):
        dst.first_seen_at = src.first_seen_at
    if src.last_seen_at and (dst.last_seen_at is None or src.last_seen_at > dst.last_seen_at):
        dst.last_seen_at = src.last_seen_at
    dst.session_count += src.session_count
    dst.created_at = min(dst.created_at, src.created_at)
    dst.updated_at = now
    await s.flush()
    await s.execute(delete(User).where(User.id == source_id))
    s.expunge(src)


def match_known(
    wanted: Iterable[Identity],
    by_external: Mapping[str, int],
    by_anonymous: Mapping[str, tuple[int, str | None]],
) -> dict[Identity, Resolved]:
    """The identities that name an existing user outright (pure).

    `by_external`: external id -> user id; `by_anonymous`: anonymous id -> (user id, its
    external id). An identity with both ids counts only when both name the same user;
    anything else (new users, claims, merges) is left out for `resolve`.
    """
    found: dict[Identity, Resolved] = {}
    for who in wanted:
        ext, anon = who.external_id, who.anonymous_id
        if anon is None and ext is not None and ext in by_external:
            found[who] = Resolved(by_external[ext], ext)
        elif ext is None and anon is not None and anon in by_anonymous:
            found[who] = Resolved(*by_anonymous[anon])
        elif (
            ext is not None
            and anon is not None
            and ext in by_external
            and anon in by_anonymous
            and by_anonymous[anon][0] == by_external[ext]
        ):
            found[who] = Resolved(by_external[ext], ext)
    return found


async def resolve_many(
    s: AsyncSession, app_id: int, identities: Iterable[Identity], now: datetime
) -> dict[Identity, Resolved]:
    """`resolve` for many identities: known users in two queries, the rest one by one."""
    wanted = set(identities)
    found: dict[Identity, Resolved] = {}
    by_ext = {w.external_id for w in wanted if w.external_id is not None}
    by_anon = {w.anonymous_id for w in wanted if w.anonymous_id is not None}
    ext_rows: dict[str, int] = {}
    anon_rows: dict[str, tuple[int, str | None]] = {}
    if by_ext:
        rows = await s.execute(
            select(User.external_id, User.id).where(
                User.app_id == app_id, User.external_id.in_(by_ext)
            )
        )
        ext_rows = {ext: uid for ext, uid in rows.all() if ext is not None}
    if by_anon:
        rows2 = await s.execute(
            select(AnonymousId.anonymous_id, User.id, User.external_id)
            .join(User, AnonymousId.user_id == User.id)
            .where(AnonymousId.app_id == app_id, AnonymousId.anonymous_id.in_(by_anon))
        )
        anon_rows = {anon: (uid, ext) for anon, uid, ext in rows2.all()}
    found.update(match_known(wanted, ext_rows, anon_rows))
    found.update(await _create_many(s, app_id, wanted - found.keys(), now))
    merged_into: dict[int, int] = {}
    for who in wanted - found.keys():
        # New users, claims and merges: the careful path, one identity at a time.
        found[who] = done = await resolve(s, app_id, who, now)
        merged_into.update({gone: done.user_id for gone in done.merged_user_ids})
    if merged_into:
        # A merge in this loop may have removed a user another identity resolved to.
        for who, res in found.items():
            while res.user_id in merged_into:
                res = Resolved(merged_into[res.user_id], res.external_id)
            found[who] = res
    return found


async def _create_many(
    s: AsyncSession, app_id: int, missing: set[Identity], now: datetime
) -> dict[Identity, Resolved]:
    """Create brand-new users named by one id only, in two statements.

    Identities with both ids (claims, merges) and anything that loses a race are left
    for `resolve`.
    """
    ext_only = sorted({w.external_id for w in missing if w.anonymous_id is None and w.external_id})
    anon_only = sorted(
        {w.anonymous_id for w in missing if w.external_id is None and w.anonymous_id}
    )
    if not ext_only and not anon_only:
        return {}
    users = table_of(User)
    blank: dict[str, Any] = {
        "app_id": app_id,
        "attributes": {},
        "consent": {},
        "last_values": {},
        "last_values_at": {},
        "session_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    created: dict[Identity, Resolved] = {}
    if ext_only:
        stmt = (
            dialect_insert(s, users)
            .on_conflict_do_nothing(index_elements=["app_id", "external_id"])
            .returning(users.c.id, users.c.external_id)
        )
        rows = await s.execute(stmt, [{**blank, "external_id": ext} for ext in ext_only])
        for uid, ext in rows.all():
            created[Identity(ext, None)] = Resolved(uid, ext)
    if anon_only:
        stmt = dialect_insert(s, users).returning(users.c.id, sort_by_parameter_order=True)
        ids = list(
            (await s.execute(stmt, [{**blank, "external_id": None} for _ in anon_only])).scalars()
        )
        aliases = dialect_insert(s, table_of(AnonymousId)).on_conflict_do_nothing(
            index_elements=["app_id", "anonymous_id"]
        )
        await s.execute(
            aliases,
            [
                {"app_id": app_id, "anonymous_id": anon, "user_id": uid, "created_at": now}
                for anon, uid in zip(anon_only, ids, strict=True)
            ],
        )
        owners = dict(
            (
                await s.execute(
                    select(AnonymousId.anonymous_id, AnonymousId.user_id).where(
                        AnonymousId.app_id == app_id, AnonymousId.anonymous_id.in_(anon_only)
                    )
                )
            ).all()
        )
        lost = [uid for anon, uid in zip(anon_only, ids, strict=True) if owners[anon] != uid]
        if lost:  # another writer created these anonymous users first: keep theirs
            await s.execute(delete(User).where(User.id.in_(lost)))
        for anon in anon_only:
            created[Identity(None, anon)] = Resolved(owners[anon], None)
    return created
