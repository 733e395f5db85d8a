"""Job runner throughput: enqueue rate and jobs/s through workers, SQLite and PostgreSQL.

N no-op jobs are enqueued in transactions of 500, then drained by W in-process workers
(each running C jobs at once) claiming with the real statements (SKIP LOCKED on
PostgreSQL, BEGIN IMMEDIATE on SQLite). Figures only; there is no bar for this yet.

    python bench/jobs.py                 # 20k jobs, 4 workers x 16
    python bench/jobs.py --jobs 2000     # a smoke run

Last line: `RESULT jobs sqlite=<jobs/s> postgresql=<jobs/s or n/a>`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from tidings import migrate
from tidings.clock import SystemClock
from tidings.config import Settings
from tidings.context import AppContext
from tidings.crypto import SecretBox
from tidings.db import Database
from tidings.jobs import queue
from tidings.jobs.handlers import Registry
from tidings.jobs.queue import Claimed
from tidings.jobs.worker import Worker, WorkerOptions

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
KIND = "bench.noop"


async def _noop(ctx: AppContext, job: Claimed) -> None:
    return None


async def measure(url: str, jobs: int, workers: int, concurrency: int) -> tuple[float, float]:
    """(enqueued jobs/s, run jobs/s) on the database at `url` (already migrated)."""
    db = Database(url, pool_size=workers + 4)
    ctx = AppContext(
        settings=Settings(database_url=url, secret_key="bench"),
        db=db,
        clock=SystemClock(),
        box=SecretBox("bench"),
    )
    registry = Registry()
    registry.register(KIND)(_noop)
    try:
        start = time.perf_counter()
        for first in range(0, jobs, 500):
            async with db.write() as s:
                now = ctx.clock.now()
                for i in range(first, min(first + 500, jobs)):
                    await queue.enqueue(s, KIND, {"i": i}, now=now, unique_key=f"n{i}")
        enqueue_rate = jobs / (time.perf_counter() - start)
        options = WorkerOptions(concurrency=concurrency, poll_seconds=0.05, heartbeat_seconds=2)
        crew = [Worker(ctx, registry, options, name=f"bench-{n}") for n in range(workers)]
        start = time.perf_counter()
        done = await asyncio.gather(*(w.run_until_idle() for w in crew))
        run_rate = sum(done) / (time.perf_counter() - start)
        assert sum(done) == jobs, (sum(done), jobs)
        return enqueue_rate, run_rate
    finally:
        await db.dispose()


def postgres_url() -> tuple[str, str] | None:
    """(async url, database name) of a fresh database, or None when PostgreSQL is away."""
    try:
        import psycopg

        name = f"tidings_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name
    except Exception:
        return None


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        enq, ran = asyncio.run(measure(url, args.jobs, args.workers, args.concurrency))
        print(f"sqlite      enqueue {enq:9.0f} jobs/s   run {ran:8.0f} jobs/s")
        results["sqlite"] = f"{ran:.0f}"
    pg = None if args.no_postgres else postgres_url()
    if pg is None:
        results["postgresql"] = "n/a"
    else:
        url, name = pg
        try:
            migrate.upgrade(url)
            enq, ran = asyncio.run(measure(url, args.jobs, args.workers, args.concurrency))
            print(f"postgresql  enqueue {enq:9.0f} jobs/s   run {ran:8.0f} jobs/s")
            results["postgresql"] = f"{ran:.0f}"
        finally:
            drop_postgres(name)
    print(f"RESULT jobs sqlite={results['sqlite']} postgresql={results['postgresql']}")


if __name__ == "__main__":
    main()
