"""Campaign report benchmark: Tidings on SQLite vs DuckDB over the same data, one run.

    python bench/analytics.py [--deliveries 1000000] [--events 5000000] [--repeat 3]

Generates one app's data with numpy (users; delivery rows of the reported A/B/control
campaign and of four other campaigns, for attribution; goal and other events over 30
days), bulk-loads the same arrays into a migrated Tidings SQLite file (sqlite3
executemany) and into DuckDB (from pandas), then times the campaign report on each
(alternating, best of `--repeat`; each Tidings run opens a fresh engine, so its page
cache starts cold):
Tidings through its own code path (`analytics.queries.arm_counts`: per-arm delivery
funnel, unique exposures, goal conversions with property filter, attribution window and
last-touch credit, revenue, suppression reasons, button clicks) and DuckDB with the same
SQL semantics written in its dialect. The two answers are checked equal.
Last line: `RESULT analytics ratio=<Tidings time ÷ DuckDB time>`.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tidings import migrate
from tidings.analytics.queries import arm_counts
from tidings.analytics.sql import GoalSpec
from tidings.db import Database

START = np.datetime64("2026-10-01T00:00:00", "us")
DAY_US = 86_400 * 1_000_000
NOW = datetime(2026, 11, 1, tzinfo=UTC)
CAMPAIGN = 1
GOAL = GoalSpec(
    event="purchase",
    where=(("plan", "eq", "pro"),),
    within_days=7,
    attribution="last_touch",
    revenue_property="amount",
)


def text_times(us: np.ndarray) -> np.ndarray:
    """Microsecond offsets → SQLAlchemy's SQLite datetime text ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    return np.char.replace(np.datetime_as_string(START + us.astype("timedelta64[us]")), "T", " ")


