"""Comparison operators as small closures, built once per condition.

A condition reads one value (None when missing or of another type) and tests it. The
missing rule, shared with SQL: `ne` and `not_in` are true for a missing value, `exists`
is false, everything else is false. Case-insensitive comparisons fold ASCII letters only,
as SQLite's `lower()` does, so every evaluator agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tidings.targeting import regex
from tidings.targeting.semver import semver_key
from tidings.targeting.windows import datetime_text, days_ago, parse_moment

Test = Callable[[Any, datetime], bool]

_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """ASCII-only lower case (the same as SQLite's lower() and our PostgreSQL translate())."""
    return text.translate(_FOLD)


def missing_result(op: str, value: Any) -> bool:
    """What a condition is when the value it reads is missing."""
    if op == "exists":
        return value is False
    return op in ("ne", "not_in")


def value_test(type_: str, op: str, value: Any, case_insensitive: bool, *, as_text: bool) -> Test:
    """The test for a present value of `type_`; `as_text`: datetimes are attribute text."""
    if type_ == "list":
        return _list_test(op, value, case_insensitive)
    if op.startswith("semver_"):
        return _semver_test(op, value)
    if op == "regex":
        matcher = regex.compiled(value, case_insensitive)
        return lambda v, now: matcher.search(v) is not None
    if op in ("more_than_days_ago", "less_than_days_ago"):
        return _relative_test(op, float(value), as_text=as_text)
    if type_ == "datetime" and not as_text:
        value = [parse_moment(v) for v in value] if isinstance(value, list) else parse_moment(value)
    if case_insensitive:
        return _folded(_plain_test(op, _fold_value(value)))
    return _plain_test(op, value)


def _fold_value(value: Any) -> Any:
    return [fold(v) for v in value] if isinstance(value, list) else fold(value)


def _folded(test: Test) -> Test:
    return lambda v, now: test(fold(v), now)


def _plain_test(op: str, x: Any) -> Test:
    if op == "eq":
        return lambda v, now: bool(v == x)
    if op == "ne":
        return lambda v, now: bool(v != x)
    if op == "in":
        members = frozenset(x)
        return lambda v, now: v in members
    if op == "not_in":
        members = frozenset(x)
        return lambda v, now: v not in members
    if op == "contains":
        return lambda v, now: x in v
    if op == "starts_with":
        return lambda v, now: bool(v.startswith(x))
    if op == "gt":
        return lambda v, now: bool(v > x)
    if op == "gte":
        return lambda v, now: bool(v >= x)
    if op == "lt":
        return lambda v, now: bool(v < x)
    if op == "lte":
        return lambda v, now: bool(v <= x)
    if op == "between":
        lo, hi = x
        return lambda v, now: bool(lo <= v <= hi)
    raise ValueError(f"no test for {op}")


def _list_test(op: str, x: Any, case_insensitive: bool) -> Test:
    prep: Callable[[str], str] = fold if case_insensitive else (lambda s: s)
    if op == "contains":
        wanted = prep(x)
        return lambda v, now: any(prep(e) == wanted for e in v if type(e) is str)
    members = frozenset(prep(e) for e in x)
    if op == "in":
        return lambda v, now: any(prep(e) in members for e in v if type(e) is str)
    if op == "not_in":
        return lambda v, now: not any(prep(e) in members for e in v if type(e) is str)
    raise ValueError(f"no list test for {op}")


def _semver_test(op: str, x: str) -> Test:
    key = semver_key(x)
    assert key is not None, "validated rules hold versions"
    compare = _plain_test(op.removeprefix("semver_"), key)

    def test(v: Any, now: datetime) -> bool:
        k = semver_key(v)
        return k is not None and compare(k, now)

    return test


def _relative_test(op: str, days: float, *, as_text: bool) -> Test:
    # The threshold depends only on `now`; remember the last one so a batch evaluated at
    # one instant formats it once. One tuple in one slot: safe across threads.
    memo: list[tuple[datetime | None, Any]] = [(None, None)]

    def threshold(now: datetime) -> Any:
        seen, value = memo[0]
        if seen is not now:
            moment = days_ago(now, days)
            value = datetime_text(moment) if as_text else moment
            memo[0] = (now, value)
        return value

    if op == "more_than_days_ago":
        return lambda v, now: bool(v < threshold(now))
    return lambda v, now: bool(v > threshold(now))


def count_test(op: str, value: Any) -> Callable[[int], bool]:
    """A test of an event count against the condition's value."""
    plain = _plain_test(op, value)
    return lambda n: plain(n, _EPOCH)


_EPOCH = datetime(1970, 1, 1)
