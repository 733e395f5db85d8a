"""W1's campaign-level run: a fresh database, n users with one FCM device each, a push
campaign activated and sent by an in-process job worker (see bench/fanout.py)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tidings import migrate
from tidings.campaigns import actions as campaign_actions
from tidings.campaigns.schemas import CampaignIn
from tidings.clock import SystemClock
from tidings.config import Settings
from tidings.context import AppContext
from tidings.crypto import SecretBox
from tidings.db import Database
from tidings.delivery import credentials
from tidings.jobs.handlers import default_registry
from tidings.jobs.worker import Worker, WorkerOptions
from tidings.push import handlers as _handlers  # noqa: F401  (registers push job kinds)
from tidings.push.senders import close_senders
from tidings.tenancy import actions as tenancy
from tidings.tenancy.auth import Caller
from tidings.testing.audience import seed_push_users

SECRET = "bench-secret"


async def _seed(ctx: AppContext, url: str, sa_info: dict[str, Any], n: int) -> tuple[Caller, int]:
    now = ctx.clock.now()
    ws = await tenancy.create_workspace(ctx.db, "Bench", now=now)
    app = await tenancy.create_app(ctx.db, ctx.box, ws, "Bench app", now=now)
    caller = Caller(app.app_id, ws, "server", frozenset({"read", "write"}), None, "", False, {})
    await credentials.save(
        ctx, app.app_id, "fcm", credentials.FcmIn(service_account=sa_info, api_url=url)
    )
    for first in range(0, n, 10_000):
        async with ctx.db.write() as s:
            await seed_push_users(
                s,
                app.app_id,
                range(first, min(n, first + 10_000)),
                now=now,
                address=lambda i: f"device-{i}",
            )
    body = CampaignIn.model_validate(
        {
            "name": "weekly",
            "channel": "push",
            "variants": [
                {
                    "key": "a",
                    "content": {
                        "en": {
                            "title": "Your weekly summary",
                            "body": "You completed 4 lessons this week. Keep the streak going!",
                            "data": {"campaign": "weekly", "screen": "summary"},
                        }
                    },
                }
            ],
            "controls": {"push": {"quiet_hours": None}},
        }
    )
    created = await campaign_actions.create_campaign(ctx, caller, body)
    return caller, created.id


async def _delivered(ctx: AppContext, app_id: int) -> int:
    async with ctx.db.read() as s:
        found = await s.execute(
            sa.text("SELECT count(*) FROM deliveries WHERE app_id = :a AND status = 'delivered'"),
            {"a": app_id},
        )
        return int(found.scalar_one())


async def run_campaign(
    url: str, sa_info: dict[str, Any], n: int, database_url: str | None
) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, db_url)
        settings = Settings(database_url=db_url, secret_key=SECRET, log_level="warning")
        db = Database.from_settings(settings)
        ctx = AppContext(settings=settings, db=db, clock=SystemClock(), box=SecretBox(SECRET))
        try:
            caller, cid = await _seed(ctx, url, sa_info, n)
            # As `tidings worker` runs: claims as slots free up, polls every 50 ms.
            options = WorkerOptions(concurrency=4, poll_seconds=0.05)
            worker = Worker(ctx, default_registry, options)
            start = time.perf_counter()
            await campaign_actions.transition(ctx, caller, cid, "active")
            running = asyncio.create_task(worker.run())
            while (got := await _delivered(ctx, caller.app_id)) < n:
                assert not running.done(), "the worker stopped"
                await asyncio.sleep(0.1)
            seconds = time.perf_counter() - start
            worker.stop()
            await running
            assert got == n, f"{got} of {n} delivered"
            await close_senders(ctx)
            return seconds
        finally:
            await db.dispose()
