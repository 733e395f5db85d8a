"""The ASGI application: one place builds the context and mounts every router."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tidings import __version__, migrate
from tidings.analytics import handlers as _analytics_handlers  # noqa: F401  (job kinds)
from tidings.analytics import winner_job
from tidings.analytics.api import router as analytics_router
from tidings.campaigns.api import router as campaigns_router
from tidings.campaigns.client_api import client_router as inapp_client
from tidings.campaigns.client_api import hot_routes as inapp_hot_routes
from tidings.clock import Clock, SystemClock
from tidings.config import Settings
from tidings.context import AppContext
from tidings.crypto import SecretBox
from tidings.db import Database
from tidings.delivery.credentials_api import router as push_credentials_router
from tidings.devices import push_address
from tidings.devices.api import client_router as devices_client
from tidings.devices.server_api import server_router as devices_server
from tidings.errors import install_error_handlers
from tidings.events.api import client_router as events_client
from tidings.events.server_api import server_router as events_server
from tidings.jobs.api import router as jobs_router
from tidings.jobs.handlers import default_registry
from tidings.jobs.worker import Worker
from tidings.ops.api import router as ops_router
from tidings.ops.guards import RequestGuard
from tidings.ops.logs import configure_logging
from tidings.ops.metrics import MetricsMiddleware
from tidings.ops.ratelimit import RateLimitMiddleware
from tidings.privacy.api import router as privacy_router
from tidings.profiles.api import router as profiles_router
from tidings.profiles.retention import keep_pruning
from tidings.push import handlers as _push_handlers  # noqa: F401  (registers job kinds)
from tidings.push.ack_listener import AckListener
from tidings.push.api import client_router as push_client
from tidings.push.api import router as push_router
from tidings.push.senders import close_senders
from tidings.sdk.api import router as sdk_router
from tidings.sdk.cors import ClientCors
from tidings.segments.api import router as segments_router
from tidings.users.api import client_router as users_client
from tidings.users.server_api import server_router as users_server

log = logging.getLogger("tidings.app")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the app; the database is opened (and migrated when allowed) on startup."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    push_address.allow_private_endpoints(settings.allow_private_push_endpoints)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.is_sqlite and settings.auto_migrate:
            await asyncio.to_thread(migrate.upgrade, settings.database_url)
        db = Database.from_settings(settings)
        app.state.ctx = AppContext(
            settings=settings,
            db=db,
            clock=clock or SystemClock(),
            box=SecretBox(settings.effective_secret_key),
        )
        log.info("tidings started", extra={"database": db.engine.url.render_as_string()})
        housekeeping = [
            asyncio.create_task(keep_pruning(app.state.ctx), name="prune-profiles"),
            asyncio.create_task(winner_job.keep_scheduled(app.state.ctx), name="auto-winner"),
        ]
        # The in-process job worker; it claims only kinds registered on default_registry.
        worker = Worker(app.state.ctx, default_registry)
        working = asyncio.create_task(worker.run(), name="job-worker")
        # Device acks over MQTT, read next to the worker (push/ack_listener.py).
        app.state.ack_listener = acks = AckListener(app.state.ctx)
        listening = asyncio.create_task(acks.run(), name="device-acks")
        try:
            yield
        finally:
            worker.stop()
            acks.stop()
            await asyncio.gather(working, listening, return_exceptions=True)
            await close_senders(app.state.ctx)
            for task in housekeeping:
                task.cancel()
            await asyncio.gather(*housekeeping, return_exceptions=True)
            await db.dispose()

    app = FastAPI(
        title="Tidings",
        version=__version__,
        summary="Self-hosted in-product communication: in-app, push, in-device.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Routes are matched in order, one by one: the SDK's hot paths come first.
    for router in (
        inapp_client,
        events_client,
        users_client,
        devices_client,
        ops_router,
        users_server,
        devices_server,
        events_server,
        privacy_router,
        segments_router,
        profiles_router,
        campaigns_router,
        analytics_router,
        jobs_router,
        push_credentials_router,
        push_router,
        push_client,
        sdk_router,
    ):
        app.include_router(router)
    # Hot routes first of all: they answer their paths without FastAPI's machinery.
    app.router.routes[:0] = inapp_hot_routes
    # Added innermost first. Requests pass metrics (which see every response), then the
    # rate limit (refusing before any body is read), then the guards, then the routes.
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware)
    # Outermost: preflights for client routes are answered before any limit or guard.
    app.add_middleware(ClientCors)
    return app