def generate(n_deliveries: int, n_events: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_users = max(10, int(n_deliveries * 0.6))
    users = pd.DataFrame(
        {
            "id": np.arange(1, n_users + 1),
            "locale": rng.choice(["en-US", "de-DE", "fr-FR", "fa-IR"], n_users),
            "country": rng.choice(["US", "DE", "FR", "IR"], n_users),
        }
    )
    # The reported campaign: one row per user for 60% of deliveries; 10% held out.
    n_main = int(n_deliveries * 0.6)
    main_users = rng.permutation(n_users)[:n_main] + 1
    arm = rng.choice(["a", "b", "control"], n_main, p=[0.45, 0.45, 0.10])
    created = rng.integers(0, 25 * DAY_US, n_main)
    suppressed = (arm == "control") | (rng.random(n_main) < 0.03)
    reason = np.where(arm == "control", "control", np.where(suppressed, "capped", None))
    displayed = np.where(suppressed, -1, created + rng.integers(0, 60_000_000, n_main))
    clicked = np.where((displayed >= 0) & (rng.random(n_main) < 0.08), displayed + 5_000_000, -1)
    # Other campaigns: attribution competitors on random users.
    n_other = n_deliveries - n_main
    other_created = rng.integers(0, 25 * DAY_US, n_other)
    rows = pd.DataFrame(
        {
            "campaign_id": np.concatenate([np.full(n_main, CAMPAIGN), rng.integers(2, 6, n_other)]),
            "variant": np.concatenate(
                [np.where(suppressed & (arm != "control"), "", arm), np.full(n_other, "a")]
            ),
            "user_id": np.concatenate([main_users, rng.integers(1, n_users + 1, n_other)]),
            "status": np.concatenate(
                [np.where(suppressed, "suppressed", np.where(clicked >= 0, "clicked", "displayed")),
                 np.full(n_other, "displayed")]
            ),
            "reason": np.concatenate([reason, np.full(n_other, None)]),
            "created": np.concatenate([created, other_created]),
            "displayed": np.concatenate([displayed, other_created]),
            "clicked": np.concatenate([clicked, np.full(n_other, -1)]),
        }
    )  # fmt: skip
    rows["data"] = np.where(rows["clicked"] >= 0, '{"clicks": ["buy"]}', "{}")
    rows = rows.sort_values(["campaign_id", "user_id"], kind="stable").reset_index(drop=True)
    rows.insert(0, "id", np.arange(1, len(rows) + 1))
    rows["occurrence"] = rows.groupby(["campaign_id", "user_id"]).cumcount() + 1
    names = rng.choice(
        ["$session_start", "$page_view", "search", "add_to_cart", "purchase"],
        n_events,
        p=[0.25, 0.4, 0.15, 0.12, 0.08],
    )
    plan = rng.choice(["pro", "free"], n_events, p=[0.6, 0.4])
    amount = rng.integers(1, 200, n_events)
    props = np.where(
        names == "purchase",
        np.char.add(
            np.char.add(np.char.add('{"plan": "', plan), '", "amount": '), amount.astype(str)
        ),
        "{}",
    )
    props = np.char.add(props, np.where(names == "purchase", "}", ""))
    events = pd.DataFrame(
        {
            "user_id": rng.integers(1, n_users + 1, n_events),
            "name": names,
            "properties": props,
            "ts": rng.integers(0, 31 * DAY_US, n_events),
        }
    )
    events = events.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
    events.insert(0, "id", np.arange(1, len(events) + 1))
    return {"users": users, "deliveries": rows, "events": events}


def load_sqlite(path: Path, data: dict[str, pd.DataFrame]) -> None:
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    stamp = "2026-10-01 00:00:00.000000"
    con.execute("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'bench', ?)", (stamp,))
    con.execute(
        "INSERT INTO apps (id, workspace_id, name, write_key, identity_secret_sealed,"
        " identity_verification, settings, created_at)"
        " VALUES (1, 1, 'bench', 'wk', 'x', 0, '{}', ?)",
        (stamp,),
    )
    for cid in range(1, 6):
        con.execute(
            "INSERT INTO campaigns (id, app_id, name, description, channel, status, format,"
            " trigger, controls, variants, control_weight, version, created_at, updated_at)"
            " VALUES (?, 1, 'c', '', 'in_app', 'active', 'modal', '{}', '{}', '[]', 1, 1, ?, ?)",
            (cid, stamp, stamp),
        )
    u = data["users"]
    con.executemany(
        "INSERT INTO users (id, app_id, attributes, locale, consent, country, session_count,"
        " last_values, last_values_at, created_at, updated_at)"
        " VALUES (?, 1, '{}', ?, '{}', ?, 0, '{}', '{}', ?, ?)",
        zip(u["id"].tolist(), u["locale"].tolist(), u["country"].tolist(),
            [stamp] * len(u), [stamp] * len(u), strict=True),
    )  # fmt: skip
    d = data["deliveries"]
    created = text_times(d["created"].to_numpy()).tolist()
    shown = text_times(np.maximum(d["displayed"].to_numpy(), 0)).tolist()
    clicked = text_times(np.maximum(d["clicked"].to_numpy(), 0)).tolist()
    has_shown = (d["displayed"] >= 0).tolist()
    has_click = (d["clicked"] >= 0).tolist()
    con.executemany(
        "INSERT INTO deliveries (id, app_id, campaign_id, variant, user_id, channel, device_key,"
        " occurrence, status, reason, format, created_at, displayed_at, clicked_at, data)"
        " VALUES (?, 1, ?, ?, ?, 'in_app', 0, ?, ?, ?, 'modal', ?, ?, ?, ?)",
        (
            (i, c, v, uid, o, st, r, cr, sh if hs else None, ck if hc else None, dt)
            for i, c, v, uid, o, st, r, cr, sh, hs, ck, hc, dt in zip(
                d["id"].tolist(), d["campaign_id"].tolist(), d["variant"].tolist(),
                d["user_id"].tolist(), d["occurrence"].tolist(), d["status"].tolist(),
                d["reason"].tolist(), created,
                shown, has_shown, clicked, has_click, d["data"].tolist(), strict=True,
            )
        ),
    )  # fmt: skip
    e = data["events"]
    ts = text_times(e["ts"].to_numpy()).tolist()
    con.executemany(
        "INSERT INTO events (id, app_id, user_id, message_id, name, properties, timestamp,"
        " received_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?)",
        zip(e["id"].tolist(), e["user_id"].tolist(), [f"m{i:010d}" for i in e["id"].tolist()],
            e["name"].tolist(), e["properties"].tolist(), ts, ts, strict=True),
    )  # fmt: skip
    con.commit()
    con.execute("ANALYZE")
    con.close()


DUCK_REPORT = """
WITH firsts AS (
  SELECT user_id, variant, exposed_at FROM (
    SELECT user_id, variant,
           COALESCE(displayed_at, CASE WHEN reason = 'control' THEN created_at END) AS exposed_at,
           row_number() OVER (PARTITION BY user_id ORDER BY
             COALESCE(displayed_at, CASE WHEN reason = 'control' THEN created_at END), id) AS rn
    FROM deliveries WHERE campaign_id = 1
      AND COALESCE(displayed_at, CASE WHEN reason = 'control' THEN created_at END) IS NOT NULL
  ) WHERE rn = 1
),
clicked AS (
  SELECT DISTINCT user_id FROM deliveries WHERE campaign_id = 1 AND clicked_at IS NOT NULL
),
conv AS (
  SELECT f.user_id, min(e.timestamp) AS converted_at, count(*) AS conversions,
         coalesce(sum(CAST(json_extract(e.properties, '$.amount') AS DOUBLE)), 0) AS revenue
  FROM firsts f JOIN events e ON e.user_id = f.user_id AND e.timestamp >= f.exposed_at
    AND e.timestamp < f.exposed_at + INTERVAL 7 DAY
  WHERE e.app_id = 1 AND e.name = 'purchase' AND json_extract_string(e.properties, '$.plan') = 'pro'
    AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.user_id = f.user_id AND o.campaign_id != 1
      AND o.displayed_at IS NOT NULL AND o.displayed_at > f.exposed_at
      AND o.displayed_at <= e.timestamp)
  GROUP BY f.user_id
)
SELECT f.variant, count(*) AS exposed, count(c.user_id) AS clicked, count(v.user_id) AS converted,
       coalesce(sum(v.conversions), 0) AS conversions, coalesce(sum(v.revenue), 0) AS revenue,
       count(CASE WHEN c.user_id IS NOT NULL THEN v.user_id END) AS clicked_converted
FROM firsts f LEFT JOIN clicked c ON c.user_id = f.user_id LEFT JOIN conv v ON v.user_id = f.user_id
GROUP BY f.variant
"""
DUCK_FUNNEL = """
SELECT variant, count(DISTINCT user_id) AS targeted,
  count(DISTINCT CASE WHEN displayed_at IS NOT NULL THEN user_id END) AS displayed,
  count(DISTINCT CASE WHEN clicked_at IS NOT NULL THEN user_id END) AS clicked,
  count(DISTINCT CASE WHEN dismissed_at IS NOT NULL THEN user_id END) AS dismissed,
  count(DISTINCT CASE WHEN completed_at IS NOT NULL THEN user_id END) AS completed
FROM deliveries WHERE campaign_id = 1 GROUP BY variant
"""
DUCK_OUTCOMES = """
SELECT variant, status, reason, count(*) FROM deliveries
WHERE campaign_id = 1 AND status IN ('suppressed', 'failed') GROUP BY ALL
"""
DUCK_BUTTONS = """
SELECT variant, b.value AS button, count(*) FROM deliveries,
  (SELECT unnest(CAST(json_extract(data, '$.clicks') AS VARCHAR[])) AS value) b
WHERE campaign_id = 1 AND clicked_at IS NOT NULL GROUP BY ALL
"""


def load_duckdb(data: dict[str, pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    d, e = data["deliveries"], data["events"]
    base = pd.Timestamp("2026-10-01")

    def moment(us: pd.Series) -> pd.Series:
        return (base + pd.to_timedelta(us.clip(lower=0), unit="us")).where(us >= 0)

    deliveries = pd.DataFrame(
        {
            "id": d["id"], "app_id": 1, "campaign_id": d["campaign_id"], "variant": d["variant"],
            "user_id": d["user_id"], "status": d["status"], "reason": d["reason"],
            "created_at": moment(d["created"]), "displayed_at": moment(d["displayed"]),
            "clicked_at": moment(d["clicked"]), "dismissed_at": pd.NaT, "completed_at": pd.NaT,
            "data": d["data"],
        }
    )  # fmt: skip
    events = pd.DataFrame(
        {
            "id": e["id"], "app_id": 1, "user_id": e["user_id"], "name": e["name"],
            "properties": e["properties"], "timestamp": moment(e["ts"]),
        }
    )  # fmt: skip
    con.register("d_df", deliveries)
    con.register("e_df", events)
    con.execute("CREATE TABLE deliveries AS SELECT * FROM d_df")
    con.execute("CREATE TABLE events AS SELECT * FROM e_df")
    con.unregister("d_df")
    con.unregister("e_df")
    return con


async def tidings_report(path: Path) -> dict[str, tuple[int, int, int, float]]:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.read() as s:
            counts = await arm_counts(s, 1, CAMPAIGN, GOAL, NOW, channel="in_app")
    finally:
        await db.dispose()
    return {
        k: (a.exposed, a.converted, a.clicked, round(a.revenue, 6))
        for k, a in counts.items()
        if a.exposed
    }


def duck_report(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int, float]]:
    main = con.execute(DUCK_REPORT).fetchall()
    for statement in (DUCK_FUNNEL, DUCK_OUTCOMES, DUCK_BUTTONS):
        con.execute(statement).fetchall()
    return {r[0]: (r[1], r[3], r[2], round(float(r[5]), 6)) for r in main}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--deliveries", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=5_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per side; the best counts")
    args = p.parse_args()
    t0 = time.perf_counter()
    data = generate(args.deliveries, args.events, args.seed)
    sizes = {k: f"{len(v):,}" for k, v in data.items()}
    print(f"generated {sizes} in {time.perf_counter() - t0:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        load_sqlite(path, data)
        print(f"loaded SQLite in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        duck = load_duckdb(data)
        print(f"loaded DuckDB in {time.perf_counter() - t0:.1f} s", flush=True)
        # Alternate the two, best of --repeat each: the machine may be shared and noisy.
        tidings_s = duck_s = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ours = asyncio.run(tidings_report(path))
            tidings_s = min(tidings_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            theirs = duck_report(duck)
            duck_s = min(duck_s, time.perf_counter() - t0)
        duck.close()
    print(f"Tidings (SQLite) report: {tidings_s:.3f} s  {ours}")
    print(f"DuckDB report:           {duck_s:.3f} s  {theirs}")
    if ours != theirs:
        raise SystemExit("the two reports disagree")
    print(
        f"RESULT analytics ratio={tidings_s / duck_s:.2f} Tidings SQLite report time ÷ DuckDB time"
    )


if __name__ == "__main__":
    main()
