"""FCM HTTP v1 on loopback: the OAuth token endpoint and the send endpoint.

`service_account()` returns a key file whose `token_uri` is this fake, signed by a fresh
RSA key the fake trusts. Sends need a bearer token the fake issued; the message must name
a `token` and fit 4096 bytes. Scriptable via `script` (inject / gone / delay):

    with FcmFake() as fake:
        info = fake.service_account()
        fake.script.gone.add("tok-1")          # → 404 UNREGISTERED
        fake.script.inject(503, retry_after="2")
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidings.testing._serve import AsgiThread, FaultScript

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
ERROR_CODES = {404: "UNREGISTERED", 429: "QUOTA_EXCEEDED", 503: "UNAVAILABLE", 500: "INTERNAL"}


@dataclass(frozen=True)
class FcmReceived:
    """One accepted message: the project and the decoded `message` object."""

    project: str
    message: dict[str, Any]


def fcm_error(status: int, error_code: str | None = None) -> dict[str, Any]:
    """An FCM v1 error body as the real service shapes it."""
    name = STATUS_NAMES.get(status, "UNKNOWN")
    details = []
    if error_code:
        details.append(
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        )
    return {"error": {"code": status, "message": name, "status": name, "details": details}}


@dataclass
class FcmFake:
    """Start with `with FcmFake() as fake:`; point senders at `fake.url`."""

    script: FaultScript = field(default_factory=FaultScript)
    received: list[FcmReceived] = field(default_factory=list)
    token_requests: int = 0
    _keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    _issued: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
            ]
        )
        self._server = AsgiThread(app, "fcm-fake")
        self.url = self._server.url

    def __enter__(self) -> FcmFake:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def service_account(self, project_id: str = "tidings-test") -> dict[str, Any]:
        """A service-account key file the fake accepts (self-generated RSA key)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"sender-{os.urandom(4).hex()}@{project_id}.iam.gserviceaccount.com"
        with self._lock:
            self._keys[email] = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": os.urandom(20).hex(),
            "private_key": pem,
            "client_email": email,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        with self._lock:
            self.token_requests += 1
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        assertion = str(form.get("assertion", ""))
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False})["iss"]
            # google-auth always sends Google's own `aud`, whatever token_uri says.
            jwt.decode(
                assertion,
                self._keys[issuer],
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["iss", "scope", "exp", "iat"]},
            )
        except (KeyError, jwt.PyJWTError):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        token = "ya29.fake-" + os.urandom(16).hex()
        with self._lock:
            self._issued.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def _send(self, request: Request) -> Response:
        if self.script.delay:
            await asyncio.sleep(self.script.delay)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._issued:
            return JSONResponse(fcm_error(401), status_code=401)
        body = await request.body()
        try:
            message = json.loads(body)["message"]
            token = message["token"]
        except (ValueError, KeyError, TypeError):
            return JSONResponse(fcm_error(400), status_code=400)
        if len(body) > 4096:
            return JSONResponse(fcm_error(400), status_code=400)
        injected = self.script.take(token)
        if injected is not None:
            code = injected.reason or ERROR_CODES.get(injected.status)
            headers = {"Retry-After": injected.retry_after} if injected.retry_after else None
            err = fcm_error(injected.status, code)
            return JSONResponse(err, status_code=injected.status, headers=headers)
        if token in self.script.gone:
            return JSONResponse(fcm_error(404, "UNREGISTERED"), status_code=404)
        project = request.path_params["project"]
        with self._lock:
            self.received.append(FcmReceived(project, message))
            n = len(self.received)
        return JSONResponse({"name": f"projects/{project}/messages/{n}"})
