"""The durable job runner on a real database (SQLite and PostgreSQL): enqueue with the
cause, unique keys, scheduling, exclusive claims, retries, reclaim by heartbeat, the API."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant, make_tenant

from tidings.clock import FrozenClock
from tidings.context import AppContext
from tidings.jobs import queue
from tidings.jobs.handlers import GiveUp, Registry, RetryLater, default_registry
from tidings.jobs.queue import Claimed
from tidings.jobs.retry import RetryPolicy
from tidings.jobs.worker import Worker, WorkerOptions
from tidings.testing.live import LiveServer
from tidings.users.models import User

T0 = datetime(2031, 5, 4, 9, 0, tzinfo=UTC)
FAST = WorkerOptions(
    concurrency=8,
    poll_seconds=0.02,
    heartbeat_seconds=0.05,
    heartbeat_timeout_seconds=30,
    shutdown_grace_seconds=5,
    policy=RetryPolicy(base_seconds=10, cap_seconds=10),
)


def new_kind() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"


def frozen(ctx: AppContext, at: datetime = T0) -> tuple[AppContext, FrozenClock]:
    clock = FrozenClock(at)
    return dataclasses.replace(ctx, clock=clock), clock


def utc(value: datetime | str) -> datetime:
    """A stored UTC time as read back by a plain driver (SQLite hands back text)."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.replace(tzinfo=UTC)


def job_row(sql: sa.Engine, job_id: int) -> dict[str, Any]:
    with sql.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()
    return dict(row._mapping)


async def add(ctx: AppContext, kind: str, payload: dict[str, Any] | None = None, **kw: Any) -> int:
    async with ctx.db.write() as s:
        return (await queue.enqueue(s, kind, payload or {}, now=ctx.clock.now(), **kw)).job_id


def recorder(registry: Registry, kind: str) -> list[tuple[int, int]]:
    """Register a handler for `kind` that records (job id, attempt) and succeeds."""
    runs: list[tuple[int, int]] = []

    @registry.register(kind)
    async def _record(ctx: AppContext, job: Claimed) -> None:
        runs.append((job.id, job.attempt))
        await asyncio.sleep(0)

    return runs


# -- enqueue in the cause's transaction (reliability matrix S3) -----------------------


class Crash(Exception):
    """A fault injected between two statements of one transaction."""


@pytest.mark.parametrize("fault_at", ["after_cause", "after_enqueue", None])
def test_job_and_its_cause_commit_or_vanish_together(
    live: LiveServer, sql: sa.Engine, tenant: Tenant, fault_at: str | None
) -> None:
    kind, external_id = new_kind(), f"cause-{uuid.uuid4().hex[:8]}"

    async def scenario(ctx: AppContext) -> None:
        now = ctx.clock.now()
        async with ctx.db.write() as s:
            s.add(
                User(app_id=tenant.app_id, external_id=external_id, created_at=now, updated_at=now)
            )
            await s.flush()  # the cause is saved (in this transaction)
            if fault_at == "after_cause":
                raise Crash
            await queue.enqueue(
                s, kind, {"external_id": external_id}, now=now, app_id=tenant.app_id
            )
            if fault_at == "after_enqueue":
                raise Crash

    if fault_at is None:
        live.call(scenario)
    else:
        with pytest.raises(Crash):
            live.call(scenario)
    with sql.connect() as conn:
        users = conn.execute(
            sa.text("SELECT count(*) FROM users WHERE external_id = :e"), {"e": external_id}
        ).scalar_one()
        jobs = conn.execute(
            sa.text("SELECT count(*) FROM jobs WHERE kind = :k"), {"k": kind}
        ).scalar_one()
    expected = 1 if fault_at is None else 0
    assert (users, jobs) == (expected, expected)


# -- unique keys ------------------------------------------------------------------------


