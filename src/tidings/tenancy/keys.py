"""Key material: public write keys, secret server keys (hashed), identity HMAC. Pure."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

WRITE_KEY_PREFIX = "tdw_"
SERVER_KEY_PREFIX = "tds_"


@dataclass(frozen=True)
class NewServerKey:
    """A freshly minted server key: `token` is shown once, only `secret_hash` is kept."""

    prefix: str
    token: str
    secret_hash: str


def new_write_key() -> str:
    return WRITE_KEY_PREFIX + secrets.token_urlsafe(24)


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # Server keys carry 256 bits of randomness, so a fast hash is safe (no brute force).
    return hashlib.sha256(secret.encode()).hexdigest()


def new_server_key() -> NewServerKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewServerKey(prefix, f"{SERVER_KEY_PREFIX}{prefix}_{secret}", hash_secret(secret))


def split_server_key(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed server key, else None."""
    if not token.startswith(SERVER_KEY_PREFIX):
        return None
    prefix, sep, secret = token[len(SERVER_KEY_PREFIX) :].partition("_")
    if not sep or not prefix or not secret:
        return None
    return prefix, secret


def server_key_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def user_hash(identity_secret: str, external_id: str) -> str:
    """What an app's backend gives its front end so the SDK can prove who the user is."""
    return hmac.new(identity_secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def user_hash_matches(identity_secret: str, external_id: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(user_hash(identity_secret, external_id), given.lower())
