"""One error hierarchy, mapped to HTTP in one place.

Every 4xx/5xx body is `{"error": {"code": ..., "message": ..., "field": ...}}`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("tidings.errors")


class TidingsError(Exception):
    """Base of every error Tidings reports to a caller."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details
        self.headers = headers or {}
        if code:
            self.code = code

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}


class BadRequest(TidingsError):
    status, code = 400, "bad_request"


class Unauthorized(TidingsError):
    status, code = 401, "unauthorized"


class Forbidden(TidingsError):
    status, code = 403, "forbidden"


class NotFound(TidingsError):
    status, code = 404, "not_found"


class Conflict(TidingsError):
    status, code = 409, "conflict"


class PayloadTooLarge(TidingsError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(TidingsError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(TidingsError):
    status, code = 422, "invalid"


class RateLimited(TidingsError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, round(retry_after + 0.5)))})


class Unavailable(TidingsError):
    status, code = 503, "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class ProviderError(Exception):
    """A push provider failed; transient ones are retried, permanent ones are not."""


class TransientProviderError(ProviderError):
    pass


class PermanentProviderError(ProviderError):
    pass


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str | None:
    """Turn a pydantic location into `events[3].properties.plan` form."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


def from_validation_errors(errors: Sequence[Any]) -> TidingsError:
    """The one error for pydantic/FastAPI validation errors: 400 for unreadable JSON,
    else 422 naming the first bad field (all of them, up to 20, in `details`)."""
    if not errors:
        return ValidationFailed("invalid request", field="body")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return BadRequest("request body is not valid JSON", code="malformed_json", field="body")

    def where(e: Any) -> str | None:
        loc = tuple(e.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        return field_path(loc)

    def message(e: Any) -> str:
        # pydantic prefixes errors raised by our validators with "Value error, ".
        return str(e.get("msg", "invalid")).removeprefix("Value error, ")

    details = [{"field": where(e), "message": message(e)} for e in errors[:20]]
    return ValidationFailed(message(first), field=where(first) or "body", details=details)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    err = from_validation_errors(exc.errors())
    return JSONResponse(err.body(), status_code=err.status)


def _says_unavailable(text: str) -> bool:
    """A driver's message for a database that is busy, locked or unreachable."""
    text = text.lower()
    return any(
        marker in text
        for marker in (
            "database is locked",
            "database is busy",
            "connection",
            "timeout",
            "terminat",
        )
    )


def _is_unavailable(exc: DBAPIError) -> bool:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return exc.connection_invalidated or _says_unavailable(text)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the one error body, with the right status."""

    @app.exception_handler(TidingsError)
    async def _tidings(_: Request, exc: TidingsError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body it cannot decode at all (e.g. invalid UTF-8).
            bad = BadRequest("request body is not valid JSON", code="malformed_json", field="body")
            return JSONResponse(bad.body(), status_code=bad.status)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        body = {
            "error": {
                "code": codes.get(exc.status_code, "http_error"),
                "message": str(exc.detail),
                "field": None,
            }
        }
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _db(_: Request, exc: DBAPIError) -> JSONResponse:
        # Busy, locked or unreachable is worth a retry (503); a broken query is our bug (500).
        return _unavailable(exc) if _is_unavailable(exc) else _internal(exc)

    @app.exception_handler(sqlite3.OperationalError)
    async def _sqlite(_: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        # From the SQLite writer thread, unwrapped by SQLAlchemy: judged the same way.
        return _unavailable(exc) if _says_unavailable(str(exc)) else _internal(exc)

    @app.exception_handler(ConnectionError)
    @app.exception_handler(TimeoutError)
    @app.exception_handler(PoolTimeout)
    async def _unreachable(_: Request, exc: Exception) -> JSONResponse:
        # A connection reset or timed out below SQLAlchemy's DBAPI wrapping (asyncpg's
        # connect raises these raw): the outcome is unknown, so the client must retry.
        return _unavailable(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _internal(exc)


def _unavailable(exc: BaseException) -> JSONResponse:
    log.warning("database unavailable: %r", exc)
    err = Unavailable("the database is busy or unreachable; retry shortly")
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _internal(exc: BaseException) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    body = {"error": {"code": "internal", "message": "internal error", "field": None}}
    return JSONResponse(body, status_code=500)
