"""Checked rule → Python closure over (profile, now), compiled once and cached.

The closure does no parsing and no look-ups in the rule: every name, value, threshold
and operator is bound when it is built. `now` must be a timezone-aware UTC datetime.
Compile only rules that passed `validate.check_rule` (the closure trusts their types).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any

from pydantic import TypeAdapter

from tidings.profiles.snapshot import DeviceFacts, Profile
from tidings.targeting import bucketing
from tidings.targeting.geo import distance_km
from tidings.targeting.operators import count_test, missing_result, value_test
from tidings.targeting.rules import (
    And,
    Attribute,
    Consent,
    Device,
    DeviceField,
    Event,
    Near,
    Not,
    Or,
    Percentage,
    Rule,
    Segment,
)
from tidings.targeting.windows import days_ago

Predicate = Callable[[Profile, datetime], bool]
Reader = Callable[[Profile], Any]

_rule_adapter: TypeAdapter[Rule] = TypeAdapter(Rule)

_GUARDS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str,
    "datetime": lambda v: type(v) is str,
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "list": lambda v: type(v) is list,
}


def compile_rule(rule: Rule) -> Predicate:
    """The closure for a checked rule; the same rule (by content) compiles once."""
    return _compile_cached(rule.model_dump_json(by_alias=True))


@lru_cache(maxsize=2048)
def _compile_cached(canonical: str) -> Predicate:
    return build(_rule_adapter.validate_json(canonical))


def build(node: Rule) -> Predicate:
    """Compile without the cache (the cache calls this).

    The tree becomes one generated function whose body is a single boolean expression:
    common attribute tests are inlined, other conditions are closures it calls. The
    source holds only fixed templates and generated names; every name, value and closure
    is a constant in the function's namespace, never text from the rule.
    """
    unit = _Unit()
    expression = unit.expr(node)
    source = f"def rule(p, now):\n    a = p.attributes\n    return {expression}\n"
    namespace: dict[str, Any] = {"mix": bucketing.mix, **unit.constants}
    exec(compile(source, "<audience rule>", "exec"), namespace)
    predicate: Predicate = namespace["rule"]
    return predicate


# Inlined tests of a custom attribute `v` read as `a.get(name)`, for ops whose missing
# result is False (positive) or True (negative); {x} is the comparison constant.
_STRING_TESTS = {
    "eq": "(type(v := a.get({n})) is str and v == {x})",
    "ne": "(type(v := a.get({n})) is not str or v != {x})",
    "in": "(type(v := a.get({n})) is str and v in {x})",
    "not_in": "(type(v := a.get({n})) is not str or v not in {x})",
}
_NUMBER_TESTS = {
    op: "(((t := type(v := a.get({n}))) is int or t is float) and v " + sym + " {x})"
    for op, sym in (("eq", "=="), ("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<="))
}
_NUMBER_TESTS["ne"] = "(((t := type(v := a.get({n}))) is not int and t is not float) or v != {x})"
_NUMBER_TESTS["in"] = "(((t := type(v := a.get({n}))) is int or t is float) and v in {x})"
_NUMBER_TESTS["not_in"] = (
    "(((t := type(v := a.get({n}))) is not int and t is not float) or v not in {x})"
)


class _Unit:
    """Collects the constants of one generated function."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}

    def const(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants[name] = value
        return name

    def expr(self, node: Rule) -> str:
        if isinstance(node, And):
            parts = [self.expr(c) for c in node.children]
            return "(" + " and ".join(parts) + ")" if parts else "True"
        if isinstance(node, Or):
            parts = [self.expr(c) for c in node.children]
            return "(" + " or ".join(parts) + ")" if parts else "False"
        if isinstance(node, Not):
            return f"(not {self.expr(node.child)})"
        if isinstance(node, Segment):
            if node.rule is None:
                raise ValueError("segment references are resolved by check_rule before compiling")
            return self.expr(node.rule)
        if isinstance(node, Percentage):
            seed, limit = bucketing.seed_hash(node.seed), bucketing.threshold(node.percentage)
            return f"(mix(({self.const(seed)} ^ p.id) & {bucketing.MASK}) < {self.const(limit)})"
        if isinstance(node, Attribute):
            inline = self.inline_attribute(node)
            if inline is not None:
                return inline
        return f"{self.const(leaf(node))}(p, now)"

    def inline_attribute(self, node: Attribute) -> str | None:
        if node.attribute.startswith("$") or node.case_insensitive:
            return None
        value = node.value
        if node.type == "boolean" and node.op in ("eq", "ne"):
            test = "is" if node.op == "eq" else "is not"
            return f"(a.get({self.const(node.attribute)}) {test} {value!r})"
        table = {"string": _STRING_TESTS, "number": _NUMBER_TESTS}.get(node.type or "")
        if table is None or node.op not in table:
            return None
        x = frozenset(value) if node.op in ("in", "not_in") else value
        return table[node.op].format(n=self.const(node.attribute), x=self.const(x))


def leaf(node: Rule) -> Predicate:
    """A closure for one condition (no and/or/not)."""
    if isinstance(node, Attribute):
        return _attribute(node)
    if isinstance(node, Event):
        return event_predicate(node)
    if isinstance(node, Device):
        return _device(node)
    if isinstance(node, Consent):
        channel = node.consent
        return lambda p, now: p.consent.get(channel) is True
    if isinstance(node, Near):
        return _near(node)
    if isinstance(node, Percentage):
        seed, limit = bucketing.seed_hash(node.seed), bucketing.threshold(node.percentage)
        return lambda p, now: bucketing.mix((seed ^ p.id) & bucketing.MASK) < limit
    return build(node)


def attribute_reader(node: Attribute) -> Reader:
    """Reads the attribute, None when missing or not of the checked type."""
    if node.type is None:
        raise ValueError("check the rule before compiling it (attribute type unknown)")
    if node.attribute.startswith("$"):
        return attrgetter(node.attribute[1:])
    name, guard = node.attribute, _GUARDS[node.type]

    def read(p: Profile) -> Any:
        v = p.attributes.get(name)
        return v if guard(v) else None

    return read


def _attribute(node: Attribute) -> Predicate:
    read = attribute_reader(node)
    return _compare(
        read,
        node.type or "string",
        node.op,
        node.value,
        node.case_insensitive,
        as_text=not node.attribute.startswith("$"),
    )


def _compare(
    read: Callable[[Any], Any], type_: str, op: str, value: Any, ci: bool, *, as_text: bool
) -> Callable[[Any, datetime], bool]:
    if op == "exists":
        want = value is not False
        return lambda p, now: (read(p) is not None) is want
    test = value_test(type_, op, value, ci, as_text=as_text)
    missing = missing_result(op, value)

    def pred(p: Any, now: datetime) -> bool:
        v = read(p)
        return missing if v is None else test(v, now)

    return pred


def event_predicate(node: Event) -> Predicate:
    """Behaviour over the profile's aggregates; see `windows` for the day semantics."""
    name, op, value = node.event, node.op, node.value
    if op in ("streak", "not_within"):
        days = int(value)
        span = [timedelta(days=k) for k in range(days)]
        if op == "streak":

            def streak(p: Profile, now: datetime) -> bool:
                counts = p.daily.get(name)
                if not counts:
                    return False
                today = now.date()
                return all(counts.get(today - d, 0) > 0 for d in span)

            return streak

        def none_within(p: Profile, now: datetime) -> bool:
            return window_count(p, name, now, days) == 0

        return none_within
    if op.startswith(("first_", "last_")):
        getter = attrgetter("first_at" if op.startswith("first_") else "last_at")
        older = "more_than" in op

        def occurrence(p: Profile, now: datetime) -> bool:
            stat = p.stats.get(name)
            if stat is None:
                return False
            at, limit = getter(stat), days_ago(now, value)
            return bool(at < limit) if older else bool(at > limit)

        return occurrence
    test = count_test(op, value)
    within = node.within_days
    if within is None:

        def all_time(p: Profile, now: datetime) -> bool:
            stat = p.stats.get(name)
            return test(stat.count if stat is not None else 0)

        return all_time

    def windowed(p: Profile, now: datetime) -> bool:
        return test(window_count(p, name, now, within))

    return windowed


def window_count(p: Profile, name: str, now: datetime, days: int) -> int:
    """Occurrences of `name` on the last `days` UTC days, today included."""
    counts = p.daily.get(name)
    if not counts:
        return 0
    today = now.date()
    since = today - timedelta(days=days - 1)
    return sum(c for d, c in counts.items() if since <= d <= today)


def device_field_predicate(field: DeviceField) -> Callable[[DeviceFacts, datetime], bool]:
    """One field test on one device."""
    read = attrgetter(field.field)
    type_ = "boolean" if field.field == "push_active" else "string"
    test: Callable[[DeviceFacts, datetime], bool] = _compare(
        read, type_, field.op, field.value, field.case_insensitive, as_text=True
    )
    return test


def _device(node: Device) -> Predicate:
    tests = [device_field_predicate(f) for f in node.where]

    def matches(d: DeviceFacts, now: datetime) -> bool:
        return all(t(d, now) for t in tests)

    if node.device == "any":
        return lambda p, now: any(matches(d, now) for d in p.devices)
    return lambda p, now: bool(p.devices) and all(matches(d, now) for d in p.devices)


def _near(node: Near) -> Predicate:
    lat0, lon0 = node.near
    radius = node.radius_km

    def near(p: Profile, now: datetime) -> bool:
        if p.latitude is None or p.longitude is None:
            return False
        return distance_km(p.latitude, p.longitude, lat0, lon0) <= radius

    return near
