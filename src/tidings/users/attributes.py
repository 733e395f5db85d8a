"""Typed user attributes (pure): infer a type on first sight, hold later values to it.

Types: string, number, boolean, datetime (ISO-8601 with a zone, kept as UTC text ending
in "Z" so it sorts as text in SQL too), list (of strings). `None` unsets an attribute.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tidings.errors import ValidationFailed

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$"
)
MAX_STRING = 1024
MAX_LIST = 100
MAX_ATTRIBUTES = 250

AttributeValue = str | float | bool | list[str]


def _as_datetime(text: str) -> str | None:
    if not DATETIME_RE.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def infer_type(value: Any) -> str | None:
    """The attribute type a new value declares, or None if it fits none."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "datetime" if _as_datetime(value) else "string"
    if isinstance(value, list):
        return "list"
    return None


def coerce(value: Any, type_: str, field: str) -> AttributeValue:
    """`value` held to `type_`, normalized; ValidationFailed naming `field` if it does not fit."""

    def fail(why: str) -> ValidationFailed:
        return ValidationFailed(f"{field}: {why}", field=field, code="attribute_type_mismatch")

    if type_ == "boolean":
        if not isinstance(value, bool):
            raise fail("expected a boolean (this attribute was declared boolean)")
        return value
    if type_ == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("expected a number (this attribute was declared number)")
        if not math.isfinite(value):
            raise fail("numbers must be finite")
        return float(value) if isinstance(value, float) else value
    if type_ == "datetime":
        normalized = _as_datetime(value) if isinstance(value, str) else None
        if normalized is None:
            raise fail("expected an ISO-8601 datetime with a zone, e.g. 2026-01-31T09:00:00Z")
        return normalized
    if type_ == "string":
        if not isinstance(value, str):
            raise fail("expected a string (this attribute was declared string)")
        if len(value) > MAX_STRING:
            raise fail(f"strings are at most {MAX_STRING} characters")
        return value
    if type_ == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("expected a list of strings (this attribute was declared list)")
        if len(value) > MAX_LIST or any(len(v) > MAX_STRING for v in value):
            raise fail(f"lists hold at most {MAX_LIST} strings of {MAX_STRING} characters")
        return list(value)
    raise fail(f"unknown attribute type {type_!r}")


def check_attributes(
    given: Mapping[str, Any], declared: Mapping[str, str], *, prefix: str = "attributes"
) -> tuple[dict[str, AttributeValue | None], dict[str, str]]:
    """Validate `given` against `declared` types.

    Returns (normalized values, with None meaning "unset"; newly declared name → type).
    """
    if len(given) > MAX_ATTRIBUTES:
        raise ValidationFailed(f"at most {MAX_ATTRIBUTES} attributes per request", field=prefix)
    values: dict[str, AttributeValue | None] = {}
    new: dict[str, str] = {}
    for name, value in given.items():
        field = f"{prefix}.{name}"
        if not NAME_RE.match(name):
            raise ValidationFailed(
                f"{field}: names start with a letter or _ and use letters, digits, _ . - "
                "(at most 128)",
                field=field,
                code="invalid_attribute_name",
            )
        if value is None:
            values[name] = None
            continue
        type_ = declared.get(name) or new.get(name)
        if type_ is None:
            type_ = infer_type(value)
            if type_ is None:
                raise ValidationFailed(
                    f"{field}: attribute values are strings, numbers, booleans, ISO datetimes "
                    "or lists of strings",
                    field=field,
                    code="attribute_type_mismatch",
                )
            new[name] = type_
        values[name] = coerce(value, type_, field)
    return values, new


def apply(
    current: Mapping[str, Any], changes: Mapping[str, AttributeValue | None]
) -> dict[str, Any]:
    """A new attribute dict: `changes` applied over `current`, None removing a key."""
    merged = dict(current)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
