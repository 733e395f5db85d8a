"""Targeting benchmark: W3 (one profile, real-time) and W4 (bulk audience), one run.

W3: microseconds per evaluation of a 5-clause attribute rule plus a 50 % rollout over
100k distinct users: Tidings' compiled closure vs the GrowthBook Python SDK evaluating
the same condition with the same coverage (one GrowthBook instance, attributes set per
user) vs a hand-written predicate (the floor). Then the time to decide which of 500
active rules match one profile.

W4: the behavioural segment "purchase >= 2 times in the last 30 days and country in
{IR, DE} and plan = pro" over 200k users and 5M deterministic events: Tidings' SQL
(compiled rule over the profile aggregates) on SQLite, and on PostgreSQL when it
answers, vs DuckDB SQL over the same raw events. Both sides must select the same users.

    python bench/targeting.py              # the sizes above
    python bench/targeting.py --quick      # 20k users / 500k events, for a smoke run

Last two lines: `RESULT targeting-eval ratio=<GrowthBook us / Tidings us>` and
`RESULT audience ratio=<Tidings time / DuckDB time>` (lower is better for the second).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from tidings import migrate
from tidings.db import Database, dialect_name
from tidings.profiles.snapshot import Profile
from tidings.targeting import check_rule, compile_rule, parse_rule, sql
from tidings.targeting.bucketing import MASK, mix, seed_hash

NOW = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
PLANS = ["free", "free", "pro", "team", "enterprise"]
COUNTRIES = ["IR", "DE", "US", "FR", "BR", "IN", "GB", "TR"]
VERSIONS = ["1.9.0", "2.0.0", "2.1.3", "2.4.0-beta.1", "3.0.1"]
EVENT_NAMES = ["$session_start", "page_view", "add_to_cart", "purchase", "open_message"]
EVENT_WEIGHTS = [20, 50, 15, 5, 10]
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The index migration 0002 creates (profiles.models.EventDailyCount); dropped and rebuilt
# around the bulk load only.
DAILY_INDEX, DAILY_COLUMNS = "ix_event_daily_counts_name_day", "(name, day, user_id, count)"


def best(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """(best seconds of `runs`, the last result)."""
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


# -- W3 ---------------------------------------------------------------------------------

W3_RULE = {
    "and": [
        {"attribute": "plan", "op": "in", "value": ["pro", "team"]},
        {"attribute": "country", "op": "in", "value": ["IR", "DE", "US"]},
        {"attribute": "age", "op": "gte", "value": 18},
        {"attribute": "app_version", "op": "semver_gte", "value": "2.0.0"},
        {"attribute": "verified", "op": "eq", "value": True},
        {"percentage": 50, "seed": "spring-rollout"},
    ]
}
GB_FEATURES = {
    "spring": {
        "defaultValue": False,
        "rules": [
            {
                "condition": {
                    "plan": {"$in": ["pro", "team"]},
                    "country": {"$in": ["IR", "DE", "US"]},
                    "age": {"$gte": 18},
                    "app_version": {"$vgte": "2.0.0"},
                    "verified": True,
                },
                "force": True,
                "coverage": 0.5,
                "hashAttribute": "id",
                "seed": "spring-rollout",
            }
        ],
    }
}


def w3_users(n: int) -> list[dict[str, Any]]:
    rng = random.Random(3)
    return [
        {
            "id": i + 1,
            "plan": rng.choice(PLANS),
            "country": rng.choice(COUNTRIES),
            "age": rng.randint(13, 70),
            "app_version": rng.choice(VERSIONS),
            "verified": rng.random() < 0.8,
        }
        for i in range(n)
    ]


def _version(text: str) -> tuple[int, ...]:
    core, _, pre = text.partition("-")
    return (*map(int, core.split(".")), 0 if pre else 1)


SEED = seed_hash("spring-rollout")
W3_PLANS, W3_COUNTRIES, W3_MIN = (
    frozenset(["pro", "team"]),
    frozenset(["IR", "DE", "US"]),
    (2, 0, 0, 1),
)


def floor(a: dict[str, Any], uid: int) -> bool:
    """The rule written by hand, the fastest plain Python we know (same buckets)."""
    age = a.get("age")
    return (
        a.get("plan") in W3_PLANS
        and a.get("country") in W3_COUNTRIES
        and age is not None
        and age >= 18
        and _version(a["app_version"]) >= W3_MIN
        and a.get("verified") is True
        and mix((SEED ^ uid) & MASK) < 5000
    )


def run_w3(n_users: int, n_rules: int) -> float:
    from growthbook import GrowthBook

    users = w3_users(n_users)
    profiles = [Profile(id=u["id"], attributes=u) for u in users]
    rule = compile_rule(check_rule(parse_rule(W3_RULE), {}))

    def tidings() -> int:
        return sum(1 for p in profiles if rule(p, NOW))

    def hand() -> int:
        return sum(1 for u in users if floor(u, u["id"]))

    gb = GrowthBook(attributes={}, features=GB_FEATURES)

    def growthbook() -> int:
        on = 0
        for u in users:
            gb.set_attributes({**u, "id": str(u["id"])})
            on += gb.is_on("spring")
        return on

    t_tid, n_tid = best(tidings, 3)
    t_floor, n_floor = best(hand, 3)
    t_gb, n_gb = best(growthbook, 2)
    assert n_tid == n_floor, (n_tid, n_floor)
    us = {k: t / n_users * 1e6 for k, t in (("tidings", t_tid), ("floor", t_floor), ("gb", t_gb))}
    print(f"W3  {n_users} users, 5 clauses + 50% rollout")
    print(f"    tidings     {us['tidings']:7.3f} us/eval  ({n_tid} match)")
    print(f"    hand floor  {us['floor']:7.3f} us/eval  ({n_floor} match)")
    print(f"    growthbook  {us['gb']:7.3f} us/eval  ({n_gb} match; its own hash)")

    rules = [compile_rule(check_rule(parse_rule(r), {})) for r in many_rules(n_rules)]
    one = Profile(
        id=7,
        attributes=users[6],
        country="IR",
        session_count=12,
        daily={"purchase": {NOW.date(): 1, NOW.date() - timedelta(days=3): 2}},
    )

    def decide() -> int:
        return sum(1 for r in rules if r(one, NOW))

    reps = 200
    t_all, matched = best(lambda: [decide() for _ in range(reps)], 3)
    print(
        f"    {n_rules} active rules vs one profile: {t_all / reps * 1e6:.1f} us "
        f"({matched[0]} match)"
    )
    return us["gb"] / us["tidings"]


def many_rules(n: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    pool: list[Callable[[], dict[str, Any]]] = [
        lambda: {"attribute": "plan", "op": "in", "value": rng.sample(PLANS, 2)},
        lambda: {"attribute": "age", "op": rng.choice(["gte", "lt"]), "value": rng.randint(15, 60)},
        lambda: {"attribute": "country", "op": "eq", "value": rng.choice(COUNTRIES)},
        lambda: {"attribute": "verified", "op": "eq", "value": rng.random() < 0.5},
        lambda: {"attribute": "app_version", "op": "semver_gte", "value": rng.choice(VERSIONS)},
        lambda: {"attribute": "$session_count", "op": "gte", "value": rng.randint(1, 20)},
        lambda: {"event": "purchase", "op": "gte", "value": rng.randint(1, 4), "within_days": 30},
        lambda: {"percentage": rng.randint(1, 100), "seed": f"r{rng.randint(0, 999)}"},
    ]
    return [{"and": [rng.choice(pool)() for _ in range(rng.randint(2, 5))]} for _ in range(n)]


# -- W4 ---------------------------------------------------------------------------------

W4_RULE = {
    "and": [
        {"event": "purchase", "op": "gte", "value": 2, "within_days": 30},
        {"attribute": "$country", "op": "in", "value": ["IR", "DE"]},
        {"attribute": "plan", "op": "eq", "value": "pro"},
    ]
}


def w4_data(
    n_users: int, n_events: int
) -> tuple[list[tuple[int, str, str]], list[tuple[int, str, int]]]:
    """(users as (id, plan, country), events as (user id, name, epoch seconds))."""
    rng = random.Random(4)
    users = [(i + 1, rng.choice(PLANS), rng.choice(COUNTRIES)) for i in range(n_users)]
    start = int((NOW - timedelta(days=90)).timestamp())
    span = 90 * 86400
    names = rng.choices(EVENT_NAMES, EVENT_WEIGHTS, k=n_events)
    randrange, rand = rng.randrange, rng.random
    events = [(randrange(n_users) + 1, name, start + int(rand() * span)) for name in names]
    return users, events


def aggregates(
    events: list[tuple[int, str, int]],
) -> tuple[Counter[tuple[int, str, int]], dict[tuple[int, str], list[int]]]:
    """Daily counts by (user, name, UTC day number) and (first, last, count) by (user, name)."""
    daily: Counter[tuple[int, str, int]] = Counter()
    totals: dict[tuple[int, str], list[int]] = {}
    for uid, name, ts in events:
        daily[(uid, name, ts // 86400)] += 1
        t = totals.get((uid, name))
        if t is None:
            totals[(uid, name)] = [ts, ts, 1]
        else:
            t[0] = min(t[0], ts)
            t[1] = max(t[1], ts)
            t[2] += 1
    return daily, totals


def _day(n: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=n)).isoformat()


def _moment(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_tidings(
    url: str,
    users: list[tuple[int, str, str]],
    daily: Counter[tuple[int, str, int]],
    totals: dict[tuple[int, str], list[int]],
) -> None:
    """Profiles as ingestion leaves them: users, daily counts, totals (bulk loaded)."""
    migrate.upgrade(url)
    now = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    user_rows = [
        (uid, 1, f"u{uid}", orjson.dumps({"plan": plan}).decode(), country, now, now)
        for uid, plan, country in users
    ]
    daily_rows = [(u, n, _day(d), c) for (u, n, d), c in daily.items()]
    stat_rows = [(u, n, _moment(f), _moment(la), c) for (u, n), (f, la, c) in totals.items()]
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        with conn:
            # Bulk load: build the daily-count index once at the end, not row by row.
            conn.execute(f"DROP INDEX {DAILY_INDEX}")
            conn.execute("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'b', ?)", (now,))
            conn.execute(
                "INSERT INTO apps (id, workspace_id, name, write_key, identity_secret_sealed, "
                "identity_verification, settings, created_at) "
                "VALUES (1, 1, 'b', 'wk', 'x', 0, '{}', ?)",
                (now,),
            )
            conn.executemany(
                "INSERT INTO users (id, app_id, external_id, attributes, country, consent, "
                "session_count, last_values, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, '{}', 0, '{}', ?, ?)",
                user_rows,
            )
            conn.executemany("INSERT INTO event_daily_counts VALUES (?, ?, ?, ?)", daily_rows)
            conn.executemany(
                "INSERT INTO user_event_stats (user_id, name, first_at, last_at, count) "
                "VALUES (?, ?, ?, ?, ?)",
                stat_rows,
            )
            conn.execute(f"CREATE INDEX {DAILY_INDEX} ON event_daily_counts {DAILY_COLUMNS}")
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg

    with psycopg.connect(url.replace("+asyncpg", ""), autocommit=True) as conn:
        conn.execute(f"DROP INDEX {DAILY_INDEX}")
        # Bulk load: the rows are consistent by construction; skip per-row FK triggers.
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'b', %s)", (now,))
        conn.execute(
            "INSERT INTO apps (id, workspace_id, name, write_key, identity_secret_sealed, "
            "identity_verification, settings, created_at) "
            "VALUES (1, 1, 'b', 'wk', 'x', false, '{}', %s)",
            (now,),
        )
        with conn.cursor() as cur:
            copy_text(
                cur,
                "COPY users (id, app_id, external_id, attributes, country, created_at, "
                "updated_at, consent, session_count, last_values) FROM STDIN",
                [(*row, "{}", 0, "{}") for row in user_rows],
            )
            copy_text(
                cur, "COPY event_daily_counts (user_id, name, day, count) FROM STDIN", daily_rows
            )
            copy_text(
                cur,
                "COPY user_event_stats (user_id, name, first_at, last_at, count) FROM STDIN",
                stat_rows,
            )
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute(f"CREATE INDEX {DAILY_INDEX} ON event_daily_counts {DAILY_COLUMNS}")
        conn.execute("VACUUM ANALYZE")  # as autovacuum would: index-only scans


def copy_text(cur: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY in text format, in large blocks (values here hold no tabs or newlines)."""
    with cur.copy(statement) as cp:
        for start in range(0, len(rows), 100_000):
            block = rows[start : start + 100_000]
            cp.write("".join("\t".join(map(str, row)) + "\n" for row in block))


