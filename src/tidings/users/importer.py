"""Parse user-import files (pure): CSV or JSON-lines rows in, identify bodies or reasons out.

CSV: a header row names the columns. `external_id`, `anonymous_id`, `locale`, `timezone`
and `consent.<channel>` are reserved; every other column is an attribute. Cells are typed
(numbers, true/false, ISO datetimes, `a|b|c` for list attributes); an empty cell is
skipped. When an attribute already has a type, the cell is read as that type, so a
`zip` declared string keeps "01234" as text.
JSON lines: one object per line shaped like the `POST /v1/identify` body; blank lines
are skipped.
Each row is judged on its own; a bad row becomes a `RowError` with its line number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from tidings.errors import TidingsError, field_path
from tidings.users import attributes as attrs
from tidings.users.schemas import CHANNELS, IdentifyIn

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
IDENTITY_COLUMNS = ("external_id", "anonymous_id")
RESERVED_COLUMNS = (*IDENTITY_COLUMNS, "locale", "timezone")
CONSENT_PREFIX = "consent."
LIST_SEPARATOR = "|"
NUMBER_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
TRUE, FALSE = "true", "false"


@dataclass(frozen=True)
class RowError:
    """Why the row on `line` (1-based, as an editor counts) was not imported."""

    line: int
    field: str | None
    message: str


@dataclass(frozen=True)
class ImportRow:
    """A valid row: an identify body whose attributes are already typed and normalized."""

    line: int
    body: IdentifyIn


class _Bad(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message


def infer_format(path: str | PurePath) -> Format | None:
    """The format a file name implies (`.csv`, `.jsonl`/`.ndjson`), else None."""
    suffix = PurePath(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return None


def format_named(name: str) -> Format | None:
    """`name` as a Format ("csv", "jsonl"; "ndjson" means jsonl), else None."""
    lowered = name.lower()
    if lowered == "csv":
        return "csv"
    if lowered in ("jsonl", "ndjson"):
        return "jsonl"
    return None


def type_cell(text: str, declared: str | None, column: str) -> Any:
    """A CSV cell as a typed value (None for an empty cell); `_Bad` if it cannot be."""
    value = text.strip()
    if not value:
        return None
    field = f"attributes.{column}"
    if declared == "string":
        return text
    if declared == "number":
        if not NUMBER_RE.match(value):
            raise _Bad(field, f"{field}: expected a number (this attribute was declared number)")
        return _number(value)
    if declared == "boolean":
        if value.lower() not in (TRUE, FALSE):
            raise _Bad(field, f"{field}: expected true or false (declared boolean)")
        return value.lower() == TRUE
    if declared == "list":
        return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
    if declared == "datetime":
        return value  # attrs.coerce checks and normalizes it
    if value.lower() in (TRUE, FALSE):
        return value.lower() == TRUE
    if NUMBER_RE.match(value):
        return _number(value)
    return value


def _number(text: str) -> int | float:
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def check_header(header: list[str]) -> RowError | None:
    """A problem with the CSV header (reported as line 1), or None when it is usable."""
    seen: set[str] = set()
    for raw in header:
        name = raw.strip()
        if name in seen:
            return RowError(1, name, f"column {name!r} appears twice")
        seen.add(name)
        if name in RESERVED_COLUMNS:
            continue
        if name.startswith(CONSENT_PREFIX):
            channel = name[len(CONSENT_PREFIX) :]
            if channel not in CHANNELS:
                return RowError(
                    1, name, f"unknown consent channel {channel!r}; known: {list(CHANNELS)}"
                )
            continue
        if not attrs.NAME_RE.match(name):
            return RowError(
                1,
                name,
                f"column {name!r} is not a valid attribute name (start with a letter or _, "
                "then letters, digits, _ . -; at most 128)",
            )
    if not seen.intersection(IDENTITY_COLUMNS):
        return RowError(1, None, "the header needs an external_id or anonymous_id column")
    return None


class RowJudge:
    """Validates rows one by one, remembering the attribute types earlier good rows declared.

    `declared` starts as the app's stored attribute types; a type first seen in this file
    holds for the rows after it, as it would for a stream of identify calls.
    """

    def __init__(self, declared: Mapping[str, str]) -> None:
        self.declared: dict[str, str] = dict(declared)

    def csv_body(self, header: list[str], cells: list[str]) -> dict[str, Any]:
        if len(cells) != len(header):
            raise _Bad(None, f"the row has {len(cells)} cells; the header has {len(header)}")
        body: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        consent: dict[str, bool] = {}
        for name, cell in zip(header, cells, strict=True):
            if name in RESERVED_COLUMNS:
                if cell.strip():
                    body[name] = cell.strip()
            elif name.startswith(CONSENT_PREFIX):
                if cell.strip():
                    flag = cell.strip().lower()
                    if flag not in (TRUE, FALSE):
                        raise _Bad(
                            f"consent.{name[len(CONSENT_PREFIX) :]}", "expected true or false"
                        )
                    consent[name[len(CONSENT_PREFIX) :]] = flag == TRUE
            else:
                value = type_cell(cell, self.declared.get(name), name)
                if value is not None:
                    attributes[name] = value
        body["attributes"] = attributes
        if consent:
            body["consent"] = consent
        return body

    def judge(self, line: int, body: Any) -> ImportRow | RowError:
        """The row as an ImportRow, or the first reason it is bad."""
        try:
            if not isinstance(body, dict):
                raise _Bad(None, "each line must be a JSON object shaped like an identify body")
            if not body.get("external_id") and not body.get("anonymous_id"):
                raise _Bad("external_id", "external_id or anonymous_id is required")
            try:
                parsed = IdentifyIn.model_validate(body)
            except ValidationError as exc:
                first = exc.errors()[0]
                message = str(first["msg"]).removeprefix("Value error, ")
                raise _Bad(field_path(tuple(first["loc"])), message) from exc
            try:
                values, new = attrs.check_attributes(parsed.attributes, self.declared)
            except TidingsError as exc:
                raise _Bad(exc.field, exc.message) from exc
        except _Bad as bad:
            return RowError(line, bad.field, bad.message)
        self.declared.update(new)
        parsed.attributes = values
        return ImportRow(line, parsed)


def parse_csv(lines: Iterable[str], judge: RowJudge) -> Iterator[ImportRow | RowError]:
    """Rows of a CSV text (header first); stops after a header error."""
    reader = csv.reader(iter(lines))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        yield RowError(1, None, "the file is empty; expected a header row")
        return
    except csv.Error as exc:
        yield RowError(1, None, f"unreadable header: {exc}")
        return
    problem = check_header(header)
    if problem is not None:
        yield problem
        return
    while True:
        line = reader.line_num + 1  # where this record starts (quoted cells may span lines)
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(line, None, f"unreadable CSV: {exc}")
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        try:
            body = judge.csv_body(header, cells)
        except _Bad as bad:
            yield RowError(line, bad.field, bad.message)
            continue
        yield judge.judge(line, body)


def parse_jsonl(lines: Iterable[str], judge: RowJudge) -> Iterator[ImportRow | RowError]:
    """Rows of a JSON-lines text, one identify-shaped object per line."""
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield RowError(line, None, f"not valid JSON: {exc}")
            continue
        yield judge.judge(line, body)


def parse(
    lines: Iterable[str], fmt: Format, declared: Mapping[str, str]
) -> Iterator[ImportRow | RowError]:
    """Rows of an import file in `fmt`, judged against the app's `declared` types."""
    judge = RowJudge(declared)
    return parse_csv(lines, judge) if fmt == "csv" else parse_jsonl(lines, judge)
