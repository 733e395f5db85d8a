"""FCM HTTP v1: service-account OAuth (google-auth) and one POST per message.

Answers map per FCM's ErrorCode table: UNREGISTERED/404 and SENDER_ID_MISMATCH → token
invalid; INVALID_ARGUMENT → rejected (token invalid only with an FcmError detail);
429 → retry after max(Retry-After, 60 s); 500/503 → retry after Retry-After.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from google.auth import exceptions as google_exceptions
from google.auth import transport
from google.oauth2 import service_account

from tidings.clock import Clock
from tidings.delivery.providers.base import Delivered, Outcome, Rejected, Retry, retry_after_seconds
from tidings.delivery.providers.http1 import Http1Pool, Lease, Reply

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_URL = "https://fcm.googleapis.com"
REFRESH_BEFORE = timedelta(minutes=5)
REQUIRED_FIELDS = ("type", "project_id", "private_key", "client_email", "token_uri")


def load_service_account(info: dict[str, Any]) -> service_account.Credentials:
    """Check a service-account JSON; ValueError naming what is wrong (never the key)."""
    missing = [f for f in REQUIRED_FIELDS if not info.get(f)]
    if missing:
        raise ValueError(f"service account JSON lacks {', '.join(missing)}")
    if info["type"] != "service_account":
        raise ValueError('service account JSON must have "type": "service_account"')
    try:
        creds: service_account.Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[SCOPE]
        )
        return creds
    except (ValueError, TypeError):
        raise ValueError("private_key is not a valid PEM RSA private key") from None


class _Response(transport.Response):
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp

    @property
    def status(self) -> int:
        return self._resp.status_code

    @property
    def headers(self) -> Any:
        return dict(self._resp.headers)

    @property
    def data(self) -> bytes:
        return self._resp.content


class _Request(transport.Request):
    """google-auth's transport interface over a synchronous httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            resp = self._client.request(
                method, url, content=body, headers=headers, timeout=timeout or 30
            )
        except httpx.HTTPError as exc:
            raise google_exceptions.TransportError(str(exc)) from exc  # type: ignore[no-untyped-call]
        return _Response(resp)


class AccessTokens:
    """OAuth access tokens for one service account, cached until 5 min before expiry."""

    def __init__(self, info: dict[str, Any], clock: Clock) -> None:
        self._credentials = load_service_account(info)
        self.project_id: str = info["project_id"]
        self._clock = clock
        self._token: str | None = None
        self._expires: datetime | None = None
        self._lock = asyncio.Lock()
        self.mints = 0

    def forget(self) -> None:
        self._token = None

    def _fresh(self) -> bool:
        now = self._clock.now()
        return not (
            self._token is None or self._expires is None or self._expires - now < REFRESH_BEFORE
        )

    async def get(self) -> str:
        if self._fresh():  # the common case: no lock, no await
            assert self._token is not None
            return self._token
        async with self._lock:
            now = self._clock.now()
            if not self._fresh():  # another send may have refreshed it while we waited
                self._token, lifetime = await asyncio.to_thread(self._refresh)
                self._expires = now + lifetime
                self.mints += 1
            assert self._token is not None
            return self._token

    def _refresh(self) -> tuple[str, timedelta]:
        with httpx.Client() as client:
            self._credentials.refresh(_Request(client))  # type: ignore[no-untyped-call]
        token = self._credentials.token
        expiry = self._credentials.expiry  # naive UTC, from google-auth's own clock
        assert token is not None and expiry is not None
        return token, expiry - datetime.now(UTC).replace(tzinfo=None)


class FcmSender:
    """Sends FCM v1 messages over an `Http1Pool` (leanest) or an httpx.AsyncClient;
    `base_url` points at the real service or a fake."""

    def __init__(
        self,
        client: Http1Pool | httpx.AsyncClient,
        tokens: AccessTokens,
        clock: Clock,
        *,
        base_url: str = FCM_URL,
    ) -> None:
        self._client = client
        self._tokens = tokens
        self._clock = clock
        self._url = f"{base_url}/v1/projects/{tokens.project_id}/messages:send"

    @property
    def url(self) -> str:
        return self._url

    async def stage(self, message: bytes, lease: Lease) -> None:
        """Encode `message`'s request on a leased `Http1Pool` connection ahead of `send`."""
        assert isinstance(self._client, Http1Pool)
        bearer = await self._tokens.get()
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
        self._client.stage(lease, self._url, message, headers)

    async def headers(self) -> dict[str, str]:
        """The request headers, with a fresh OAuth token (GoogleAuthError if none)."""
        bearer = await self._tokens.get()
        return {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}

    async def send_staged(self, leases: list[Lease]) -> list[Outcome]:
        """Post the requests staged on `leases` (see `Http1Pool.stage`) all at once; one
        outcome per lease, in order."""
        assert isinstance(self._client, Http1Pool)
        return [
            self._outcome(reply)
            if isinstance(reply, Reply)
            else Retry(10.0, f"FCM unreachable: {type(reply).__name__}")
            for reply in await self._client.post_staged(leases)
        ]

    async def send(self, message: bytes, *, lease: Lease | None = None) -> Outcome:
        """Post one encoded `{"message": …}` body (see `payloads.fcm_message`); `lease`
        is a connection taken beforehand from the `Http1Pool`."""
        try:
            bearer = await self._tokens.get()
        except google_exceptions.GoogleAuthError as exc:
            return Retry(60.0, f"OAuth token refresh failed: {type(exc).__name__}")
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
        try:
            if isinstance(self._client, Http1Pool):
                reply = await self._client.post(self._url, message, headers, lease=lease)
            else:
                resp = await self._client.post(self._url, content=message, headers=headers)
                reply = Reply(resp.status_code, dict(resp.headers), resp.content)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            return Retry(10.0, f"FCM unreachable: {type(exc).__name__}")
        return self._outcome(reply)

    def _outcome(self, resp: Reply) -> Outcome:
        status = resp.status
        if status == 200:
            return Delivered(str(_json(resp).get("name", "")))
        error = _json(resp).get("error", {})
        details = error.get("details", []) if isinstance(error, dict) else []
        fcm_code = next(
            (d.get("errorCode") for d in details if isinstance(d, dict) and d.get("errorCode")),
            None,
        )
        code = fcm_code or (error.get("status") if isinstance(error, dict) else None) or status
        reason = f"{status} {code}"
        now = self._clock.now()
        retry_after = resp.headers.get("retry-after")
        if status == 404 or fcm_code in ("UNREGISTERED", "SENDER_ID_MISMATCH"):
            return Rejected(reason, token_invalid=True)
        if status == 429:
            return Retry(max(60.0, retry_after_seconds(retry_after, now=now, default=60)), reason)
        if status >= 500:
            return Retry(retry_after_seconds(retry_after, now=now, default=10), reason)
        if status == 401 and fcm_code != "THIRD_PARTY_AUTH_ERROR":
            self._tokens.forget()  # our access token was refused: mint a new one next time
            return Retry(1.0, reason)
        # A bad token is reported as INVALID_ARGUMENT with an FcmError detail; a BadRequest
        # detail means our payload is wrong and the token is fine.
        return Rejected(reason, token_invalid=fcm_code == "INVALID_ARGUMENT")


def _json(resp: Reply) -> dict[str, Any]:
    try:
        data = json.loads(resp.body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
