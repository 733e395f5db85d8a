"""The three answers a provider gives; providers return these and never raise for them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

# httpx writes request headers and body separately; with Nagle on, the body waits for
# the peer's delayed ACK (~40 ms per request on Linux). Providers always send at once.
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


@dataclass(frozen=True)
class Delivered:
    """The provider accepted the message; `provider_id` is its id for it (may be "")."""

    provider_id: str


@dataclass(frozen=True)
class Retry:
    """Try again no sooner than `after_seconds` (the provider's Retry-After when given)."""

    after_seconds: float
    reason: str


@dataclass(frozen=True)
class Rejected:
    """Do not retry. `token_invalid` means deactivate the address; `invalid_since` (APNs
    410 timestamp) lets a re-registration newer than that survive."""

    reason: str
    token_invalid: bool = False
    invalid_since: datetime | None = None


Outcome = Delivered | Retry | Rejected


def retry_after_seconds(value: str | None, *, now: datetime, default: float) -> float:
    """Parse a Retry-After header (delta-seconds or HTTP-date) into seconds from `now`."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - now).total_seconds())


def http_client(*, http2: bool = False, **kwargs: Any) -> httpx.AsyncClient:
    """A keep-alive client for provider sends, with TCP_NODELAY; `http2=True` speaks only
    HTTP/2 (prior knowledge, so a cleartext fake works too)."""
    transport = httpx.AsyncHTTPTransport(
        http1=not http2, http2=http2, socket_options=NODELAY, retries=0
    )
    kwargs.setdefault("timeout", httpx.Timeout(30.0, connect=10.0))
    return httpx.AsyncClient(transport=transport, **kwargs)
