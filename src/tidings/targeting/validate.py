"""Meaning checks for a parsed rule, against the app's declared attribute types.

`check_rule` returns the rule ready to compile: each attribute condition carries its
type, values are normalized (datetimes as UTC text), and segment references carry the
referenced segment's checked rule (so a rule is always evaluated with fresh
definitions). Anything wrong is a `RuleError` naming the JSON path of the bad node;
a rule that fails here is never evaluated.

Types: a `$` name is a profile column with a fixed type; otherwise the declared type
wins, then the node's own `type`, then the type the operator and value imply (an
attribute no user has yet can be targeted before it is first seen).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidings.targeting import regex, semver
from tidings.targeting.errors import RuleError, child
from tidings.targeting.rules import (
    BUILTIN_ATTRIBUTES,
    DEVICE_FIELD_TYPES,
    MAX_EXPANDED_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_RELATIVE_DAYS,
    MAX_VALUES,
    MAX_WINDOW_DAYS,
    And,
    Attribute,
    Device,
    DeviceField,
    Event,
    Not,
    Or,
    Rule,
    Segment,
)
from tidings.targeting.windows import datetime_text, parse_moment

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
MAX_STRING = 1024
MAX_COUNT = 1_000_000_000

OPS_BY_TYPE: dict[str, frozenset[str]] = {
    "string": frozenset(
        [
            "eq",
            "ne",
            "in",
            "not_in",
            "contains",
            "starts_with",
            "exists",
            "regex",
            "semver_eq",
            "semver_gt",
            "semver_gte",
            "semver_lt",
            "semver_lte",
        ]
    ),
    "number": frozenset(
        ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists"]
    ),
    "boolean": frozenset(["eq", "ne", "exists"]),
    "datetime": frozenset(
        [
            "eq",
            "ne",
            "gt",
            "gte",
            "lt",
            "lte",
            "between",
            "exists",
            "more_than_days_ago",
            "less_than_days_ago",
        ]
    ),
    "list": frozenset(["contains", "in", "not_in", "exists"]),
}
TEXT_OPS = frozenset(["eq", "ne", "in", "not_in", "contains", "starts_with", "regex"])
COUNT_OPS = frozenset(["eq", "ne", "gt", "gte", "lt", "lte", "between"])
WINDOW_OPS = frozenset(("streak", "not_within"))


@dataclass
class _Context:
    declared: Mapping[str, str]
    segments: Mapping[int, Rule]
    chain: list[int] = field(default_factory=list)  # segments being expanded, outermost first
    nodes: int = 0


def check_rule(
    rule: Rule,
    declared: Mapping[str, str],
    segments: Mapping[int, Rule] | None = None,
    *,
    segment_id: int | None = None,
    root: str = "rule",
) -> Rule:
    """The rule checked, typed and expanded; raises RuleError naming the bad node.

    `segments` maps segment ids to their stored (unexpanded) rules; `segment_id` is the
    segment being saved, so a reference back to it is reported as a cycle.
    """
    ctx = _Context(declared, segments or {}, [segment_id] if segment_id is not None else [])
    return _check(rule, root, ctx, 1)


def _check(node: Rule, path: str, ctx: _Context, depth: int) -> Rule:
    ctx.nodes += 1
    if ctx.nodes > MAX_EXPANDED_NODES:
        raise RuleError(
            path,
            f"with its segments inlined a rule has at most {MAX_EXPANDED_NODES} conditions",
            "rule_too_large",
        )
    if depth > MAX_EXPANDED_DEPTH:
        raise RuleError(
            path,
            f"with its segments inlined a rule nests at most {MAX_EXPANDED_DEPTH} levels",
            "rule_too_deep",
        )
    if isinstance(node, And | Or):
        key = node.KIND
        children = [
            _check(c, child(child(path, key), i), ctx, depth + 1)
            for i, c in enumerate(node.children)
        ]
        return node.model_copy(update={"children": children})
    if isinstance(node, Not):
        return node.model_copy(
            update={"child": _check(node.child, child(path, "not"), ctx, depth + 1)}
        )
    if isinstance(node, Attribute):
        return _check_attribute(node, path, ctx.declared)
    if isinstance(node, Device):
        return node.model_copy(
            update={
                "where": [
                    _check_device_field(f, child(child(path, "where"), i))
                    for i, f in enumerate(node.where)
                ]
            }
        )
    if isinstance(node, Event):
        return _check_event(node, path)
    if isinstance(node, Segment):
        return _check_segment(node, path, ctx, depth)
    return node  # consent, near, percentage: their shape is their meaning


def _check_segment(node: Segment, path: str, ctx: _Context, depth: int) -> Segment:
    where = child(path, "segment")
    if node.rule is not None:
        raise RuleError(
            child(path, "rule"), "filled in by the server; send only the id", "unknown_key"
        )
    if node.segment in ctx.chain:
        cycle = " → ".join(
            str(s) for s in [*ctx.chain[ctx.chain.index(node.segment) :], node.segment]
        )
        raise RuleError(where, f"segment cycle: {cycle}", "segment_cycle")
    stored = ctx.segments.get(node.segment)
    if stored is None:
        raise RuleError(where, f"unknown segment {node.segment}", "unknown_segment")
    ctx.chain.append(node.segment)
    try:
        checked = _check(stored, f"segment {node.segment}", ctx, depth + 1)
    except RuleError as exc:
        if exc.path.startswith("segment ") and exc.code not in ("segment_cycle",):
            raise RuleError(where, f"segment {node.segment} is invalid: {exc}", exc.code) from exc
        raise RuleError(where, exc.message, exc.code) from exc
    finally:
        ctx.chain.pop()
    return node.model_copy(update={"rule": checked})


def _check_event(node: Event, path: str) -> Event:
    value_path = child(path, "value")
    if node.op in COUNT_OPS:
        value = _count_value(node.op, node.value, value_path)
    elif node.op in WINDOW_OPS:
        if node.within_days is not None:
            raise RuleError(
                child(path, "within_days"), f"`{node.op}` takes its days in `value`", "invalid_rule"
            )
        value = _integer(node.value, value_path, 1, MAX_WINDOW_DAYS)
    else:  # first_/last_ relative to now
        if node.within_days is not None:
            raise RuleError(
                child(path, "within_days"),
                f"`{node.op}` compares with now; it takes no window",
                "invalid_rule",
            )
        value = _days(node.value, value_path)
    return node.model_copy(update={"value": value})


def _count_value(op: str, value: Any, path: str) -> Any:
    if op == "between":
        lo, hi = _pair(value, path)
        return [
            _integer(lo, child(path, 0), 0, MAX_COUNT),
            _integer(hi, child(path, 1), lo, MAX_COUNT),
        ]
    return _integer(value, path, 0, MAX_COUNT)


def _check_attribute(node: Attribute, path: str, declared: Mapping[str, str]) -> Attribute:
    name = node.attribute
    if name.startswith("$"):
        type_ = BUILTIN_ATTRIBUTES.get(name)
        if type_ is None:
            raise RuleError(
                child(path, "attribute"),
                f"unknown profile field {name!r}; known: {sorted(BUILTIN_ATTRIBUTES)}",
                "unknown_attribute",
            )
    else:
        if not NAME_RE.match(name):
            raise RuleError(
                child(path, "attribute"),
                "attribute names start with a letter or _ and use letters, digits, "
                "_ . - (at most 128)",
                "invalid_attribute",
            )
        type_ = declared.get(name) or node.type or _infer(node.op, node.value)
    if node.type is not None and node.type != type_:
        raise RuleError(child(path, "type"), f"{name!r} is declared as {type_}", "type_mismatch")
    value = _comparison(name, type_, node.op, node.value, node.case_insensitive, path)
    return node.model_copy(update={"type": type_, "value": value})


def _check_device_field(node: DeviceField, path: str) -> DeviceField:
    type_ = DEVICE_FIELD_TYPES[node.field]
    value = _comparison(node.field, type_, node.op, node.value, node.case_insensitive, path)
    return node.model_copy(update={"value": value})


def check_property_filter(prop: str, op: str, value: Any, path: str) -> Any:
    """An event property test (trigger and goal filters), typed by its value as the SDK
    and the server will compare it; the normalized value, or RuleError naming it."""
    return _comparison(prop, _infer(op, value), op, value, False, path)


def _infer(op: str, value: Any) -> str:
    if op in ("more_than_days_ago", "less_than_days_ago"):
        return "datetime"
    if op.startswith("semver_") or op in ("regex", "starts_with", "contains", "exists"):
        return "string"
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, int | float):
        return "number"
    if isinstance(sample, str) and parse_moment(sample) is not None:
        return "datetime"
    return "string"


def _comparison(
    name: str, type_: str, op: str, value: Any, case_insensitive: bool, path: str
) -> Any:
    """The normalized comparison value; RuleError naming the op, value or flag."""
    if op not in OPS_BY_TYPE[type_]:
        allowed = ", ".join(sorted(OPS_BY_TYPE[type_]))
        raise RuleError(
            child(path, "op"),
            f"`{op}` does not apply to {name!r}, a {type_}; use one of {allowed}",
            "type_mismatch",
        )
    if case_insensitive and (op not in TEXT_OPS or type_ not in ("string", "list")):
        raise RuleError(
            child(path, "case_insensitive"),
            f"case_insensitive applies to text comparisons, not `{op}` on a {type_}",
            "type_mismatch",
        )
    where = child(path, "value")
    scalar = "string" if type_ == "list" else type_
    if op == "exists":
        if value is not None and not isinstance(value, bool):
            raise RuleError(where, "`exists` takes true, false or nothing", "type_mismatch")
        return True if value is None else value
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise RuleError(where, f"`{op}` takes a non-empty list", "type_mismatch")
        if len(value) > MAX_VALUES:
            raise RuleError(where, f"at most {MAX_VALUES} values", "type_mismatch")
        return [_scalar(scalar, v, child(where, i)) for i, v in enumerate(value)]
    if op == "between":
        lo, hi = _pair(value, where)
        lo_n = _scalar(scalar, lo, child(where, 0))
        hi_n = _scalar(scalar, hi, child(where, 1))
        if hi_n < lo_n:
            raise RuleError(where, "between takes [low, high] with low ≤ high", "type_mismatch")
        return [lo_n, hi_n]
    if op in ("more_than_days_ago", "less_than_days_ago"):
        return _days(value, where)
    if op == "regex":
        if not isinstance(value, str):
            raise RuleError(where, "`regex` takes a pattern string", "type_mismatch")
        try:
            regex.check_pattern(value)
        except regex.PatternError as exc:
            raise RuleError(where, str(exc), "bad_regex") from exc
        return value
    if op.startswith("semver_"):
        if not isinstance(value, str) or semver.semver_key(value) is None:
            raise RuleError(
                where, f"not a version: {value!r} (e.g. 14, 2.3.1, 1.0.0-beta.2)", "type_mismatch"
            )
        return value
    if op in ("contains", "starts_with"):
        return _scalar("string", value, where)
    return _scalar(scalar, value, where)


def _scalar(type_: str, value: Any, path: str) -> Any:
    if type_ == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise RuleError(path, f"expected a number, got {value!r}", "type_mismatch")
        return value
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise RuleError(path, f"expected true or false, got {value!r}", "type_mismatch")
        return value
    if type_ == "datetime":
        moment = parse_moment(value) if isinstance(value, str) else None
        if moment is None:
            raise RuleError(
                path, f"expected an ISO-8601 datetime with a zone, got {value!r}", "type_mismatch"
            )
        return datetime_text(moment)
    if not isinstance(value, str):
        raise RuleError(path, f"expected a string, got {value!r}", "type_mismatch")
    if len(value) > MAX_STRING:
        raise RuleError(path, f"strings are at most {MAX_STRING} characters", "type_mismatch")
    return value


def _pair(value: Any, path: str) -> Sequence[Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise RuleError(path, "expected [low, high]", "type_mismatch")
    return value


def _integer(value: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RuleError(
            path, f"expected a whole number from {lo} to {hi}, got {value!r}", "type_mismatch"
        )
    return value


def _days(value: Any, path: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_RELATIVE_DAYS
    ):
        raise RuleError(
            path,
            f"expected a number of days from 0 to {MAX_RELATIVE_DAYS}, got {value!r}",
            "type_mismatch",
        )
    return value