def test_unique_keys_dedupe_per_kind_for_good(live: LiveServer, sql: sa.Engine) -> None:
    kind, other = new_kind(), new_kind()
    registry = Registry()
    runs = recorder(registry, kind)

    async def scenario(ctx: AppContext) -> list[queue.Enqueued]:
        out = []
        async with ctx.db.write() as s:
            now = ctx.clock.now()
            out.append(await queue.enqueue(s, kind, {"n": 1}, now=now, unique_key="k1"))
            out.append(await queue.enqueue(s, kind, {"n": 2}, now=now, unique_key="k1"))
            out.append(await queue.enqueue(s, other, {"n": 3}, now=now, unique_key="k1"))
            out.append(await queue.enqueue(s, kind, {"n": 4}, now=now))
            out.append(await queue.enqueue(s, kind, {"n": 5}, now=now))
        await Worker(ctx, registry, FAST).run_until_idle()
        # Done jobs keep their key: the same work is never enqueued again.
        async with ctx.db.write() as s:
            out.append(await queue.enqueue(s, kind, {"n": 6}, now=ctx.clock.now(), unique_key="k1"))
        return out

    first, dup, other_kind, plain1, plain2, after_done = live.call(scenario)
    assert first.created
    assert not dup.created
    assert dup.job_id == first.job_id
    assert other_kind.created
    assert other_kind.job_id != first.job_id
    assert plain1.created
    assert plain2.created
    assert plain1.job_id != plain2.job_id
    assert after_done == queue.Enqueued(first.job_id, False)
    assert job_row(sql, first.job_id)["payload"] in ({"n": 1}, '{"n":1}')
    assert sorted(runs) == sorted([(first.job_id, 1), (plain1.job_id, 1), (plain2.job_id, 1)])


# -- scheduling -------------------------------------------------------------------------


def test_run_at_is_honoured_with_a_frozen_clock(live: LiveServer, sql: sa.Engine) -> None:
    kind = new_kind()
    registry = Registry()
    runs = recorder(registry, kind)

    async def scenario(base: AppContext) -> tuple[int, list[int]]:
        ctx, clock = frozen(base)
        job_id = await add(ctx, kind, run_at=T0 + timedelta(hours=1))
        worker = Worker(ctx, registry, FAST)
        counts = [await worker.run_until_idle()]
        clock.advance(timedelta(minutes=59, seconds=59))
        counts.append(await worker.run_until_idle())
        clock.advance(timedelta(seconds=1))
        counts.append(await worker.run_until_idle())
        counts.append(await worker.run_until_idle())
        return job_id, counts

    job_id, counts = live.call(scenario)
    assert counts == [0, 0, 1, 0]
    assert runs == [(job_id, 1)]
    row = job_row(sql, job_id)
    assert row["status"] == "done"
    assert row["attempts"] == 1
    assert row["locked_by"] is None


# -- exclusive claims -------------------------------------------------------------------


def test_concurrent_claims_never_hand_out_a_job_twice(live: LiveServer) -> None:
    kind = new_kind()

    async def scenario(ctx: AppContext) -> tuple[list[int], list[list[int]]]:
        async with ctx.db.write() as s:
            ids = [
                (await queue.enqueue(s, kind, {"i": i}, now=ctx.clock.now())).job_id
                for i in range(200)
            ]

        async def claimer(n: int) -> list[int]:
            got: list[int] = []
            while True:
                async with ctx.db.write() as s:
                    batch = await queue.claim(
                        s, worker=f"claimer-{n}", kinds=[kind], now=ctx.clock.now(), limit=7
                    )
                    # Hold the claimed rows' locks a moment: the others must skip them.
                    await asyncio.sleep(0.005)
                assert len(batch) <= 7  # never more than asked for
                if not batch:
                    return got
                got.extend(job.id for job in batch)
                await asyncio.sleep(0)

        return ids, list(await asyncio.gather(*(claimer(n) for n in range(8))))

    ids, claims = live.call(scenario)
    everything = [job_id for got in claims for job_id in got]
    assert sorted(everything) == sorted(ids)  # each exactly once
    assert sum(1 for got in claims if got) >= 2, [len(g) for g in claims]  # shared the work


