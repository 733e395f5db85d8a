"""The user-import row parser: typing of CSV cells, header checks, per-row judgement."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.users import importer
from tidings.users.importer import ImportRow, RowError, type_cell


def rows(text: str, fmt: importer.Format = "csv", declared: dict[str, str] | None = None) -> list:
    return list(importer.parse(text.splitlines(keepends=True), fmt, declared or {}))


def good(result: ImportRow | RowError) -> ImportRow:
    assert isinstance(result, ImportRow), result
    return result


def bad(result: ImportRow | RowError) -> RowError:
    assert isinstance(result, RowError), result
    return result


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("4.5", 4.5),
        ("1e3", 1000.0),
        ("0", 0),
        ("01234", "01234"),  # a leading zero is an identifier, not a number
        ("true", True),
        ("FALSE", False),
        ("pro", "pro"),
        ("2025-01-02T10:00:00Z", "2025-01-02T10:00:00Z"),
        ("", None),
        ("   ", None),
    ],
)
def test_cells_are_typed_when_the_attribute_is_new(cell: str, expected: object) -> None:
    assert type_cell(cell, None, "x") == expected


def test_cells_follow_the_declared_type() -> None:
    assert type_cell("42", "string", "zip") == "42"
    assert type_cell("42", "number", "age") == 42
    assert type_cell("True", "boolean", "vip") is True
    assert type_cell("a | b|c", "list", "tags") == ["a", "b", "c"]
    with pytest.raises(importer._Bad) as exc:
        type_cell("forty", "number", "age")
    assert exc.value.field == "attributes.age"
    with pytest.raises(importer._Bad):
        type_cell("yes", "boolean", "vip")


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_integers_round_trip(n: int) -> None:
    assert type_cell(str(n), None, "n") == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip(x: float) -> None:
    assert type_cell(repr(x), None, "x") == x


def test_csv_rows_become_typed_identify_bodies() -> None:
    text = (
        "external_id,plan,age,vip,signup,zip,locale,timezone,consent.push\n"
        "u1,pro,31,true,2025-01-02T10:00:00+01:00,01234,de-DE,Europe/Berlin,true\n"
        "u2,free,,false,,,,,\n"
    )
    first, second = (good(r) for r in rows(text))
    assert first.line == 2
    assert first.body.external_id == "u1"
    assert first.body.attributes == {
        "plan": "pro",
        "age": 31,
        "vip": True,
        "signup": "2025-01-02T09:00:00.000Z",
        "zip": "01234",
    }
    assert first.body.locale == "de-DE"
    assert first.body.timezone == "Europe/Berlin"
    assert first.body.consent == {"push": True}
    # Empty cells are skipped, never unset or stored as "".
    assert second.body.attributes == {"plan": "free", "vip": False}
    assert second.body.locale is None


def test_a_bad_row_is_reported_by_line_and_the_rest_continue() -> None:
    text = (
        "external_id,age,vip\n"
        "u1,31,true\n"
        "u2,old,false\n"  # age was declared a number by the row above
        ",5,true\n"
        "u4,40,maybe\n"  # vip was declared boolean
        "u5,41,false,extra\n"
        "u6,42,false\n"
    )
    results = rows(text)
    assert [r.line for r in results] == [2, 3, 4, 5, 6, 7]
    assert good(results[0]).body.external_id == "u1"
    assert (bad(results[1]).field, bad(results[1]).line) == ("attributes.age", 3)
    assert "number" in bad(results[1]).message
    assert bad(results[2]).field == "external_id"
    assert bad(results[3]).field == "attributes.vip"
    assert "cells" in bad(results[4]).message
    assert good(results[5]).body.attributes == {"age": 42, "vip": False}


def test_stored_types_guide_the_first_rows() -> None:
    as_text = good(rows("external_id,zip\nu1,12345\n", declared={"zip": "string"})[0])
    assert as_text.body.attributes == {"zip": "12345"}
    mismatch = bad(rows("external_id,age\nu1,x\n", declared={"age": "number"})[0])
    assert (mismatch.line, mismatch.field) == (2, "attributes.age")


def test_line_numbers_count_physical_lines_of_quoted_cells() -> None:
    text = 'external_id,bio\nu1,"line one\nline two"\nu2,,\nu3,ok\n'
    results = rows(text)
    assert good(results[0]).line == 2
    assert good(results[0]).body.attributes == {"bio": "line one\nline two"}
    assert bad(results[1]).line == 4  # two cells against a two-column header: one too many
    assert good(results[2]).line == 5


def test_blank_csv_lines_are_skipped() -> None:
    results = rows("external_id,plan\n\nu1,pro\n,\n")
    assert [good(r).line for r in results] == [3]


@pytest.mark.parametrize(
    ("header", "field", "words"),
    [
        ("plan,age", None, "external_id or anonymous_id"),
        ("external_id,plan,plan", "plan", "twice"),
        ("external_id,first name", "first name", "not a valid attribute name"),
        ("external_id,consent.fax", "consent.fax", "unknown consent channel"),
    ],
)
def test_a_bad_header_stops_the_file(header: str, field: str | None, words: str) -> None:
    results = rows(f"{header}\nu1,a,b\n")
    assert len(results) == 1
    problem = bad(results[0])
    assert (problem.line, problem.field) == (1, field)
    assert words in problem.message


def test_an_empty_csv_is_one_error() -> None:
    assert bad(rows("")[0]).line == 1


def test_jsonl_lines_are_identify_bodies() -> None:
    text = (
        '{"external_id": "j1", "attributes": {"plan": "pro", "tags": ["a", "b"]},'
        ' "locale": "fa-IR", "timezone": "Asia/Tehran", "consent": {"push": false},'
        ' "location": {"country": "ir", "city": "Tehran"}}\n'
        "\n"
        "not json\n"
        '{"external_id": "j2", "attributes": {"plan": 3}}\n'
        '["external_id", "j3"]\n'
        '{"anonymous_id": "a1", "timezone": "Mars/Olympus"}\n'
        '{"attributes": {"plan": "free"}}\n'
        '{"external_id": "j4", "attributes": {"bad name": 1}}\n'
        '{"external_id": "j5", "colour": "blue"}\n'
        '{"external_id": "j6", "attributes": {"plan": null}}\n'
    )
    results = rows(text, "jsonl")
    assert [r.line for r in results] == [1, 3, 4, 5, 6, 7, 8, 9, 10]
    first = good(results[0])
    assert first.body.attributes == {"plan": "pro", "tags": ["a", "b"]}
    assert first.body.location is not None
    assert first.body.location.country == "IR"
    assert "JSON" in bad(results[1]).message
    assert bad(results[2]).field == "attributes.plan"
    assert "object" in bad(results[3]).message
    assert bad(results[4]).field == "timezone"
    assert "Mars/Olympus" in bad(results[4]).message
    assert bad(results[5]).field == "external_id"
    assert bad(results[6]).field == "attributes.bad name"
    assert bad(results[7]).field == "colour"
    # null unsets, as in identify.
    assert good(results[8]).body.attributes == {"plan": None}


def test_formats_come_from_names() -> None:
    assert importer.infer_format("users.CSV") == "csv"
    assert importer.infer_format("users.jsonl") == "jsonl"
    assert importer.infer_format("users.ndjson") == "jsonl"
    assert importer.infer_format("users.txt") is None
    assert importer.format_named("JSONL") == "jsonl"
    assert importer.format_named("xml") is None
