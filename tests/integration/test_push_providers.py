"""Each push provider against its protocol-faithful fake on loopback (P1 to P4)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tidings.clock import FrozenClock
from tidings.delivery.payloads import PushContent, apns_payload, fcm_message, webpush_payload
from tidings.delivery.providers import apns, fcm, webpush
from tidings.delivery.providers.base import Delivered, Rejected, Retry, http_client
from tidings.delivery.providers.http1 import Http1Pool
from tidings.testing.apns_fake import ApnsFake
from tidings.testing.fcm_fake import FcmFake
from tidings.testing.webpush_fake import WebPushFake

CONTENT = PushContent(title="Hello", body="Your order shipped", badge=1, data={"order": "42"})


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


# --- FCM ------------------------------------------------------------------------------


@pytest.fixture
def fcm_fake() -> Iterator[FcmFake]:
    with FcmFake() as fake:
        yield fake


def test_fcm_delivers_with_overrides_and_reuses_the_oauth_token(
    fcm_fake: FcmFake, clock: FrozenClock
) -> None:
    async def scenario() -> list[object]:
        tokens = fcm.AccessTokens(fcm_fake.service_account("proj-1"), clock)
        async with httpx.AsyncClient() as client:
            sender = fcm.FcmSender(client, tokens, clock, base_url=fcm_fake.url)
            out = [await sender.send(fcm_message(CONTENT, f"tok-{i}")) for i in range(3)]
            clock.advance(timedelta(minutes=56))  # within 5 min of the 1 h expiry
            out.append(await sender.send(fcm_message(CONTENT, "tok-3")))
            out.append(tokens.mints)
        return out

    *outcomes, mints = asyncio.run(scenario())
    assert outcomes[0] == Delivered("projects/proj-1/messages/1")
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert mints == 2
    assert fcm_fake.token_requests == 2
    message = fcm_fake.received[0].message
    assert message["token"] == "tok-0"
    assert message["notification"] == {"title": "Hello", "body": "Your order shipped"}
    assert message["data"] == {"order": "42"}
    assert message["android"]["priority"] == "high"
    assert message["apns"]["payload"]["aps"]["badge"] == 1
    assert message["webpush"]["headers"]["Urgency"] == "high"


@pytest.mark.parametrize("transport", ["pool", "httpx"])
def test_fcm_answers_map_to_outcomes(fcm_fake: FcmFake, clock: FrozenClock, transport: str) -> None:
    fcm_fake.script.gone.add("gone")
    fcm_fake.script.inject(429, retry_after="7", address="busy")
    fcm_fake.script.inject(503, retry_after="120", address="down")
    fcm_fake.script.inject(400, reason="INVALID_ARGUMENT", address="bad")
    fcm_fake.script.inject(403, reason="SENDER_ID_MISMATCH", address="other")

    async def scenario() -> dict[str, object]:
        tokens = fcm.AccessTokens(fcm_fake.service_account(), clock)
        async with _client(transport) as client:
            sender = fcm.FcmSender(client, tokens, clock, base_url=fcm_fake.url)
            names = ("gone", "busy", "down", "bad", "other", "busy")
            return {
                f"{n}{i}": await sender.send(fcm_message(CONTENT, n)) for i, n in enumerate(names)
            }

    out = asyncio.run(scenario())
    assert out["gone0"] == Rejected("404 UNREGISTERED", token_invalid=True)
    assert out["busy1"] == Retry(60.0, "429 QUOTA_EXCEEDED")  # FCM: at least a minute
    assert out["down2"] == Retry(120.0, "503 UNAVAILABLE")
    assert out["bad3"] == Rejected("400 INVALID_ARGUMENT", token_invalid=True)
    assert out["other4"] == Rejected("403 SENDER_ID_MISMATCH", token_invalid=True)
    assert isinstance(out["busy5"], Delivered)  # the injected 429 was used up
    assert len(fcm_fake.received) == 1


def test_fcm_payload_fault_is_rejected_without_invalidating_the_token(
    fcm_fake: FcmFake, clock: FrozenClock
) -> None:
    async def scenario() -> object:
        tokens = fcm.AccessTokens(fcm_fake.service_account(), clock)
        async with httpx.AsyncClient() as client:
            sender = fcm.FcmSender(client, tokens, clock, base_url=fcm_fake.url)
            too_big = json.dumps({"message": {"token": "t", "data": {"x": "y" * 5000}}})
            return await sender.send(too_big.encode())

    assert asyncio.run(scenario()) == Rejected("400 INVALID_ARGUMENT", token_invalid=False)
    assert fcm_fake.received == []


def test_fcm_unreachable_is_a_retry(clock: FrozenClock) -> None:
    with FcmFake() as fake:
        info = fake.service_account()
        url = fake.url

    async def scenario() -> object:
        tokens = fcm.AccessTokens(info, clock)
        async with httpx.AsyncClient() as client:
            return await fcm.FcmSender(client, tokens, clock, base_url=url).send(b"{}")

    outcome = asyncio.run(scenario())
    assert isinstance(outcome, Retry)
    assert "OAuth token refresh failed" in outcome.reason


# --- APNs -----------------------------------------------------------------------------


@pytest.fixture
def apns_fake(clock: FrozenClock) -> Iterator[ApnsFake]:
    with ApnsFake(now=lambda: clock.now().timestamp()) as fake:
        yield fake


def _apns_sender(fake: ApnsFake, clock: FrozenClock, client: httpx.AsyncClient) -> apns.ApnsSender:
    token = apns.ProviderToken(fake.p8_key, fake.key_id, fake.team_id, clock)
    return apns.ApnsSender(client, token, fake.topic, clock, base_url=fake.url)


def test_apns_delivers_over_http2_with_headers(apns_fake: ApnsFake, clock: FrozenClock) -> None:
    expires = clock.now() + timedelta(hours=1)

    async def scenario() -> tuple[object, str]:
        async with apns.http2_client() as client:
            sender = _apns_sender(apns_fake, clock, client)
            req = apns.ApnsRequest("alert", 10, expires, "order-42")
            outcome = await sender.send("a1b2", apns_payload(CONTENT), req)
            version = (await client.get(f"{apns_fake.url}/3/device/x")).http_version
            return outcome, version

    outcome, version = asyncio.run(scenario())
    assert version == "HTTP/2"
    assert isinstance(outcome, Delivered)
    assert len(outcome.provider_id) == 36
    (got,) = apns_fake.received
    assert got.device_token == "a1b2"
    assert got.headers["apns-push-type"] == "alert"
    assert got.headers["apns-priority"] == "10"
    assert got.headers["apns-topic"] == "com.example.app"
    assert got.headers["apns-collapse-id"] == "order-42"
    assert got.headers["apns-expiration"] == str(int(expires.timestamp()))
    assert got.payload["aps"]["alert"] == {"title": "Hello", "body": "Your order shipped"}


def test_apns_answers_map_to_outcomes(apns_fake: ApnsFake, clock: FrozenClock) -> None:
    apns_fake.script.gone.add("gone")
    apns_fake.bad_tokens.add("bad")
    apns_fake.script.inject(429, reason="TooManyRequests", retry_after="30", address="busy")
    apns_fake.script.inject(503, reason="ServiceUnavailable", address="down")
    apns_fake.script.inject(400, reason="BadExpirationDate", address="plain")

    async def scenario() -> dict[str, object]:
        async with apns.http2_client() as client:
            sender = _apns_sender(apns_fake, clock, client)
            payload = apns_payload(CONTENT)
            return {
                n: await sender.send(n, payload, apns.ApnsRequest())
                for n in ("gone", "bad", "busy", "down", "plain")
            }

    out = asyncio.run(scenario())
    gone = out["gone"]
    assert isinstance(gone, Rejected)
    assert gone.token_invalid
    assert gone.reason == "410 Unregistered"
    assert gone.invalid_since == clock.now()
    assert out["bad"] == Rejected("400 BadDeviceToken", token_invalid=True)
    assert out["busy"] == Retry(30.0, "429 TooManyRequests")
    assert out["down"] == Retry(60.0, "503 ServiceUnavailable")
    assert out["plain"] == Rejected("400 BadExpirationDate", token_invalid=False)
    assert apns_fake.received == []


def test_apns_jwt_is_reused_then_reminted_on_age_and_on_expired_provider_token(
    apns_fake: ApnsFake, clock: FrozenClock
) -> None:
    async def scenario() -> list[int]:
        async with apns.http2_client() as client:
            sender = _apns_sender(apns_fake, clock, client)
            token = sender._token
            payload = apns_payload(CONTENT)
            mints = []
            for _ in range(3):
                await sender.send("dev", payload, apns.ApnsRequest())
                clock.advance(timedelta(minutes=9))
            mints.append(token.mints)  # 0, 9, 18 min: one JWT
            clock.advance(timedelta(minutes=4))  # 31 min old → re-minted
            await sender.send("dev", payload, apns.ApnsRequest())
            mints.append(token.mints)
            # A JWT our side believes fresh but whose iat is 2 h old (a process paused for a
            # long time): APNs answers ExpiredProviderToken; the sender re-mints and resends.
            now = clock.now()
            clock.set(now - timedelta(hours=2))
            token.remint()
            clock.set(now)
            token._minted = now
            outcome = await sender.send("dev", payload, apns.ApnsRequest())
            assert isinstance(outcome, Delivered)
            mints.append(token.mints)
        return mints

    assert asyncio.run(scenario()) == [1, 2, 4]
    assert ("403", "ExpiredProviderToken") in {(str(s), r) for s, r in apns_fake.rejected}
    assert len(apns_fake.received) == 5
    assert len(apns_fake.tokens_seen) == 3


def test_apns_refuses_an_oversized_payload_before_sending(
    apns_fake: ApnsFake, clock: FrozenClock
) -> None:
    async def scenario() -> object:
        async with apns.http2_client() as client:
            return await _apns_sender(apns_fake, clock, client).send(
                "dev", b"{" + b" " * 4100 + b"}", apns.ApnsRequest()
            )

    outcome = asyncio.run(scenario())
    assert isinstance(outcome, Rejected)
    assert "4096" in outcome.reason
    assert apns_fake.rejected == []


# --- Web Push -------------------------------------------------------------------------


@pytest.fixture
def webpush_fake() -> Iterator[WebPushFake]:
    with WebPushFake() as fake:
        yield fake


def _webpush_sender(
    clock: FrozenClock, client: Http1Pool | httpx.AsyncClient
) -> tuple[webpush.WebPushSender, webpush.VapidKeys, webpush.VapidSigner]:
    keys = webpush.generate_vapid_keys()
    signer = webpush.VapidSigner(keys.private_pem, "mailto:ops@example.com", clock)
    return webpush.WebPushSender(client, signer, clock), keys, signer


def _client(transport: str) -> Http1Pool | httpx.AsyncClient:
    return Http1Pool() if transport == "pool" else http_client()


TRANSPORTS = pytest.mark.parametrize("transport", ["pool", "httpx"])


@TRANSPORTS
def test_webpush_delivers_encrypted_and_signed(
    webpush_fake: WebPushFake, clock: FrozenClock, transport: str
) -> None:
    async def scenario() -> tuple[list[object], webpush.VapidKeys, int, webpush.Subscription]:
        async with _client(transport) as client:
            sender, keys, signer = _webpush_sender(clock, client)
            sub = webpush_fake.subscribe(keys.public_key)
            out = [
                await sender.send(
                    sub, webpush_payload(CONTENT), ttl=600, urgency="high", topic="order-42"
                )
                for _ in range(3)
            ]
            return out, keys, signer.mints, sub

    outcomes, keys, mints, sub = asyncio.run(scenario())
    assert all(isinstance(o, Delivered) and o.provider_id for o in outcomes)
    assert mints == 1  # one VAPID JWT for the push service's origin
    got = webpush_fake.received_by(sub.endpoint)
    assert len(got) == 3
    assert json.loads(got[0].plaintext)["title"] == "Hello"
    assert (got[0].ttl, got[0].urgency, got[0].topic, got[0].vapid_key) == (
        600,
        "high",
        "order-42",
        keys.public_key,
    )


@TRANSPORTS
def test_webpush_answers_map_to_outcomes(
    webpush_fake: WebPushFake, clock: FrozenClock, transport: str
) -> None:
    async def scenario() -> list[object]:
        async with _client(transport) as client:
            sender, _keys, _ = _webpush_sender(clock, client)
            gone, busy, down, plain = (webpush_fake.subscribe() for _ in range(4))
            webpush_fake.script.gone.add(gone.endpoint)
            webpush_fake.script.inject(429, retry_after="17", address=busy.endpoint)
            webpush_fake.script.inject(503, address=down.endpoint)
            webpush_fake.script.inject(400, reason="bad", address=plain.endpoint)
            other = webpush_fake.subscribe(webpush.generate_vapid_keys().public_key)
            payload = webpush_payload(CONTENT)
            return [await sender.send(s, payload) for s in (gone, busy, down, plain, other)]

    gone, busy, down, plain, other = asyncio.run(scenario())
    assert isinstance(gone, Rejected)
    assert gone.token_invalid
    assert busy == Retry(17.0, '429 {"reason":"injected"}')
    assert isinstance(down, Retry)
    assert down.after_seconds == 10.0
    assert plain == Rejected('400 {"reason":"bad"}', token_invalid=False)
    assert other == Rejected(
        '403 {"reason":"VAPID key does not match the subscription"}', token_invalid=False
    )
    assert webpush_fake.received == []


def test_webpush_checks_the_3993_byte_limit_before_sending(
    webpush_fake: WebPushFake, clock: FrozenClock
) -> None:
    async def scenario() -> tuple[object, object]:
        async with httpx.AsyncClient() as client:
            sender, keys, _ = _webpush_sender(clock, client)
            sub = webpush_fake.subscribe(keys.public_key)
            fits = await sender.send(sub, b"x" * 3993)
            too_big = await sender.send(sub, b"x" * 3994)
            return fits, too_big

    fits, too_big = asyncio.run(scenario())
    assert isinstance(fits, Delivered)
    assert too_big == Rejected("payload is 3994 bytes; the limit is 3993")
    assert [len(r.plaintext) for r in webpush_fake.received] == [3993]
    assert webpush_fake.rejected == []


def test_webpush_unreachable_service_is_a_retry(clock: FrozenClock) -> None:
    with WebPushFake() as fake:
        sub = fake.subscribe()

    async def scenario() -> object:
        async with Http1Pool(timeout=5) as client:
            sender, _keys, _ = _webpush_sender(clock, client)
            return await sender.send(sub, b"{}")

    outcome = asyncio.run(scenario())
    assert isinstance(outcome, Retry)
    assert outcome.reason == "push service unreachable: ConnectionRefusedError"
