"""In-app decision benchmark: session decisions with many active campaigns.

    python bench/decide.py [--users 10000] [--campaigns 500] [--http-users 2000]

In-process: the decision core (compiled audience rules over profiles, caps, budget,
priority, variant, locale fallback and Liquid rendering) for every user against N
campaigns of mixed rules, caps and locales: p50/p99 per decision and decisions/s.
Over HTTP: Tidings as its own uvicorn process (uvloop + httptools) on a fresh SQLite file,
`POST /v1/inapp/decide` under keep-alive load, next to a hello-world endpoint on the same
server stack (Starlette on uvicorn) in the same run, at 50 and at N campaigns.
Latency is also measured two requests at a time (no queueing). Last line: `RESULT decide
ratio=<Tidings req/s ÷ hello-world req/s at 50> p99_ms=<HTTP p99 at 50 campaigns, under the
full load>`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.ingest import SECRET, Server  # noqa: E402
from tidings import migrate  # noqa: E402
from tidings.app import create_app  # noqa: E402
from tidings.campaigns import specs  # noqa: E402
from tidings.campaigns.client_schemas import DecideIn  # noqa: E402
from tidings.campaigns.decisions import decided_messages  # noqa: E402
from tidings.campaigns.models import Campaign  # noqa: E402
from tidings.campaigns.schemas import CampaignIn  # noqa: E402
from tidings.campaigns.validate import check_shape, check_variants  # noqa: E402
from tidings.context import AppContext  # noqa: E402
from tidings.crypto import SecretBox  # noqa: E402
from tidings.db import Database  # noqa: E402
from tidings.fastroute import JsonPost  # noqa: E402
from tidings.inapp.model import Budget, Shown  # noqa: E402
from tidings.profiles.snapshot import DeviceFacts, EventStat, Profile  # noqa: E402
from tidings.targeting import check_rule, compile_rule, parse_rule  # noqa: E402
from tidings.tenancy import actions  # noqa: E402
from tidings.tenancy.auth import Caller  # noqa: E402

NOW = datetime.now(UTC)
PLANS = ["free", "trial", "pro", "team"]
LOCALES = ["en", "fa-IR", "de", "fr-CA", None]


async def hello(request: Request) -> Response:
    await request.body()
    return Response(b'{"hello":"world"}', media_type="application/json")


hello_app = Starlette(routes=[Route("/v1/inapp/decide", hello, methods=["POST"])])


def tidings_with_floor() -> Any:
    """The Tidings app plus `POST /bench/floor`: the same middleware, routing, body parsing
    and write-key check as a decision (a `JsonPost` route, as the decision's), answering a
    constant. What the stack costs alone."""
    app: FastAPI = create_app()

    async def floor(ctx: AppContext, caller: Caller, body: DecideIn) -> dict[str, Any]:
        return {"messages": []}

    # First in line, as the decision route is: routes are matched one by one.
    app.router.routes.insert(0, JsonPost("/bench/floor", DecideIn, floor))
    return app


def rule(i: int) -> dict[str, Any]:
    kind = i % 5
    if kind == 0:
        return {"attribute": "plan", "op": "eq", "value": PLANS[i % 4]}
    if kind == 1:
        return {"event": "export", "op": "gte", "value": i % 7, "within_days": 30}
    if kind == 2:
        return {"device": "any", "where": [{"field": "platform", "op": "in", "value": ["ios"]}]}
    if kind == 3:
        return {"percentage": 20, "seed": f"c{i}"}
    return {
        "and": [
            {"attribute": "seats", "op": "gte", "value": i % 20},
            {"not": {"event": "used_reports", "op": "gte", "value": 1}},
        ]
    }


def campaign(i: int) -> dict[str, Any]:
    msg = {
        "format": "modal",
        "title": "Hi {{ user.name | default: 'there' }}, offer " + str(i),
        "body": "You have {{ user.seats }} seats on {{ user.plan }}.",
        "buttons": [{"id": "ok", "label": "OK", "action": {"type": "close"}}],
    }
    return {
        "name": f"c{i}",
        "audience": rule(i),
        "variants": [
            {"key": "a", "weight": 1, "content": {"en": msg, "fa": {**msg, "direction": "rtl"}}},
            {"key": "b", "weight": 1, "content": {"en": msg, "de": msg}},
        ],
        "control_weight": 1 if i % 3 == 0 else 0,
        "controls": {
            "priority": i % 100,
            "frequency": {"max_impressions": 1 + i % 3, "per_days": 7},
            "exempt_from_budget": i % 50 == 0,
        },
    }


def profile(uid: int, rng: random.Random) -> Profile:
    exports = rng.randint(0, 9)
    return Profile(
        id=uid,
        external_id=f"u{uid}",
        attributes={"plan": rng.choice(PLANS), "seats": rng.randint(1, 30), "name": f"U{uid}"},
        locale=rng.choice(LOCALES),
        timezone="Europe/Berlin",
        daily={"export": {(NOW - timedelta(days=d)).date(): 1 for d in range(exports)}},
        stats={"export": EventStat(NOW - timedelta(days=40), NOW, exports)} if exports else {},
        devices=(DeviceFacts(platform=rng.choice(["ios", "web", "android"])),),
    )


def campaign_rows(n_campaigns: int) -> list[Campaign]:
    """The bench's campaigns as stored rows, checked as the API checks them."""
    rows = []
    for i in range(n_campaigns):
        body = CampaignIn.model_validate(campaign(i))
        check_shape(body)
        fmt, variants = check_variants(body.variants)
        rows.append(
            Campaign(
                id=i + 1,
                name=body.name,
                status="active",
                format=fmt,
                audience=body.audience,
                segment_id=None,
                trigger=body.trigger.model_dump(mode="json", exclude_none=True),
                controls=body.controls.model_dump(mode="json"),
                variants=variants,
                control_weight=body.control_weight,
                starts_at=None,
                ends_at=None,
                winner=None,
                version=1,
            )
        )
    return rows


def in_process(n_users: int, n_campaigns: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, decisions/s) for the decision core (`decided_messages`, what the
    endpoint runs between reading the user and writing the response) against n campaigns."""
    rng = random.Random(5)
    rows = campaign_rows(n_campaigns)
    types = {"plan": "string", "seats": "number", "name": "string"}
    live = specs.assemble(
        rows,
        {c.id: compile_rule(check_rule(parse_rule(c.audience), types, {})) for c in rows},
    )
    budget = Budget()
    times = []
    for uid in range(1, n_users + 1):
        p = profile(uid, rng)
        history = [Shown(rng.randint(1, n_campaigns), 1, "in_app", NOW - timedelta(hours=30))]
        t0 = time.perf_counter()
        decided_messages(live, p, history, "s", budget, None, NOW)
        times.append(time.perf_counter() - t0)
    times.sort()
    return pct(times, 50), pct(times, 99), len(times) / sum(times)


def pct(sorted_seconds: list[float], p: int) -> float:
    return sorted_seconds[min(len(sorted_seconds) - 1, len(sorted_seconds) * p // 100)] * 1000


async def seed(url: str, n_users: int) -> tuple[str, str]:
    db = Database(url)
    box = SecretBox(SECRET)
    ws = await actions.create_workspace(db, "bench", now=NOW)
    app = await actions.create_app(db, box, ws, "bench", now=NOW)
    key = await actions.create_server_key(db, app.app_id, "bench", ["read", "write"], now=NOW)
    await db.dispose()
    return app.write_key, key.token


def post_all(port: int, path: str, bodies: list[bytes], key: str, conc: int) -> loadgen.LoadResult:
    headers = {"Authorization": f"Bearer {key}"}
    reqs = [loadgen.encode_post(f"127.0.0.1:{port}", path, b, headers) for b in bodies]
    return asyncio.run(loadgen.run("127.0.0.1", port, reqs, conc))


def transition_bodies(port: int, ids: list[int], key: str) -> None:
    for cid in ids:
        res = post_all(port, f"/v1/campaigns/{cid}/transition", [b'{"to":"active"}'], key, 1)
        assert res.ok == 1, res.statuses


def create_campaigns(port: int, start: int, n: int, key: str) -> None:
    import urllib.request

    ids = []
    for i in range(start, start + n):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/campaigns",
            data=orjson.dumps(campaign(i)),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req) as r:
            ids.append(orjson.loads(r.read())["id"])
    transition_bodies(port, ids, key)


def http_run(n_users: int, sizes: list[int], requests: int, conc: int) -> dict[int, Any]:
    folder = tempfile.mkdtemp(prefix="tidings-decide-")
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    migrate.upgrade(url)
    write_key, server_key = asyncio.run(seed(url, n_users))
    env = {
        "TIDINGS_DATABASE_URL": url,
        "TIDINGS_SECRET_KEY": SECRET,
        "TIDINGS_RATE_LIMIT_PER_SECOND": "0",
        "TIDINGS_LOG_LEVEL": "warning",
    }
    rng = random.Random(3)
    server = Server("bench.decide:tidings_with_floor", env, factory=True)
    out: dict[int, Any] = {}
    try:
        users = [
            orjson.dumps(
                {
                    "external_id": f"u{u}",
                    "attributes": {"plan": rng.choice(PLANS), "seats": rng.randint(1, 30)},
                    "locale": rng.choice(["en", "fa-IR", "de"]),
                }
            )
            for u in range(n_users)
        ]
        res = post_all(server.port, "/v1/identify", users, write_key, 8)
        assert res.ok == n_users, res.statuses
        made = 0
        for size in sizes:
            create_campaigns(server.port, made, size - made, server_key)
            made = size
            bodies = [
                orjson.dumps({"external_id": f"u{rng.randrange(n_users)}", "session_id": "s"})
                for _ in range(requests)
            ]
            post_all(server.port, "/v1/inapp/decide", bodies[: requests // 10], write_key, conc)
            res = post_all(server.port, "/v1/inapp/decide", bodies, write_key, conc)
            assert res.ok == requests, res.statuses
            lat = sorted(res.latencies)
            out[size] = (res.ok / res.seconds, pct(lat, 50), pct(lat, 99))
            # The same requests two at a time, well below saturation: latency without queueing.
            steady = post_all(server.port, "/v1/inapp/decide", bodies[:1000], write_key, 2)
            out[-size] = (steady.ok / steady.seconds, 0.0, pct(sorted(steady.latencies), 99))
        post_all(server.port, "/bench/floor", bodies[: requests // 10], write_key, conc)
        res = post_all(server.port, "/bench/floor", bodies, write_key, conc)
        assert res.ok == requests, res.statuses
        out[-1] = (res.ok / res.seconds, pct(sorted(res.latencies), 50), 0.0)
    finally:
        server.stop()
    hello_server = Server("bench.decide:hello_app", {})
    try:
        bodies = [b'{"external_id":"u1","session_id":"s"}'] * requests
        post_all(hello_server.port, "/v1/inapp/decide", bodies[: requests // 10], "x", conc)
        res = post_all(hello_server.port, "/v1/inapp/decide", bodies, "x", conc)
        out[0] = (res.ok / res.seconds, pct(sorted(res.latencies), 50), 0.0)
    finally:
        hello_server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--campaigns", type=int, default=500)
    ap.add_argument("--http-users", type=int, default=2_000)
    ap.add_argument("--requests", type=int, default=3_000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    for n in (50, args.campaigns):
        p50, p99, rate = in_process(args.users, n)
        print(
            f"in-process  {n:>4} campaigns, {args.users} users: p50 {p50:.2f} ms  "
            f"p99 {p99:.2f} ms  {rate:,.0f} decisions/s"
        )
    sizes = sorted({50, args.campaigns})
    http = http_run(args.http_users, sizes, args.requests, args.concurrency)
    hello_rate = http[0][0]
    print(f"http        hello-world: {hello_rate:,.0f} req/s  p50 {http[0][1]:.2f} ms")
    floor = http[-1][0]
    print(
        f"http        Tidings stack, no decision (auth + parse + constant): {floor:,.0f} req/s  "
        f"({floor / hello_rate:.2f} x hello-world)"
    )
    for size in sizes:
        rate, p50, p99 = http[size]
        print(
            f"http        {size:>4} campaigns: {rate:,.0f} req/s  p50 {p50:.2f} ms  "
            f"p99 {p99:.2f} ms  ({rate / hello_rate:.2f} x hello-world)"
        )
    for size in sizes:
        print(f"http        {size:>4} campaigns, 2 in flight: p99 {http[-size][2]:.2f} ms")
    rate50, _, p99_50 = http[50]
    print(
        f"RESULT decide ratio={rate50 / hello_rate:.2f} p99_ms={p99_50:.2f} "
        f"Tidings decide req/s / hello-world req/s at 50 campaigns (bar >= 0.5, p99 <= 10 ms)"
    )


if __name__ == "__main__":
    main()
