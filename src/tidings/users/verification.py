"""Identity verification: when an app enforces it, a write-key request about a known user
must carry HMAC-SHA256(identity secret, external_id)."""

from __future__ import annotations

from tidings.crypto import SecretBox
from tidings.errors import Unauthorized
from tidings.tenancy.auth import Caller
from tidings.tenancy.keys import user_hash_matches


def must_verify(caller: Caller) -> bool:
    return caller.kind == "write" and caller.identity_verification


def verify(
    caller: Caller,
    box: SecretBox,
    external_id: str | None,
    given_hash: str | None,
    *,
    field: str = "user_hash",
) -> None:
    """Raise 401 unless the request may act for `external_id` (no-op when not enforced)."""
    if external_id is None or not must_verify(caller):
        return
    if not user_hash_matches(box.open(caller.identity_secret_sealed), external_id, given_hash):
        raise Unauthorized(
            "identity verification failed: user_hash must be HMAC-SHA256(identity secret, "
            "external_id) in hex",
            field=field,
            code="identity_not_verified",
        )
