"""Operations routes, unauthenticated and never rate limited: health, readiness, metrics."""

from __future__ import annotations

import asyncio
import functools

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import Connection

from tidings import __version__, migrate
from tidings.context import AppContext, context
from tidings.ops.metrics import REGISTRY

router = APIRouter(tags=["ops"])

READY_TIMEOUT_SECONDS = 2.0  # probes have short timeouts of their own; answer first


class Health(BaseModel):
    status: str
    version: str


class NotReady(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@functools.cache
def _head() -> str:
    return migrate.head_revision()


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: the database answers and its schema is at the migration head",
    responses={503: {"description": "not ready; `error.details.reason` says why"}},
)
async def readyz(request: Request, ctx: AppContext = Depends(context)) -> Response:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await _check(request, ctx)
    except NotReady as exc:
        return _not_ready(exc.reason, exc.message)
    except TimeoutError:
        return _not_ready("database_timeout", "the database did not answer in time")
    return JSONResponse(Health(status="ok", version=__version__).model_dump())


async def _check(request: Request, ctx: AppContext) -> None:
    """Raise NotReady unless the database answers; the schema check passes once for good."""
    try:
        await ctx.db.ping()
    except Exception as exc:
        raise NotReady("database_unreachable", f"the database does not answer: {exc}") from exc
    if getattr(request.app.state, "schema_at_head", False):
        return
    head = await asyncio.to_thread(_head)
    try:
        async with ctx.db.engine.connect() as conn:
            current = await conn.run_sync(_current_revision)
    except Exception as exc:
        raise NotReady("database_unreachable", f"cannot read the schema version: {exc}") from exc
    if current != head:
        raise NotReady(
            "schema_outdated",
            f"the schema is at {current or 'nothing'}, not {head}: run `tidings db upgrade`",
        )
    request.app.state.schema_at_head = True


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _not_ready(reason: str, message: str) -> JSONResponse:
    body = {
        "error": {
            "code": "not_ready",
            "message": message,
            "field": None,
            "details": {"reason": reason},
        }
    }
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


@router.get("/metrics", summary="Prometheus metrics (text exposition format)")
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
