"""Segment use-cases: save (validated), estimate, export, explain; unsaved rules too.

A rule is checked against the app's declared attribute types and its other segments
every time it is used, so a reference always means the referenced segment as it is now.
An invalid rule is a 422 naming the JSON path of the bad node; it is never evaluated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.context import AppContext
from tidings.db import dialect_name
from tidings.errors import Conflict, NotFound, ValidationFailed
from tidings.profiles.loader import load_profile
from tidings.segments import queries
from tidings.segments.models import Segment
from tidings.segments.schemas import (
    EstimateOut,
    Explanation,
    Member,
    MemberPage,
    RuleValidated,
    SegmentIn,
    SegmentList,
    SegmentOut,
    SegmentPatch,
)
from tidings.targeting import Rule, RuleError, check_rule, parse_rule, sql
from tidings.targeting.explain import explain
from tidings.targeting.rules import dump
from tidings.targeting.walk import segment_ids, unexpanded
from tidings.tenancy.auth import Caller
from tidings.users.queries import declared_types

PAGE_MAX = 1000


def _invalid(exc: RuleError) -> ValidationFailed:
    return ValidationFailed(exc.message, field=exc.path, code=exc.code)


async def checked_rule(
    s: AsyncSession, app_id: int, raw: Any, *, segment_id: int | None = None, root: str = "rule"
) -> Rule:
    """`raw` parsed, checked and expanded for this app; 422 naming the bad node."""
    try:
        rule = parse_rule(raw, root=root)
        stored = await queries.stored_rules(s, app_id)
        others = {
            sid: parse_rule(text, root=f"segment {sid}")
            for sid, text in stored.items()
            if sid != segment_id
        }
        return check_rule(
            rule, await declared_types(s, app_id), others, segment_id=segment_id, root=root
        )
    except RuleError as exc:
        raise _invalid(exc) from exc


def _out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        rule=segment.rule,
        version=segment.version,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


async def create_segment(ctx: AppContext, caller: Caller, body: SegmentIn) -> SegmentOut:
    now = ctx.clock.now()
    async with ctx.db.write() as s:
        rule = await checked_rule(s, caller.app_id, body.rule)
        if await queries.name_taken(s, caller.app_id, body.name, besides=None):
            raise Conflict(f"a segment named {body.name!r} exists", field="name")
        segment = Segment(
            app_id=caller.app_id,
            name=body.name,
            description=body.description,
            rule=dump(unexpanded(rule)),
            version=1,
            created_at=now,
            updated_at=now,
        )
        s.add(segment)
        await _flush_named(s, body.name)
        return _out(segment)


async def _flush_named(s: AsyncSession, name: str) -> None:
    # The name check above is atomic on SQLite (one writer); on PostgreSQL two concurrent
    # saves can both pass it, and the unique constraint decides.
    try:
        await s.flush()
    except IntegrityError as exc:
        raise Conflict(f"a segment named {name!r} exists", field="name") from exc


async def _owned(s: AsyncSession, caller: Caller, segment_id: int) -> Segment:
    segment = await queries.get_segment(s, caller.app_id, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}", field="segment_id")
    return segment


async def get_segment(ctx: AppContext, caller: Caller, segment_id: int) -> SegmentOut:
    async with ctx.db.read() as s:
        return _out(await _owned(s, caller, segment_id))


async def list_segments(
    ctx: AppContext, caller: Caller, *, cursor: str | None, limit: int
) -> SegmentList:
    after = _cursor(cursor)
    async with ctx.db.read() as s:
        rows = await queries.list_segments(s, caller.app_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return SegmentList(
        data=[_out(r) for r in rows], next_cursor=str(rows[-1].id) if more and rows else None
    )


async def update_segment(
    ctx: AppContext, caller: Caller, segment_id: int, patch: SegmentPatch
) -> SegmentOut:
    async with ctx.db.write() as s:
        segment = await _owned(s, caller, segment_id)
        if patch.name is not None and patch.name != segment.name:
            if await queries.name_taken(s, caller.app_id, patch.name, besides=segment_id):
                raise Conflict(f"a segment named {patch.name!r} exists", field="name")
            segment.name = patch.name
        if patch.description is not None:
            segment.description = patch.description
        if patch.rule is not None:
            rule = await checked_rule(s, caller.app_id, patch.rule, segment_id=segment_id)
            segment.rule = dump(unexpanded(rule))
            segment.version += 1
        segment.updated_at = ctx.clock.now()
        await _flush_named(s, segment.name)
        return _out(segment)


async def delete_segment(ctx: AppContext, caller: Caller, segment_id: int) -> None:
    """Delete; a segment other segments refer to is a 409 naming them."""
    async with ctx.db.write() as s:
        segment = await _owned(s, caller, segment_id)
        users_of = []
        for sid, text in (await queries.stored_rules(s, caller.app_id)).items():
            if sid != segment_id and segment_id in segment_ids(parse_rule(text)):
                users_of.append(sid)
        if users_of:
            raise Conflict(
                f"segment {segment_id} is used by segment(s) {sorted(users_of)}",
                field="segment_id",
                code="segment_in_use",
            )
        referrers = await _referring_tables(s, segment_id)
        if referrers:
            raise Conflict(
                f"segment {segment_id} is used by {', '.join(referrers)}",
                field="segment_id",
                code="segment_in_use",
            )
        await s.delete(segment)


async def _referring_tables(s: AsyncSession, segment_id: int) -> list[str]:
    """Tables with rows pointing at the segment by foreign key (campaigns, later rooms).

    Found from the schema, so a room added later is covered without touching this one.
    """
    from tidings.tables import metadata

    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "segments" for fk in column.foreign_keys):
                count = await s.scalar(
                    sa.select(sa.func.count()).select_from(table).where(column == segment_id)
                )
                if count:
                    found.append(f"{count} {table.name} row(s)")
    return found


async def _segment_rule(s: AsyncSession, caller: Caller, segment_id: int) -> Rule:
    segment = await _owned(s, caller, segment_id)
    return await checked_rule(s, caller.app_id, segment.rule, segment_id=segment_id)


async def estimate(
    ctx: AppContext, caller: Caller, segment_id: int | None, raw: Any, sample_size: int
) -> EstimateOut:
    """Members counted and sampled now (a saved segment, or an unsaved rule)."""
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        rule = (
            await _segment_rule(s, caller, segment_id)
            if segment_id is not None
            else await checked_rule(s, caller.app_id, raw)
        )
        await sql.prepare(s)
        query = _members(s, caller.app_id, rule, now)
        total = await queries.count(s, query)
        picked = await queries.sample(s, query, sample_size)
    return EstimateOut(
        segment_id=segment_id,
        count=total,
        sample=[Member(id=i, external_id=e) for i, e in picked],
        evaluated_at=now,
    )


def _members(s: AsyncSession, app_id: int, rule: Rule, now: datetime) -> Any:
    return queries.members(app_id, sql.condition(rule, dialect=dialect_name(s), now=now))


def _cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise ValidationFailed("not a cursor from a previous page", field="cursor")
    return int(cursor)


async def member_page(
    ctx: AppContext, caller: Caller, segment_id: int, *, cursor: str | None, limit: int
) -> MemberPage:
    after = _cursor(cursor)
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        rule = await _segment_rule(s, caller, segment_id)
        await sql.prepare(s)
        rows = await queries.page(
            s, _members(s, caller.app_id, rule, now), after=after, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return MemberPage(
        data=[Member(id=i, external_id=e) for i, e in rows],
        next_cursor=str(rows[-1][0]) if more and rows else None,
    )


async def stream_members(
    ctx: AppContext, caller: Caller, segment_id: int, *, cursor: str | None
) -> AsyncIterator[bytes]:
    """Every member from `cursor` on, as JSON lines, fetched in keyset batches.

    The rule is checked before the first byte so an invalid rule is still a clean 422.
    """
    after = _cursor(cursor)
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        rule = await _segment_rule(s, caller, segment_id)

    async def lines() -> AsyncIterator[bytes]:
        last = after
        while True:
            async with ctx.db.read() as s:
                await sql.prepare(s)
                rows = await queries.page(
                    s, _members(s, caller.app_id, rule, now), after=last, limit=PAGE_MAX
                )
            if not rows:
                return
            yield b"".join(orjson.dumps({"id": i, "external_id": e}) + b"\n" for i, e in rows)
            last = rows[-1][0]
            if len(rows) < PAGE_MAX:
                return

    return lines()


async def validate_rule(ctx: AppContext, caller: Caller, raw: Any) -> RuleValidated:
    async with ctx.db.read() as s:
        rule = await checked_rule(s, caller.app_id, raw)
    return RuleValidated(rule=dump(unexpanded(rule)), segments=sorted(segment_ids(rule)))


async def explain_for(
    ctx: AppContext,
    caller: Caller,
    *,
    segment_id: int | None,
    raw: Any,
    user_id: int | None,
    external_id: str | None,
) -> Explanation:
    """The rule's tree for one user, each node with its truth value and what it read."""
    now = ctx.clock.now()
    async with ctx.db.read() as s:
        rule = (
            await _segment_rule(s, caller, segment_id)
            if segment_id is not None
            else await checked_rule(s, caller.app_id, raw)
        )
        uid = await queries.find_user_id(s, caller.app_id, user_id=user_id, external_id=external_id)
        profile = None if uid is None else await load_profile(s, caller.app_id, uid, now=now)
    if profile is None:
        field = "user_id" if user_id is not None else "external_id"
        raise NotFound("no such user in this app", field=field)
    tree = explain(rule, profile, now)
    return Explanation(
        segment_id=segment_id,
        user_id=profile.id,
        external_id=profile.external_id,
        result=tree["result"],
        evaluated_at=now,
        tree=tree,
    )
