"""RFC 8291/8292 vectors and per-provider payload size limits (P4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.clock import FrozenClock
from tidings.delivery.payloads import (
    APNS_LIMIT,
    FCM_LIMIT,
    WEBPUSH_LIMIT,
    Action,
    PayloadTooLarge,
    PushContent,
    apns_payload,
    fcm_message,
    truncate_text,
    webpush_payload,
)
from tidings.delivery.providers import webpush
from tidings.delivery.providers.webpush import b64u, unb64u

# RFC 8291 Appendix A.
PLAINTEXT = b"When I grow up, I want to be a watermelon"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY"
    "WAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexS"
    "gSxsj_Qulcy4a-fN"
)


def _private(b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(unb64u(b64), "big"), ec.SECP256R1())


def test_rfc8291_appendix_a_byte_for_byte() -> None:
    body = webpush.encrypt(
        PLAINTEXT, UA_PUBLIC, AUTH, salt=unb64u(SALT), server_key=_private(AS_PRIVATE)
    )
    assert len(body) == 144
    assert b64u(body) == BODY


def test_rfc8291_appendix_a_decrypts_with_the_user_agent_key() -> None:
    assert webpush.decrypt(unb64u(BODY), _private(UA_PRIVATE), AUTH) == PLAINTEXT


def test_largest_plaintext_makes_a_4096_byte_body_and_one_more_is_refused() -> None:
    ua = ec.generate_private_key(ec.SECP256R1())
    p256dh = b64u(webpush._public_bytes(ua.public_key()))
    body = webpush.encrypt(b"x" * WEBPUSH_LIMIT, p256dh, AUTH)
    assert len(body) == 4096
    assert webpush.decrypt(body, ua, AUTH) == b"x" * WEBPUSH_LIMIT
    with pytest.raises(ValueError, match="3993"):
        webpush.encrypt(b"x" * (WEBPUSH_LIMIT + 1), p256dh, AUTH)


def test_vapid_jwt_verifies_per_rfc8292_and_is_reused_per_audience() -> None:
    keys = webpush.generate_vapid_keys()
    clock = FrozenClock(datetime.now(UTC))
    signer = webpush.VapidSigner(keys.private_pem, "mailto:ops@example.com", clock)
    header = signer.authorization("https://push.example.net")
    scheme, params = header.split(" ", 1)
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert scheme == "vapid"
    assert parts["k"] == keys.public_key
    assert len(unb64u(parts["k"])) == 65
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(parts["k"]))
    claims = jwt.decode(
        parts["t"], public, algorithms=["ES256"], audience="https://push.example.net"
    )
    assert jwt.get_unverified_header(parts["t"]) == {"typ": "JWT", "alg": "ES256"}
    assert claims["sub"] == "mailto:ops@example.com"
    assert 0 < claims["exp"] - clock.now().timestamp() <= 86_400
    # Reused for the same audience, minted anew for another and when near expiry.
    assert signer.authorization("https://push.example.net") == header
    signer.authorization("https://other.example.org")
    assert signer.mints == 2
    clock.advance(timedelta(hours=11, minutes=1))
    assert signer.authorization("https://push.example.net") != header
    assert signer.mints == 3


def test_vapid_refuses_a_key_that_is_not_p256() -> None:
    with pytest.raises(ValueError, match="not a PEM"):
        webpush.load_vapid_private_key(
            "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"
        )


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("hello", 5, "hello"),
        ("hello world", 8, "hello…"),
        ("e\u0301e\u0301e\u0301", 7, "e\u0301…"),  # never strip an accent from its letter
        ("ab🇫🇷🇩🇪", 12, "ab…"),  # never split a flag pair
        ("a👨‍👩‍👧b", 10, "a…"),  # never split a ZWJ family
        ("日本語", 5, ""),  # nothing fits but the ellipsis: give nothing
    ],
)
def test_truncation_keeps_whole_characters(text: str, limit: int, expected: str) -> None:
    out = truncate_text(text, limit)
    assert out == expected
    assert len(out.encode()) <= limit


unicode_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=3000
)


@settings(max_examples=60, deadline=None)
@given(
    title=unicode_text,
    body=unicode_text,
    data=st.dictionaries(st.text(max_size=20), unicode_text, max_size=2),
)
def test_every_payload_fits_its_provider_limit(title: str, body: str, data: dict[str, str]) -> None:
    content = PushContent(
        title=title,
        body=body,
        data={k: v[:300] for k, v in data.items()},
        actions=(Action("yes", "Yes"),),
        deep_link="https://example.com/x",
        badge=3,
    )
    for build, limit in ((apns_payload, APNS_LIMIT), (webpush_payload, WEBPUSH_LIMIT)):
        encoded = build(content)
        assert len(encoded) <= limit
        shown = json.loads(encoded)
        assert isinstance(shown, dict)
    message = fcm_message(content, "token-1")
    assert len(message) <= FCM_LIMIT
    assert json.loads(message)["message"]["token"] == "token-1"


def test_short_content_is_untouched_and_oversized_data_is_refused() -> None:
    content = PushContent(title="Sale", body="50% off today", image="https://i.example/x.png")
    apns = json.loads(apns_payload(content))
    assert apns["aps"]["alert"] == {"title": "Sale", "body": "50% off today"}
    assert apns["aps"]["mutable-content"] == 1
    fcm = json.loads(fcm_message(content, "t"))["message"]
    assert fcm["notification"] == {
        "title": "Sale",
        "body": "50% off today",
        "image": "https://i.example/x.png",
    }
    with pytest.raises(PayloadTooLarge):
        apns_payload(PushContent(title="x", data={"blob": "y" * 5000}))
