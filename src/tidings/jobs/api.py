"""Server routes for an app's jobs: list (filtered, paged), show, and retry a dead job."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.context import AppContext, context
from tidings.errors import Conflict, NotFound
from tidings.jobs import queue
from tidings.jobs.models import DEAD, Job
from tidings.jobs.schemas import JobOut, JobStatus
from tidings.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Page,
    decode_cursor,
    paginate,
)
from tidings.tenancy.auth import Caller, server_reader, server_writer

router = APIRouter(prefix="/v1/jobs", tags=["server"])

JOBS_CURSOR = "jobs"
KindQuery = Query(None, min_length=1, max_length=100, description="Only jobs of this kind.")


@router.get("", response_model=Page[JobOut], summary="List jobs")
async def list_jobs(
    status: JobStatus | None = Query(None, description="Only jobs in this status."),
    kind: str | None = KindQuery,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Page[JobOut]:
    """The app's jobs, newest first."""
    return await _page(ctx, caller, status=status, kind=kind, limit=limit, cursor=cursor)


@router.get("/dead", response_model=Page[JobOut], summary="List dead jobs")
async def list_dead_jobs(
    kind: str | None = KindQuery,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    caller: Caller = Depends(server_reader),
    ctx: AppContext = Depends(context),
) -> Page[JobOut]:
    """Jobs that ran out of attempts or failed permanently, newest first, with the reason."""
    return await _page(ctx, caller, status=DEAD, kind=kind, limit=limit, cursor=cursor)


@router.get("/{job_id}", response_model=JobOut, summary="Get a job")
async def get_job(
    job_id: int, caller: Caller = Depends(server_reader), ctx: AppContext = Depends(context)
) -> JobOut:
    async with ctx.db.read() as s:
        return _out(await _owned(s, caller, job_id))


@router.post("/{job_id}/retry", response_model=JobOut, summary="Retry a dead job")
async def retry_job(
    job_id: int, caller: Caller = Depends(server_writer), ctx: AppContext = Depends(context)
) -> JobOut:
    """Queue a dead job again, due now, with a fresh set of attempts (409 if it is not dead)."""
    async with ctx.db.write() as s:
        job = await _owned(s, caller, job_id)
        if not await queue.retry_dead(s, job.id, now=ctx.clock.now()):
            raise Conflict(
                f"job {job_id} is {job.status}; only dead jobs can be retried",
                field="status",
                code="job_not_dead",
            )
        await s.refresh(job)
        return _out(job)


async def _page(
    ctx: AppContext,
    caller: Caller,
    *,
    status: str | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
) -> Page[JobOut]:
    stmt = select(Job).where(Job.app_id == caller.app_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if cursor is not None:
        _, last_id = decode_cursor(JOBS_CURSOR, cursor)
        stmt = stmt.where(Job.id < last_id)
    stmt = stmt.order_by(Job.id.desc()).limit(limit + 1)
    async with ctx.db.read() as s:
        rows = list((await s.scalars(stmt)).all())
    page, next_cursor = paginate(rows, limit, JOBS_CURSOR, lambda j: (j.id, j.id))
    return Page[JobOut](data=[_out(j) for j in page], next_cursor=next_cursor)


async def _owned(s: AsyncSession, caller: Caller, job_id: int) -> Job:
    job = await s.get(Job, job_id) if 0 < job_id <= queue.MAX_JOB_ID else None
    if job is None or job.app_id != caller.app_id:
        raise NotFound(f"no job {job_id} in this app", field="job_id")
    return job


def _out(job: Job) -> JobOut:
    return JobOut.model_validate(job, from_attributes=True)
