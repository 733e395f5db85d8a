"""The job queue's statements: enqueue, claim, heartbeat, finish, reclaim, retry a dead job.

Every function runs inside the caller's session, so `enqueue` commits or rolls back with
the work that caused the job. Claiming is one statement, `WITH due AS MATERIALIZED
(SELECT … FOR UPDATE SKIP LOCKED) UPDATE … RETURNING`: on PostgreSQL concurrent workers
skip each other's rows; on SQLite the `BEGIN IMMEDIATE` of `Database.write()` makes it
the only writer.
Finishing is fenced by (worker, attempt): a worker that lost its job to a reclaim cannot
overwrite the outcome of the attempt that replaced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import dialect_insert, table_of
from tidings.jobs.models import DEAD, DONE, QUEUED, RUNNING, Job
from tidings.jobs.retry import Dead, Retry

DEFAULT_MAX_ATTEMPTS = 10
MAX_ERROR_CHARS = 2000
MAX_JOB_ID = 2**63 - 1

jobs = table_of(Job)


@dataclass(frozen=True)
class Enqueued:
    """The job's id; `created` is False when its unique key was already taken."""

    job_id: int
    created: bool


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds: `attempt` is this run's number (1 for the first)."""

    id: int
    kind: str
    payload: dict[str, Any]
    app_id: int | None
    unique_key: str | None
    attempt: int
    max_attempts: int
    worker: str


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    run_at: datetime | None = None,
    unique_key: str | None = None,
    app_id: int | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Enqueued:
    """Add a job in the caller's transaction; a taken `unique_key` (per kind) adds nothing."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    values = {
        "app_id": app_id,
        "kind": kind,
        "payload": payload,
        "unique_key": unique_key,
        "status": QUEUED,
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
    }
    stmt = dialect_insert(session, jobs).values(**values)
    if unique_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["kind", "unique_key"])
    new_id = (await session.execute(stmt.returning(jobs.c.id))).scalar_one_or_none()
    if new_id is not None:
        return Enqueued(int(new_id), True)
    existing = await session.execute(
        select(jobs.c.id).where(jobs.c.kind == kind, jobs.c.unique_key == unique_key)
    )
    return Enqueued(int(existing.scalar_one()), False)


async def any_due(session: AsyncSession, *, kinds: Sequence[str], now: datetime) -> bool:
    """Whether a queued job of `kinds` is due (a cheap read before a claim)."""
    due = select(jobs.c.id).where(
        jobs.c.status == QUEUED, jobs.c.run_at <= now, jobs.c.kind.in_(list(kinds))
    )
    return (await session.execute(due.limit(1))).first() is not None


async def claim(
    session: AsyncSession, *, worker: str, kinds: Sequence[str], now: datetime, limit: int
) -> list[Claimed]:
    """Take up to `limit` due queued jobs of `kinds`, oldest `run_at` first."""
    if not kinds or limit < 1:
        return []
    due = (
        select(jobs.c.id)
        .where(jobs.c.status == QUEUED, jobs.c.run_at <= now, jobs.c.kind.in_(list(kinds)))
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
        # A materialized CTE runs once. As a plain `IN (subquery)` PostgreSQL may rescan
        # it during the update and take far more than `limit` rows.
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(select(due.c.id)), jobs.c.status == QUEUED)
        .values(
            status=RUNNING,
            attempts=jobs.c.attempts + 1,
            locked_by=worker,
            locked_at=now,
            heartbeat_at=now,
        )
        .returning(
            jobs.c.id,
            jobs.c.kind,
            jobs.c.payload,
            jobs.c.app_id,
            jobs.c.unique_key,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.run_at,
        )
    )
    rows = sorted((await session.execute(stmt)).all(), key=lambda r: (r.run_at, r.id))
    return [_claimed(r, worker) for r in rows]


def _claimed(row: Row[Any], worker: str) -> Claimed:
    return Claimed(
        id=row.id,
        kind=row.kind,
        payload=row.payload,
        app_id=row.app_id,
        unique_key=row.unique_key,
        attempt=row.attempts,
        max_attempts=row.max_attempts,
        worker=worker,
    )


async def heartbeat(
    session: AsyncSession, *, worker: str, job_ids: Sequence[int], now: datetime
) -> int:
    """Mark the worker's running jobs `job_ids` alive; returns how many were marked."""
    if not job_ids:
        return 0
    # Rows locked right now are being finished by this worker: skip them instead of
    # waiting, so a heartbeat never deadlocks with an outcome write.
    alive = (
        select(jobs.c.id)
        .where(jobs.c.id.in_(list(job_ids)), jobs.c.locked_by == worker, jobs.c.status == RUNNING)
        .with_for_update(skip_locked=True)
        .cte("alive")
        .prefix_with("MATERIALIZED")
    )
    # Counted from RETURNING: Python's sqlite3 reports no rowcount for `WITH … UPDATE`.
    marked = await session.execute(
        update(jobs)
        .where(jobs.c.id.in_(select(alive.c.id)))
        .values(heartbeat_at=now)
        .returning(jobs.c.id)
    )
    return len(marked.all())


