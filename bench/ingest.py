"""Ingest benchmark: durable events/s through the HTTP API next to two ceilings.

    python bench/ingest.py [--events 200000] [--concurrency 16] [--no-postgres]

Tidings runs as its own uvicorn process (uvloop + httptools, one worker) on a fresh
SQLite file (and a fresh PostgreSQL database when one answers); a separate load process
posts pre-encoded batches of 100 events (each for one user, like an SDK) and every 200
means the batch was committed with its profile updates. In the same run:
- HTTP ceiling: a bare Starlette endpoint on the same server stack that parses the same
  JSON and stores nothing;
- storage ceiling: the same rows inserted in batches of 100, one transaction each, with
  the same driver (aiosqlite / asyncpg) and the same table and indexes, nothing else.
Last line: `RESULT ingest events_per_s=<durable on SQLite> ratio=<durable ÷ lower ceiling>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from tidings import migrate  # noqa: E402
from tidings.crypto import SecretBox  # noqa: E402
from tidings.db import Database  # noqa: E402
from tidings.tenancy import actions  # noqa: E402

BATCH = 100
SECRET = "bench-secret"
PG_ADMIN = os.environ.get("TIDINGS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
EVENT_MIX = [
    ("$page_view", 50),
    ("$session_start", 8),
    ("feature_used", 25),
    ("search", 12),
    ("purchase", 5),
]


@dataclass
class Dataset:
    bodies: list[bytes]
    events: int


def make_dataset(n_events: int, users: int, seed: int = 7) -> Dataset:
    rng = random.Random(seed)
    names = [n for n, w in EVENT_MIX for _ in range(w)]
    now = datetime.now(UTC)
    bodies = []
    for b in range(n_events // BATCH):
        events = []
        for _ in range(BATCH):
            name = rng.choice(names)
            props: dict[str, Any] = {"path": rng.choice(["/", "/pricing", "/app", "/docs"])}
            if name == "purchase":
                props = {"amount": round(rng.uniform(5, 200), 2), "currency": "EUR"}
            ts = now - timedelta(seconds=rng.randint(0, 7 * 86400))
            events.append(
                {
                    "name": name,
                    "properties": props,
                    "message_id": uuid.uuid4().hex,
                    "timestamp": ts.isoformat().replace("+00:00", "Z"),
                }
            )
        body = {"external_id": f"user-{b % users}", "sent_at": now.isoformat(), "events": events}
        bodies.append(orjson.dumps(body))
    return Dataset(bodies, len(bodies) * BATCH)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """A uvicorn process serving `target` on a free port."""

    def __init__(self, target: str, env: dict[str, str], factory: bool = False) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if factory:
            cmd.append("--factory")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/openapi.json", timeout=1)
                return
            except Exception:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    if target.startswith("bench."):
                        return
                except OSError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{target} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(port: int, bodies: list[bytes], headers: dict[str, str], conc: int) -> loadgen.LoadResult:
    reqs = [loadgen.encode_post(f"127.0.0.1:{port}", "/v1/track", b, headers) for b in bodies]
    return asyncio.run(loadgen.run("127.0.0.1", port, reqs, conc))


async def _tenant(url: str) -> tuple[str, int]:
    db = Database(url)
    now = datetime.now(UTC)
    ws = await actions.create_workspace(db, "bench", now=now)
    app = await actions.create_app(db, SecretBox(SECRET), ws, "bench", now=now)
    await db.dispose()
    return app.write_key, app.app_id


async def _count_events(url: str, app_id: int) -> int:
    db = Database(url)
    async with db.read() as s:
        n = (
            await s.execute(
                __import__("sqlalchemy").text("SELECT count(*) FROM events WHERE app_id = :a"),
                {"a": app_id},
            )
        ).scalar_one()
    await db.dispose()
    return int(n)


def prepare(url: str) -> None:
    """A migrated database with one app (id 1), for the storage ceiling."""
    migrate.upgrade(url)
    asyncio.run(_tenant(url))


def run_tidings(url: str, data: Dataset, conc: int) -> float:
    migrate.upgrade(url)
    write_key, app_id = asyncio.run(_tenant(url))
    env = {
        "TIDINGS_DATABASE_URL": url,
        "TIDINGS_SECRET_KEY": SECRET,
        "TIDINGS_RATE_LIMIT_PER_SECOND": "0",
        "TIDINGS_LOG_LEVEL": "warning",
    }
    server = Server("tidings.app:create_app", env, factory=True)
    try:
        headers = {"Authorization": f"Bearer {write_key}"}
        warm = max(10, len(data.bodies) // 20)
        load(server.port, data.bodies[:warm], headers, conc)
        res = load(server.port, data.bodies[warm:], headers, conc)
    finally:
        server.stop()
    stored = asyncio.run(_count_events(url, app_id))
    expected = data.events
    if res.ok != len(data.bodies) - warm or stored != expected:
        raise SystemExit(
            f"lost or refused events: statuses={res.statuses} stored={stored}/{expected}"
        )
    return res.ok * BATCH / res.seconds


def run_http_ceiling(data: Dataset, conc: int) -> float:
    server = Server("bench.ceiling_app:app", {})
    try:
        warm = max(10, len(data.bodies) // 20)
        load(server.port, data.bodies[:warm], {}, conc)
        res = load(server.port, data.bodies[warm:], {}, conc)
    finally:
        server.stop()
    assert res.ok == len(data.bodies) - warm, res.statuses
    return res.ok * BATCH / res.seconds


def _rows(data: Dataset) -> list[list[tuple[Any, ...]]]:
    batches = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for body in data.bodies:
        doc = orjson.loads(body)
        batches.append(
            [
                (
                    1,
                    1,
                    e["message_id"],
                    e["name"],
                    orjson.dumps(e["properties"]).decode(),
                    datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).replace(
                        tzinfo=None
                    ),
                    now,
                    None,
                )
                for e in doc["events"]
            ]
        )
    return batches


async def _sqlite_ceiling(path: Path, data: Dataset) -> float:
    import aiosqlite

    db = await aiosqlite.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        await db.execute(f"PRAGMA {pragma}")
    await db.execute(
        "INSERT INTO users (id, app_id, attributes, consent, session_count, "
        "last_values, created_at, updated_at) VALUES (1, 1, '{}', '{}', 0, '{}', "
        "'2026-01-01', '2026-01-01')"
    )
    sql = (
        "INSERT INTO events (app_id, user_id, message_id, name, properties, timestamp, "
        "received_at, device_id) VALUES (?,?,?,?,?,?,?,?)"
    )
    batches = [
        [(*r[:5], r[5].isoformat(" "), r[6].isoformat(" "), r[7]) for r in b] for b in _rows(data)
    ]
    start = time.perf_counter()
    for rows in batches:
        await db.execute("BEGIN IMMEDIATE")
        await db.executemany(sql, rows)
        await db.execute("COMMIT")
    took = time.perf_counter() - start
    await db.close()
    return data.events / took


async def _pg_ceiling(dsn: str, data: Dataset, conc: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "INSERT INTO users (id, app_id, attributes, consent, session_count, "
        "last_values, created_at, updated_at) VALUES (1, 1, '{}', '{}', 0, '{}', "
        "now(), now())"
    )
    await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=conc, max_size=conc)
    sql = (
        "INSERT INTO events (app_id, user_id, message_id, name, properties, timestamp, "
        "received_at, device_id) VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8)"
    )
    queue = list(reversed(_rows(data)))

    async def worker() -> None:
        async with pool.acquire() as c:
            while queue:
                rows = queue.pop()
                async with c.transaction():
                    await c.executemany(sql, rows)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    took = time.perf_counter() - start
    await pool.close()
    return data.events / took


class PgDatabase:
    def __init__(self) -> None:
        import psycopg

        self.name = f"tidings_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{self.name}"')
        base = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
        self.dsn = f"postgresql://{base}/{self.name}"
        self.url = f"postgresql+asyncpg://{base}/{self.name}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def pg_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


def report(label: str, durable: float, http: float, storage: float) -> tuple[float, float]:
    lower = min(http, storage)
    ratio = durable / lower
    print(
        f"{label:<11} durable {durable:>9,.0f} ev/s | HTTP ceiling {http:>9,.0f} ev/s | "
        f"storage ceiling {storage:>9,.0f} ev/s | durable ÷ lower ceiling {ratio:.2f}"
    )
    return durable, ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument(
        "--users", type=int, default=500, help="distinct users (batches cycle over them)"
    )
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()

    print(
        f"ingest: {args.events:,} events in batches of {BATCH}, {args.users:,} users, "
        f"{args.concurrency} connections, {os.cpu_count()} cores",
        flush=True,
    )
    http = run_http_ceiling(make_dataset(args.events, args.users, seed=1), args.concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_durable = run_tidings(
            f"sqlite+aiosqlite:///{tmp}/tidings.db",
            make_dataset(args.events, args.users, seed=2),
            args.concurrency,
        )
        prepare(f"sqlite+aiosqlite:///{tmp}/raw.db")
        sqlite_storage = asyncio.run(
            _sqlite_ceiling(Path(tmp) / "raw.db", make_dataset(args.events, args.users, 3))
        )
    results = [("sqlite", sqlite_durable, http, sqlite_storage)]
    if not args.no_postgres and pg_answers():
        tid, raw = PgDatabase(), PgDatabase()
        try:
            pg_durable = run_tidings(
                tid.url, make_dataset(args.events, args.users, seed=4), args.concurrency
            )
            prepare(raw.url)
            pg_storage = asyncio.run(
                _pg_ceiling(raw.dsn, make_dataset(args.events, args.users, 5), 4)
            )
        finally:
            tid.drop()
            raw.drop()
        results.append(("postgresql", pg_durable, http, pg_storage))
    elif not args.no_postgres:
        print("postgresql: not answering at " + PG_ADMIN + "; skipped")
    out = {label: report(label, d, h, s) for label, d, h, s in results}
    if "postgresql" in out:
        d, r = out["postgresql"]
        print(f"RESULT ingest-postgresql events_per_s={d:.0f} ratio={r:.2f}")
    d, r = out["sqlite"]
    print(f"RESULT ingest events_per_s={d:.0f} ratio={r:.2f}")


if __name__ == "__main__":
    main()