def test_concurrent_workers_run_each_job_exactly_once(live: LiveServer, sql: sa.Engine) -> None:
    kind = new_kind()
    registry = Registry()
    runs = recorder(registry, kind)

    async def scenario(ctx: AppContext) -> list[int]:
        async with ctx.db.write() as s:
            ids = [
                (await queue.enqueue(s, kind, {"i": i}, now=ctx.clock.now())).job_id
                for i in range(300)
            ]
        workers = [Worker(ctx, registry, FAST, name=f"w{n}") for n in range(4)]
        await asyncio.gather(*(w.run_until_idle() for w in workers))
        return ids

    ids = live.call(scenario)
    assert sorted(job_id for job_id, _ in runs) == sorted(ids)
    assert {attempt for _, attempt in runs} == {1}
    with sql.connect() as conn:
        statuses = conn.execute(
            sa.text("SELECT status, count(*) FROM jobs WHERE kind = :k GROUP BY status"),
            {"k": kind},
        ).all()
    assert [tuple(r) for r in statuses] == [("done", 300)]


# -- failures, retries, dead jobs -------------------------------------------------------


def test_failures_back_off_then_die_with_the_reason(
    live: LiveServer, sql: sa.Engine, tenant: Tenant, client: httpx.Client
) -> None:
    kind = new_kind()
    registry = Registry()
    healthy = {"yes": False}

    @registry.register(kind)
    async def _flaky(ctx: AppContext, job: Claimed) -> None:
        if not healthy["yes"]:
            raise ValueError("boom")

    clock_box: dict[str, FrozenClock] = {}

    def step(fn: Callable[[AppContext], Awaitable[Any]]) -> Any:
        async def _go(base: AppContext) -> Any:
            ctx = dataclasses.replace(base, clock=clock_box["c"])
            return await fn(ctx)

        return live.call(_go)

    clock_box["c"] = FrozenClock(T0)
    job_id = step(lambda ctx: add(ctx, kind, {"x": 1}, app_id=tenant.app_id, max_attempts=3))

    def run() -> int:
        return step(lambda ctx: Worker(ctx, registry, FAST, rng=random.Random(5)).run_until_idle())

    assert run() == 1
    row = job_row(sql, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("queued", 1, "ValueError: boom")
    run_at = utc(row["run_at"])
    assert T0 <= run_at <= T0 + timedelta(seconds=10)
    assert run() == 0  # not due yet
    clock_box["c"].advance(timedelta(seconds=10))
    assert run() == 1
    assert job_row(sql, job_id)["attempts"] == 2
    clock_box["c"].advance(timedelta(seconds=10))
    assert run() == 1
    row = job_row(sql, job_id)
    assert row["status"] == "dead"
    assert row["attempts"] == 3
    assert row["last_error"] == "gave up after 3 attempts: ValueError: boom"
    assert utc(row["finished_at"]) == T0 + timedelta(seconds=20)
    clock_box["c"].advance(timedelta(days=1))
    assert run() == 0  # dead stays dead

    # The API lists it with the reason and retries it.
    r = client.get("/v1/jobs/dead", params={"kind": kind}, headers=tenant.server_headers())
    assert r.status_code == 200
    (dead,) = r.json()["data"]
    assert dead["id"] == job_id
    assert dead["status"] == "dead"
    assert dead["last_error"] == "gave up after 3 attempts: ValueError: boom"
    read_only = {"Authorization": f"Bearer {tenant.read_key}"}
    assert client.post(f"/v1/jobs/{job_id}/retry", headers=read_only).status_code == 403
    r = client.post(f"/v1/jobs/{job_id}/retry", headers=tenant.server_headers())
    assert r.status_code == 200
    assert r.json()["status"] == "queued"
    assert r.json()["attempts"] == 0
    again = client.post(f"/v1/jobs/{job_id}/retry", headers=tenant.server_headers())
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "status"
    assert again.json()["error"]["code"] == "job_not_dead"

    healthy["yes"] = True
    clock_box["c"].set(datetime.now(UTC) + timedelta(seconds=1))  # the API queued it at now
    assert run() == 1
    row = job_row(sql, job_id)
    assert (row["status"], row["attempts"]) == ("done", 1)
    assert row["last_error"] == "gave up after 3 attempts: ValueError: boom"  # history kept


def test_retry_after_is_honoured_and_give_up_is_final(live: LiveServer, sql: sa.Engine) -> None:
    later, never = new_kind(), new_kind()
    registry = Registry()

    @registry.register(later)
    async def _later(ctx: AppContext, job: Claimed) -> None:
        raise RetryLater("provider said 429", retry_after=120)

    @registry.register(never)
    async def _never(ctx: AppContext, job: Claimed) -> None:
        raise GiveUp("token unregistered")

    async def scenario(base: AppContext) -> tuple[int, int]:
        ctx, _ = frozen(base)
        ids = await add(ctx, later), await add(ctx, never)
        await Worker(ctx, registry, FAST).run_until_idle()
        return ids

    later_id, never_id = live.call(scenario)
    row = job_row(sql, later_id)
    assert row["status"] == "queued"
    assert row["last_error"] == "provider said 429"
    assert utc(row["run_at"]) == T0 + timedelta(seconds=120)
    row = job_row(sql, never_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("dead", 1, "token unregistered")


# -- heartbeats and reclaim -------------------------------------------------------------


def test_reclaim_goes_by_heartbeat_never_by_age(live: LiveServer, sql: sa.Engine) -> None:
    kind = new_kind()
    timeout = timedelta(seconds=30)

    async def scenario(base: AppContext) -> dict[str, Any]:
        ctx, clock = frozen(base)
        job_id = await add(ctx, kind, max_attempts=2)
        out: dict[str, Any] = {"id": job_id}
        async with ctx.db.write() as s:
            (ghost,) = await queue.claim(s, worker="ghost", kinds=[kind], now=T0, limit=1)
        clock.advance(timedelta(seconds=25))
        async with ctx.db.write() as s:
            out["beat"] = await queue.heartbeat(
                s, worker="ghost", job_ids=[job_id], now=clock.now()
            )
        # 50 s old but heartbeat 25 s ago: alive, not reclaimed.
        async with ctx.db.write() as s:
            out["at_50s"] = await queue.reclaim(
                s, now=T0 + timedelta(seconds=50), heartbeat_timeout=timeout, kinds=[kind]
            )
        async with ctx.db.write() as s:
            out["at_56s"] = await queue.reclaim(
                s, now=T0 + timedelta(seconds=56), heartbeat_timeout=timeout, kinds=[kind]
            )
        clock.set(T0 + timedelta(seconds=56))
        async with ctx.db.write() as s:
            (second,) = await queue.claim(
                s, worker="second", kinds=[kind], now=clock.now(), limit=1
            )
            # The ghost comes back: its late outcome is refused (fenced by worker+attempt).
            out["ghost_complete"] = await queue.complete(s, ghost, now=clock.now())
        out["second_attempt"] = second.attempt
        clock.advance(timedelta(seconds=31))  # the second worker dies too: out of attempts
        async with ctx.db.write() as s:
            out["buried"] = await queue.reclaim(
                s, now=clock.now(), heartbeat_timeout=timeout, kinds=[kind]
            )
        return out

    out = live.call(scenario)
    assert out["beat"] == 1
    assert (out["at_50s"], out["at_56s"]) == (0, 1)
    assert out["ghost_complete"] is False
    assert out["second_attempt"] == 2
    assert out["buried"] == 1
    row = job_row(sql, out["id"])
    assert (row["status"], row["attempts"], row["locked_by"]) == ("dead", 2, None)
    assert row["last_error"] == "gave up after the last attempt: worker lost: no heartbeat for 30s"


def test_a_running_job_heartbeats_and_shutdown_gives_it_back(
    live: LiveServer, sql: sa.Engine
) -> None:
    kind = new_kind()
    registry = Registry()
    started = {"n": 0}

    @registry.register(kind)
    async def _slow(ctx: AppContext, job: Claimed) -> None:
        started["n"] += 1
        await asyncio.sleep(3600)

    async def scenario(ctx: AppContext) -> tuple[int, list[datetime]]:
        job_id = await add(ctx, kind)
        options = dataclasses.replace(FAST, shutdown_grace_seconds=0.05)
        worker = Worker(ctx, registry, options)
        running = asyncio.create_task(worker.run())
        beats: list[datetime] = []
        while len(set(beats)) < 3:  # wait for the heartbeat to move on twice
            await asyncio.sleep(0.02)
            async with ctx.db.read() as s:
                hb = await s.scalar(
                    sa.select(queue.jobs.c.heartbeat_at).where(queue.jobs.c.id == job_id)
                )
            if hb is not None:
                beats.append(hb)
        worker.stop()
        await running
        return job_id, beats

    job_id, beats = live.call(scenario)
    assert started["n"] == 1
    assert len(set(beats)) >= 3
    row = job_row(sql, job_id)
    # Given back unrun: queued again, the interrupted attempt not counted.
    assert (row["status"], row["attempts"], row["locked_by"]) == ("queued", 0, None)


# -- the API ----------------------------------------------------------------------------


def test_jobs_api_lists_an_apps_jobs_filtered_and_paged(
    live: LiveServer, tenant: Tenant, client: httpx.Client
) -> None:
    a, b = new_kind(), new_kind()
    other = make_tenant(live)

    async def scenario(ctx: AppContext) -> list[int]:
        ids = [await add(ctx, a, {"i": i}, app_id=tenant.app_id) for i in range(5)]
        ids += [await add(ctx, b, app_id=tenant.app_id) for _ in range(2)]
        await add(ctx, a, app_id=other.app_id)
        await add(ctx, a)  # no app: never shown
        return ids

    ids = live.call(scenario)
    h = tenant.server_headers()
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"kind": a, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/v1/jobs", params=params, headers=h)
        assert r.status_code == 200
        body = r.json()
        seen += [j["id"] for j in body["data"]]
        assert all(j["kind"] == a and j["status"] == "queued" for j in body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids[:5], reverse=True)

    r = client.get("/v1/jobs", params={"status": "queued"}, headers=h)
    assert sorted(j["id"] for j in r.json()["data"]) == sorted(ids)
    job = client.get(f"/v1/jobs/{ids[0]}", headers=h).json()
    assert job["payload"] == {"i": 0}
    assert job["attempts"] == 0
    assert job["max_attempts"] == 10

    r = client.get("/v1/jobs", params={"status": "sleeping"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "status"
    r = client.get("/v1/jobs", params={"cursor": "nonsense"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "cursor"
    r = client.get(f"/v1/jobs/{ids[0]}", headers=other.server_headers())
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "job_id"
    r = client.post(f"/v1/jobs/{ids[0]}/retry", headers=other.server_headers())
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "job_id"
    r = client.post(f"/v1/jobs/{ids[0]}/retry", headers=h)
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "status"
    assert client.get("/v1/jobs", headers=tenant.write_headers()).status_code == 403


def test_the_server_runs_jobs_of_registered_kinds_in_process(
    live: LiveServer, sql: sa.Engine, tenant: Tenant
) -> None:
    kind = new_kind()
    done = asyncio.Event()

    @default_registry.register(kind)
    async def _mark(ctx: AppContext, job: Claimed) -> None:
        done.set()

    async def scenario(ctx: AppContext) -> int:
        job_id = await add(ctx, kind, app_id=tenant.app_id)
        await asyncio.wait_for(done.wait(), 60)  # the lifespan worker polls every second
        return job_id

    try:
        job_id = live.call(scenario)
    finally:
        default_registry.unregister(kind)
    for _ in range(600):  # the outcome is written just after the handler returns
        row = job_row(sql, job_id)
        if row["status"] != "running":
            break
        time.sleep(0.05)
    assert row["status"] == "done"
    assert row["locked_by"] is None