def _held(job: Claimed) -> Any:
    return (
        (jobs.c.id == job.id)
        & (jobs.c.locked_by == job.worker)
        & (jobs.c.attempts == job.attempt)
        & (jobs.c.status == RUNNING)
    )


def _unlocked() -> dict[str, Any]:
    return {"locked_by": None, "locked_at": None, "heartbeat_at": None}


async def complete(session: AsyncSession, job: Claimed, *, now: datetime) -> bool:
    """Mark a held job done; False if this worker no longer holds it."""
    result = await session.execute(
        update(jobs).where(_held(job)).values(status=DONE, finished_at=now, **_unlocked())
    )
    return _count(result) == 1


async def fail(
    session: AsyncSession, job: Claimed, outcome: Retry | Dead, *, now: datetime
) -> bool:
    """Record a failed attempt: queued again at `outcome.at`, or dead with the reason."""
    if isinstance(outcome, Retry):
        values: dict[str, Any] = {
            "status": QUEUED,
            "run_at": outcome.at,
            "last_error": _clip(outcome.reason),
        }
    else:
        values = {"status": DEAD, "finished_at": now, "last_error": _clip(outcome.reason)}
    result = await session.execute(update(jobs).where(_held(job)).values(**values, **_unlocked()))
    return _count(result) == 1


async def release(session: AsyncSession, job: Claimed, *, now: datetime) -> bool:
    """Give a held job back unrun (shutdown): queued now, this attempt not counted."""
    result = await session.execute(
        update(jobs)
        .where(_held(job))
        .values(status=QUEUED, run_at=now, attempts=jobs.c.attempts - 1, **_unlocked())
    )
    return _count(result) == 1


async def reclaim(
    session: AsyncSession, *, now: datetime, heartbeat_timeout: timedelta, kinds: Sequence[str]
) -> int:
    """Requeue (or, out of attempts, bury) running jobs of `kinds` whose last heartbeat is
    older than `heartbeat_timeout`: their worker is gone. Judged by heartbeat, never by age.
    Rows another transaction holds are left for the next look."""
    if not kinds:
        return 0
    lost = (
        select(jobs.c.id, jobs.c.attempts, jobs.c.max_attempts)
        .where(
            jobs.c.status == RUNNING,
            jobs.c.heartbeat_at < now - heartbeat_timeout,
            jobs.c.kind.in_(list(kinds)),
        )
        .order_by(jobs.c.id)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(lost)).all()
    reason = f"worker lost: no heartbeat for {heartbeat_timeout.total_seconds():g}s"
    buried = [r.id for r in rows if r.attempts >= r.max_attempts]
    requeued = [r.id for r in rows if r.attempts < r.max_attempts]
    if buried:
        await session.execute(
            update(jobs)
            .where(jobs.c.id.in_(buried))
            .values(
                status=DEAD,
                finished_at=now,
                last_error=f"gave up after the last attempt: {reason}",
                **_unlocked(),
            )
        )
    if requeued:
        await session.execute(
            update(jobs)
            .where(jobs.c.id.in_(requeued))
            .values(status=QUEUED, run_at=now, last_error=reason, **_unlocked())
        )
    return len(rows)


async def retry_dead(session: AsyncSession, job_id: int, *, now: datetime) -> bool:
    """Queue a dead job again with a fresh set of attempts; False if it is not dead."""
    result = await session.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == DEAD)
        .values(status=QUEUED, run_at=now, attempts=0, finished_at=None)
    )
    return _count(result) == 1


def _count(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
