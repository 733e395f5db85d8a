"""Bounded regexes: the subset PostgreSQL and Python agree on, without catastrophic shapes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.targeting.regex import MAX_PATTERN, PatternError, check_pattern, matches

ALLOWED = [
    "^pro$",
    "@acme\\.(io|com)$",
    "^[A-Z]{2}-\\d{3,4}$",
    "(?:ab)+c",
    "[^\\s]+@[a-z.]+",
    "a.b",
    "x?y*",
    "\\(1\\)",
    "[a\\-z]",
    "\\n\\t",
]
REJECTED = [
    "(a+)+",
    "(a*)*b",
    "(a|aa)*",
    "(?:x|y)+",
    "a.*b.*c.*d",
    "a*?",
    "a++",
    "\\bword",
    "(?=x)",
    "(?<=x)y",
    "(?i)x",
    "(?P<n>x)",
    "(x)\\1",
    "[[:alpha:]]",
    "[]a]",
    "[]",
    "a{1000}",
    "a{3,2}",
    "x{",
    "}",
    "(",
    ")",
    "[abc",
    "\\",
    "",
    "a" * (MAX_PATTERN + 1),
    "*x",
]


@pytest.mark.parametrize("pattern", ALLOWED)
def test_allowed_patterns_compile(pattern: str) -> None:
    re.compile(check_pattern(pattern))


@pytest.mark.parametrize("pattern", REJECTED)
def test_rejected_patterns(pattern: str) -> None:
    with pytest.raises(PatternError):
        check_pattern(pattern)


def test_postgres_semantics_for_dot_and_dollar() -> None:
    assert matches("a.b", False, "a\nb")  # `.` matches a newline, as in PostgreSQL
    assert not matches("done$", False, "done\n")  # `$` is the very end
    assert matches("done$", False, "all done")
    assert matches("^ANA", True, "ana@x")
    assert not matches("^ANA", False, "ana@x")


@given(st.text(alphabet="ab()|*+?{}[]^$.\\,0123-", max_size=12))
def test_any_pattern_is_accepted_and_compiles_or_is_rejected(pattern: str) -> None:
    try:
        translated = check_pattern(pattern)
    except PatternError:
        return
    re.compile(translated)