def time_tidings(url: str, runs: int) -> tuple[float, set[int]]:
    """The audience through the server's own path: Database.read(), compiled SQL."""
    checked = check_rule(parse_rule(W4_RULE), {"plan": "string"})

    async def measure() -> tuple[float, set[int]]:
        db = Database(url)
        try:
            async with db.read() as s:
                await sql.prepare(s)

                async def run() -> set[int]:
                    # Compiled per run: "the last 30 days" depends on now.
                    query = sql.audience(checked, app_id=1, dialect=dialect_name(s), now=NOW)
                    return set((await s.execute(query)).scalars())

                await run()  # warm the cache, as a running server would be
                times, ids = [], set()
                for _ in range(runs):
                    t = time.perf_counter()
                    ids = await run()
                    times.append(time.perf_counter() - t)
                return min(times), ids
        finally:
            await db.dispose()

    return asyncio.run(measure())


def time_duckdb(
    tmp: Path, users: list[tuple[int, str, str]], events: list[tuple[int, str, int]], runs: int
) -> tuple[float, set[int]]:
    import duckdb

    events_csv, users_csv = tmp / "events.csv", tmp / "users.csv"
    with events_csv.open("w", newline="") as f:
        csv.writer(f).writerows(events)
    with users_csv.open("w", newline="") as f:
        csv.writer(f).writerows(users)
    db = duckdb.connect()
    db.execute(
        "CREATE TABLE events AS SELECT column0 AS user_id, column1 AS name, "
        f"to_timestamp(column2) AS ts FROM read_csv('{events_csv}', header=false)"
    )
    db.execute(
        "CREATE TABLE users AS SELECT column0 AS id, column1 AS plan, column2 AS country "
        f"FROM read_csv('{users_csv}', header=false)"
    )
    since = datetime.combine(NOW.date() - timedelta(days=29), datetime.min.time(), UTC)
    until = since + timedelta(days=30)
    query = (
        "SELECT u.id FROM users u JOIN ("
        "  SELECT user_id FROM events WHERE name = 'purchase' AND ts >= ? AND ts < ?"
        "  GROUP BY user_id HAVING count(*) >= 2"
        ") e ON e.user_id = u.id WHERE u.plan = 'pro' AND u.country IN ('IR', 'DE')"
    )

    def run() -> set[int]:
        return {r[0] for r in db.execute(query, [since, until]).fetchall()}

    run()
    result = best(run, runs)
    db.close()
    return result


def postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def run_w4(n_users: int, n_events: int, runs: int, use_pg: bool) -> float:
    t0 = time.perf_counter()
    users, events = w4_data(n_users, n_events)
    daily, totals = aggregates(events)
    print(
        f"W4  {n_users} users, {n_events} events -> {len(daily)} daily counts "
        f"(generated in {time.perf_counter() - t0:.1f}s)"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "tidings.db"
        t0 = time.perf_counter()
        load_tidings(f"sqlite+aiosqlite:///{path}", users, daily, totals)
        print(f"    loaded SQLite in {time.perf_counter() - t0:.1f}s")
        t_sqlite, ids_sqlite = time_tidings(f"sqlite+aiosqlite:///{path}", runs)
        t_duck, ids_duck = time_duckdb(tmp, users, events, runs)
        assert ids_sqlite == ids_duck, (len(ids_sqlite), len(ids_duck))
        print(f"    tidings sqlite   {t_sqlite * 1000:8.1f} ms  ({len(ids_sqlite)} users)")
        print(f"    duckdb raw SQL   {t_duck * 1000:8.1f} ms  ({len(ids_duck)} users)")
        if use_pg and postgres_answers():
            import psycopg

            name = f"bench_targeting_{int(time.time())}"
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                base = PG_URL.rsplit("/", 1)[0].split("://", 1)[1]
                t0 = time.perf_counter()
                load_tidings(f"postgresql+asyncpg://{base}/{name}", users, daily, totals)
                print(f"    loaded PostgreSQL in {time.perf_counter() - t0:.1f}s")
                t_pg, ids_pg = time_tidings(f"postgresql+asyncpg://{base}/{name}", runs)
                assert ids_pg == ids_duck, (len(ids_pg), len(ids_duck))
                print(f"    tidings postgres {t_pg * 1000:8.1f} ms  ({len(ids_pg)} users)")
            finally:
                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif use_pg:
            print("    PostgreSQL does not answer; skipped")
    return t_sqlite / t_duck


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--w3-users", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--w4-users", type=int, default=200_000)
    parser.add_argument("--w4-events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20k users, 500k events")
    args = parser.parse_args()
    if args.quick:
        args.w3_users, args.w4_users, args.w4_events = 20_000, 20_000, 500_000
    eval_ratio = run_w3(args.w3_users, args.rules)
    audience_ratio = run_w4(args.w4_users, args.w4_events, args.runs, not args.no_postgres)
    print(
        f"RESULT targeting-eval ratio={eval_ratio:.2f} "
        "GrowthBook us per eval / Tidings us per eval (bar >= 10)"
    )
    print(
        f"RESULT audience ratio={audience_ratio:.2f} Tidings SQLite time / DuckDB time (bar <= 2)"
    )


if __name__ == "__main__":
    main()
