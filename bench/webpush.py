"""Web Push benchmark W2: microseconds per message (encrypt, sign, send), one run.

Three senders against the same Web Push fake (`tidings.testing.webpush_fake`, which
checks the VAPID JWT and decrypts every body), run in a child process so its CPU does
not share this process's GIL:

- Tidings: `WebPushSender` (VAPID JWT cached per audience) over its lean keep-alive
  HTTP/1.1 pool (`Http1Pool`), messages sent one after another.
- pywebpush: `webpush()` with a pre-loaded Vapid02 key and a keep-alive requests
  Session (its fastest documented use), one after another.
- floor: RFC 8291 encryption alone with bare `cryptography` (no signing, no network).

    python bench/webpush.py            # 2,000 messages per side
    python bench/webpush.py --quick    # 300, for a smoke run

Each figure is printed twice: the sender process's CPU microseconds per message (what the
sender itself spends; the ratio uses this) and wall microseconds per message, which on
loopback is dominated by the fake's own verify-and-decrypt work, the same for both.

Last line: `RESULT webpush ratio=<pywebpush us / Tidings us>` (bar >= 2.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import time
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from py_vapid import Vapid02
from pywebpush import webpush as pywebpush_send

from tidings.clock import SystemClock
from tidings.delivery.payloads import PushContent, webpush_payload
from tidings.delivery.providers import webpush
from tidings.delivery.providers.base import Delivered
from tidings.delivery.providers.http1 import Http1Pool

SUBJECT = "mailto:bench@tidings.example"


def serve() -> None:
    """Child process: run the fake, print its subscription, stop when stdin closes."""
    from tidings.testing.webpush_fake import WebPushFake

    with WebPushFake() as fake:
        sub = fake.subscribe()
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        print(json.dumps(info), flush=True)
        sys.stdin.read()
        print(json.dumps({"received": len(fake.received), "rejected": len(fake.rejected)}))


def floor_us(plaintext: bytes, p256dh: str, auth: str, n: int) -> float:
    """RFC 8291 with bare cryptography: the least any sender must spend per message."""
    ua_bytes = webpush.unb64u(p256dh)
    ua = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_bytes)
    auth_secret = webpush.unb64u(auth)
    point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    start = time.perf_counter()
    for _ in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        as_bytes = key.public_key().public_bytes(*point)
        salt = os.urandom(16)
        shared = key.exchange(ec.ECDH(), ua)
        info = b"WebPush: info\0" + ua_bytes + as_bytes
        ikm = HKDF(hashes.SHA256(), 32, auth_secret, info).derive(shared)
        cek = HKDF(hashes.SHA256(), 16, salt, b"Content-Encoding: aes128gcm\0").derive(ikm)
        nonce = HKDF(hashes.SHA256(), 12, salt, b"Content-Encoding: nonce\0").derive(ikm)
        body = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)
        _ = salt + struct.pack("!IB", 4096, 65) + as_bytes + body
    return (time.perf_counter() - start) / n * 1e6


class Timer:
    """Wall and this-process CPU microseconds per message over a block."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = (time.perf_counter() - self._wall) / self.n * 1e6
        self.cpu = (time.process_time() - self._cpu) / self.n * 1e6


async def tidings_us(plaintext: bytes, sub: webpush.Subscription, pem: str, n: int) -> Timer:
    clock = SystemClock()
    async with Http1Pool() as client:
        sender = webpush.WebPushSender(client, webpush.VapidSigner(pem, SUBJECT, clock), clock)
        assert isinstance(await sender.send(sub, plaintext, ttl=3600), Delivered)  # warm up
        with Timer(n) as timer:
            for _ in range(n):
                outcome = await sender.send(sub, plaintext, ttl=3600)
                assert isinstance(outcome, Delivered), outcome
        return timer


def pywebpush_us(plaintext: bytes, info: dict[str, Any], pem: str, n: int) -> Timer:
    vapid = Vapid02.from_pem(pem.encode())
    data = plaintext.decode()
    with requests.Session() as session:

        def one() -> None:
            resp = pywebpush_send(
                info,
                data,
                vapid_private_key=vapid,
                vapid_claims={"sub": SUBJECT},
                ttl=3600,
                requests_session=session,
            )
            assert not isinstance(resp, str)
            assert resp.status_code == 201, resp

        one()  # warm up
        with Timer(n) as timer:
            for _ in range(n):
                one()
        return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    n = 300 if args.quick else 2000
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
        sub = webpush.Subscription(info["endpoint"], info["keys"]["p256dh"], info["keys"]["auth"])
        pem = webpush.generate_vapid_keys().private_pem
        content = PushContent(
            title="Your order shipped",
            body="Order #1042 left the warehouse and arrives Thursday. Tap to track it.",
            deep_link="https://shop.example/orders/1042",
            data={"order": "1042"},
        )
        plaintext = webpush_payload(content)
        print(f"W2: {n} messages per side, {len(plaintext)}-byte plaintext, fake at {sub.endpoint}")
        print("  us per message             sender CPU   wall (incl. the fake's work)")
        floor = floor_us(plaintext, sub.p256dh, sub.auth, n)
        print(f"  floor (encrypt only)      {floor:10.1f}")
        ours = asyncio.run(tidings_us(plaintext, sub, pem, n))
        print(f"  Tidings                   {ours.cpu:10.1f}   {ours.wall:10.1f}")
        theirs = pywebpush_us(plaintext, info, pem, n)
        print(f"  pywebpush                 {theirs.cpu:10.1f}   {theirs.wall:10.1f}")
    finally:
        child.stdin.close()
        tail = child.stdout.read().strip()
        child.wait(timeout=30)
    counts = json.loads(tail.splitlines()[-1]) if tail else {}
    print(f"  fake accepted {counts.get('received')} and refused {counts.get('rejected')}")
    print(f"  Tidings CPU / floor: {ours.cpu / floor:.2f}x")
    print(f"  wall ratio (pywebpush / Tidings): {theirs.wall / ours.wall:.2f}")
    ratio = theirs.cpu / ours.cpu
    print(f"RESULT webpush ratio={ratio:.2f} pywebpush us / Tidings us, sender CPU (bar >= 2.5)")


if __name__ == "__main__":
    main()
