"""Push fan-out benchmark W1: pushes/s for a campaign to the fake FCM on loopback.

Every sender posts one FCM v1 message per device to the same `FcmFake` (OAuth token
endpoint and send endpoint), run in a child process so its CPU does not share this
process's GIL:

- raw ceiling: bodies encoded beforehand, posted over `Http1Pool` (64 in flight);
- Tidings campaign send: N users with one FCM device each in a fresh database (SQLite
  file, or `--database-url`); a push campaign is activated and an in-process job
  `Worker` runs its plan jobs (audience through the targeting SQL compiler, delivery
  rows, send jobs) and send jobs (render, mark, send, record every outcome) until every
  delivery row is `delivered`. Timed from activation to the last outcome written;
- Tidings provider level (for reference): `payloads.fcm_message` + `FcmSender.send`;
- firebase-admin 7: `messaging.send_each` in batches of 500, `FCM_URL` pointed at the
  fake (it has no emulator setting), credentials whose `token_uri` is the fake.

Then W2 (`bench/webpush.py`) runs as it is, so its RESULT line comes last.

    python bench/fanout.py              # 50,000 devices per sender
    python bench/fanout.py --quick      # 3,000

Last lines: `RESULT fanout ratio=<Tidings campaign / firebase-admin>
ceiling_ratio=<Tidings campaign / raw>` (bars >= 5 and >= 0.8), then `RESULT webpush …`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tidings.clock import SystemClock
from tidings.delivery.payloads import PushContent, fcm_message
from tidings.delivery.providers import fcm
from tidings.delivery.providers.base import Delivered
from tidings.delivery.providers.http1 import Http1Pool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IN_FLIGHT = 64
CONTENT = PushContent(
    title="Your weekly summary",
    body="You completed 4 lessons this week. Keep the streak going!",
    data={"campaign": "weekly", "screen": "summary"},
)


def serve() -> None:
    """Child process: run the fake, print its address and a key file, stop on stdin EOF."""
    from tidings.testing.fcm_fake import FcmFake

    with FcmFake() as fake:
        print(json.dumps({"url": fake.url, "sa": fake.service_account("bench")}), flush=True)
        sys.stdin.read()
        print(json.dumps({"received": len(fake.received), "tokens": fake.token_requests}))


async def _bounded(n: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """Run one(i) for i < n with IN_FLIGHT at a time; seconds taken."""
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            assert isinstance(await one(i), Delivered)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - start


async def raw(url: str, sa: dict[str, Any], n: int) -> float:
    tokens = fcm.AccessTokens(sa, SystemClock())
    bearer = await tokens.get()
    bodies = [fcm_message(CONTENT, f"device-{i}") for i in range(n)]
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    send_url = f"{url}/v1/projects/bench/messages:send"
    async with Http1Pool(per_origin=IN_FLIGHT) as pool:

        async def one(i: int) -> Delivered:
            reply = await pool.post(send_url, bodies[i], headers)
            assert reply.status == 200, reply
            return Delivered("")

        return await _bounded(n, one)


async def tidings(url: str, sa: dict[str, Any], n: int) -> float:
    clock = SystemClock()
    async with Http1Pool(per_origin=IN_FLIGHT) as pool:
        sender = fcm.FcmSender(pool, fcm.AccessTokens(sa, clock), clock, base_url=url)
        return await _bounded(n, lambda i: sender.send(fcm_message(CONTENT, f"device-{i}")))


def firebase_admin_send(url: str, sa: dict[str, Any], n: int) -> float:
    import firebase_admin
    from firebase_admin import credentials, messaging

    warnings.simplefilter("ignore", DeprecationWarning)  # Message.token → fid in 7.x
    messaging._MessagingService.FCM_URL = url + "/v1/projects/{0}/messages:send"
    app = firebase_admin.initialize_app(
        credentials.Certificate(sa), {"projectId": "bench"}, name=f"bench-{time.time()}"
    )
    notification = messaging.Notification(title=CONTENT.title, body=CONTENT.body)
    start = time.perf_counter()
    for first in range(0, n, 500):
        batch = [
            messaging.Message(token=f"device-{i}", notification=notification, data=CONTENT.data)
            for i in range(first, min(n, first + 500))
        ]
        result = messaging.send_each(batch, app=app)
        assert result.failure_count == 0, result.responses[0].exception
    return time.perf_counter() - start


async def campaign(url: str, sa: dict[str, Any], n: int, database_url: str | None) -> float:
    """Seconds from activating an n-device push campaign to its last outcome written."""
    from bench.fanout_campaign import run_campaign

    return await run_campaign(url, sa, n, database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--database-url", default=None, help="Campaign send on this database (default: SQLite)."
    )
    parser.add_argument("--no-webpush", action="store_true", help="Skip W2.")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    n = args.devices or (3000 if args.quick else 50_000)
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        info = json.loads(child.stdout.readline())
        url, sa = info["url"], info["sa"]
        print(f"W1: {n} devices per sender to the fake FCM at {url}")
        ceiling = n / asyncio.run(raw(url, sa, n))
        print(f"  raw client (pre-encoded)      {ceiling:9.0f} pushes/s")
        ours = n / asyncio.run(campaign(url, sa, n, args.database_url))
        print(f"  Tidings campaign send         {ours:9.0f} pushes/s  (plan + send jobs, rows)")
        sender = n / asyncio.run(tidings(url, sa, n))
        print(f"  Tidings FcmSender only        {sender:9.0f} pushes/s  (provider level)")
        theirs = n / firebase_admin_send(url, sa, n)
        print(f"  firebase-admin send_each/500  {theirs:9.0f} pushes/s")
    finally:
        child.stdin.close()
        tail = child.stdout.read().strip()
        child.wait(timeout=60)
    print(f"  fake: {tail.splitlines()[-1] if tail else '?'}")
    print(f"  provider level: {sender / theirs:.2f}x firebase-admin, {sender / ceiling:.2f}x raw")
    print(
        f"RESULT fanout ratio={ours / theirs:.2f} ceiling_ratio={ours / ceiling:.2f} "
        "campaign send, Tidings / firebase-admin and Tidings / raw (bars >= 5, >= 0.8)"
    )
    if not args.no_webpush:
        sys.stdout.flush()
        w2 = [sys.executable, str(Path(__file__).with_name("webpush.py"))]
        subprocess.run([*w2, "--quick"] if args.quick else w2, check=True)


if __name__ == "__main__":
    main()
