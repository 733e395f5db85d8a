"""Structured logs: JSON lines (`ts`, `level`, `logger`, `msg`, extra fields) or plain text.

`configure_logging` installs one handler on the root logger (replacing only its own on a
second call) and routes uvicorn's loggers through it; Tidings' access log
(`tidings.access`, written by the metrics middleware) replaces uvicorn's, which is
silenced. Fields whose names suggest a secret are redacted as a last line of defence:
request bodies and the Authorization header are never logged in the first place.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
# uvicorn adds `color_message` (the message with ANSI colours): noise in a log line.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
_SECRET_WORDS = ("authorization", "password", "secret", "token", "api_key", "cookie")
REDACTED = "[redacted]"
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra=` fields, with secret-looking ones redacted."""
    fields: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        lowered = key.lower()
        fields[key] = REDACTED if any(w in lowered for w in _SECRET_WORDS) else value
    return fields


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`ts LEVEL logger: msg key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = extra_fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return line


class _TidingsHandler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installed, so reconfiguring replaces only it."""


def configure_logging(level: str, fmt: str) -> None:
    """Log at `level` ("debug".."error") to stderr as `fmt` ("json" or "text")."""
    root = logging.getLogger()
    for ours in [h for h in root.handlers if isinstance(h, _TidingsHandler)]:
        root.removeHandler(ours)
    handler = _TidingsHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _UVICORN:
        # uvicorn may have given its loggers their own handlers; one format for all.
        uv = logging.getLogger(name)
        for old in list(uv.handlers):
            uv.removeHandler(old)
        uv.propagate = True
    # Our access log (route template, app id, duration) replaces uvicorn's raw-path one.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic announces its dialect on every start; only its warnings are news.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
