"""Issue 7's crash test: a 10k-device push campaign sent by real `tidings worker`
processes that are killed with SIGKILL at random moments and restarted. Every eligible
device gets the push and shows it once: a send cut by a kill is sent again under the same
collapse id (counted at the fake FCM, by device and collapse id; reliability matrix S4),
suppressed users get none, and the campaign's push report adds up."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import PG_ADMIN_URL, postgres_available, require_service
from tests.integration.cli_process import cli_env

from tidings import migrate
from tidings.campaigns import actions as campaign_actions
from tidings.campaigns.schemas import CampaignIn
from tidings.clock import SystemClock
from tidings.config import Settings
from tidings.context import AppContext
from tidings.crypto import SecretBox
from tidings.db import Database
from tidings.delivery import credentials
from tidings.push.report import PushReport, push_report
from tidings.push.senders import CONNECTIONS
from tidings.tenancy import actions as tenancy
from tidings.tenancy.auth import Caller
from tidings.testing.audience import seed_push_users
from tidings.testing.fcm_fake import FcmFake

USERS = 10_000
SECRET = "crash-test-secret"
KILLS = 5
WAIT_SECONDS = 600.0  # generous: 2 shared cores


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own: no server's in-process worker may touch these jobs."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        return
    require_service(postgres_available())
    import psycopg

    name = f"tidings_crash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Workers:
    """`tidings worker` processes on the test's database, killed and restarted at will."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.env = cli_env(tmp, url, TIDINGS_SECRET_KEY=SECRET)
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        out = (self.tmp / f"worker-{self.started}.out").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tidings.cli", "worker", "--poll", "0.05",
             "--heartbeat", "0.2", "--heartbeat-timeout", "1", "--grace", "5"],
            env=self.env,
            cwd=self.tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        self.procs = []

    def output(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp.glob("worker-*.out")))


def token(n: int) -> str:
    return f"crash-{n:05d}-" + "t" * 32


async def _setup(
    ctx: AppContext, fake_url: str, service_account: dict[str, Any]
) -> tuple[Caller, int, set[str], set[str]]:
    """An app with USERS users (one FCM device each), a push campaign activated; returns
    (caller, campaign id, eligible tokens, suppressed tokens)."""
    now = ctx.clock.now()
    ws = await tenancy.create_workspace(ctx.db, "Crash", now=now)
    app = await tenancy.create_app(ctx.db, ctx.box, ws, "Crash app", now=now)
    caller = Caller(app.app_id, ws, "server", frozenset({"read", "write"}), None, "", False, {})
    await credentials.save(
        ctx, app.app_id, "fcm", credentials.FcmIn(service_account=service_account, api_url=fake_url)
    )
    async with ctx.db.write() as s:
        await seed_push_users(
            s,
            app.app_id,
            range(USERS),
            now=now,
            address=token,
            consents=lambda n: n % 10 != 0,  # every tenth never opted in
        )
    body = CampaignIn.model_validate(
        {
            "name": "crash",
            "channel": "push",
            "variants": [{"key": "a", "content": {"en": {"title": "Hi {{ user.external_id }}"}}}],
            "control_weight": 0,
            "controls": {"push": {"quiet_hours": None}},
        }
    )
    created = await campaign_actions.create_campaign(ctx, caller, body)
    await campaign_actions.transition(ctx, caller, created.id, "active")
    eligible = {token(n) for n in range(USERS) if n % 10 != 0}
    suppressed = {token(n) for n in range(USERS) if n % 10 == 0}
    return caller, created.id, eligible, suppressed


async def _state(ctx: AppContext, app_id: int) -> tuple[int, Counter[str]]:
    """(unfinished push jobs, delivery rows by status)."""
    async with ctx.db.read() as s:
        open_jobs = (
            await s.execute(
                sa.text(
                    "SELECT count(*) FROM jobs "
                    "WHERE app_id = :a AND status IN ('queued', 'running')"
                ),
                {"a": app_id},
            )
        ).scalar_one()
        statuses = (
            await s.execute(
                sa.text(
                    "SELECT status, count(*) FROM deliveries WHERE app_id = :a GROUP BY status"
                ),
                {"a": app_id},
            )
        ).all()
    return int(open_jobs), Counter({k: int(v) for k, v in statuses})


def test_killed_workers_lose_no_push_and_devices_show_each_once(
    database_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    settings = Settings(database_url=database_url, secret_key=SECRET, log_level="warning")
    rng = random.Random(int(os.environ.get("TIDINGS_CRASH_SEED", "7")))
    with FcmFake() as fake:
        loop = asyncio.new_event_loop()
        db = Database.from_settings(settings)
        ctx = AppContext(settings=settings, db=db, clock=SystemClock(), box=SecretBox(SECRET))
        workers = Workers(database_url, tmp_path)
        try:
            caller, cid, eligible, suppressed = loop.run_until_complete(
                _setup(ctx, fake.url, fake.service_account())
            )
            running = [workers.start(), workers.start()]
            kills = mid_campaign = 0
            deadline = time.monotonic() + WAIT_SECONDS
            while kills < KILLS:
                # A random moment while the campaign is being planned or sent.
                time.sleep(rng.uniform(0.3, 1.5))
                open_jobs, _ = loop.run_until_complete(_state(ctx, caller.app_id))
                victim = running.pop(rng.randrange(len(running)))
                workers.kill9(victim)
                kills += 1
                mid_campaign += open_jobs > 0
                running.append(workers.start())
                assert time.monotonic() < deadline, workers.output()
            while True:
                open_jobs, statuses = loop.run_until_complete(_state(ctx, caller.app_id))
                if open_jobs == 0 and not statuses["queued"] and not statuses["sending"]:
                    break
                assert time.monotonic() < deadline, (open_jobs, statuses, workers.output())
                time.sleep(0.5)
            report: PushReport = loop.run_until_complete(push_report(ctx, caller, cid))
        finally:
            workers.stop_all()
            loop.run_until_complete(db.dispose())
            loop.close()
        got = Counter(r.message["token"] for r in fake.received)
        shown = {(r.message["token"], r.message["android"]["collapse_key"]) for r in fake.received}
    # Nothing lost: every eligible device got the push; suppressed users none.
    assert set(got) == eligible, f"{len(eligible - set(got))} eligible devices got nothing"
    # Shown once: all copies a device got carry one collapse id, so it shows one notification.
    assert len(shown) == len(eligible), "a device got copies under different collapse ids"
    # Copies are only the sends in flight when a worker died (at most its connections).
    copies = sum(got.values()) - len(got)
    assert copies <= KILLS * CONNECTIONS, f"{copies} repeated sends for {KILLS} kills"
    assert report.sent == len(eligible)
    assert report.suppressed == {"no_consent": len(suppressed)}
    assert report.failed == {}
    assert report.queued == 0
    assert report.sending == 0
    assert report.users_reached == len(eligible)
    assert mid_campaign >= 3, "the kills must land while the campaign is being sent"
    print(f"delivered={report.delivered} resent_copies={copies} mid-campaign kills={mid_campaign}")
