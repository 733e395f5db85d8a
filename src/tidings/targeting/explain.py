"""Explain a checked rule for one profile: each node's truth value and what it read.

Every node's `result` comes from the same compiled closures the engine uses, so an
explanation can never disagree with a decision; `read` and `reason` say why, e.g.
"purchase: 3 times in the last 7 days (2026-03-01..2026-03-07); needs ≥ 5".
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from tidings.profiles.snapshot import Profile
from tidings.targeting import bucketing
from tidings.targeting.compiler import (
    attribute_reader,
    build,
    device_field_predicate,
    window_count,
)
from tidings.targeting.errors import child
from tidings.targeting.geo import distance_km
from tidings.targeting.rules import (
    And,
    Attribute,
    Consent,
    Device,
    Event,
    Near,
    Not,
    Or,
    Percentage,
    Rule,
    Segment,
    dump,
)
from tidings.targeting.windows import day_window

SYMBOLS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def explain(rule: Rule, profile: Profile, now: datetime, *, path: str = "rule") -> dict[str, Any]:
    """The explanation tree of a checked rule (see the module docstring)."""
    if isinstance(rule, And | Or):
        kids = [
            explain(c, profile, now, path=child(child(path, rule.KIND), i))
            for i, c in enumerate(rule.children)
        ]
        results = [k["result"] for k in kids]
        result = all(results) if isinstance(rule, And) else any(results)
        return {"path": path, "kind": rule.KIND, "result": result, "children": kids}
    if isinstance(rule, Not):
        inner = explain(rule.child, profile, now, path=child(path, "not"))
        return {"path": path, "kind": "not", "result": not inner["result"], "children": [inner]}
    if isinstance(rule, Segment):
        assert rule.rule is not None, "explain checked rules"
        inner = explain(rule.rule, profile, now, path=f"segment {rule.segment}")
        return {
            "path": path,
            "kind": "segment",
            "segment": rule.segment,
            "result": inner["result"],
            "reason": f"{'in' if inner['result'] else 'not in'} segment {rule.segment}",
            "children": [inner],
        }
    result = build(rule)(profile, now)
    read, reason = _leaf(rule, profile, now)
    condition = dump(rule)
    return {
        "path": path,
        "kind": rule.KIND,
        "condition": condition,
        "result": result,
        "read": read,
        "reason": f"{reason} → {'true' if result else 'false'}",
    }


def _leaf(rule: Rule, p: Profile, now: datetime) -> tuple[dict[str, Any], str]:
    if isinstance(rule, Attribute):
        raw = attribute_reader(rule)(p)
        if raw is None and not rule.attribute.startswith("$"):
            present = p.attributes.get(rule.attribute)
            note = "missing" if present is None else f"{_json(present)!r} is not a {rule.type}"
            return {"attribute": rule.attribute, "value": _json(present)}, (
                f"{rule.attribute} is {note}; needs {_wanted(rule.op, rule.value)}"
            )
        return {"attribute": rule.attribute, "value": _json(raw)}, (
            f"{rule.attribute} = {_json(raw)!r}; needs {_wanted(rule.op, rule.value)}"
        )
    if isinstance(rule, Event):
        return _event(rule, p, now)
    if isinstance(rule, Device):
        devices: list[dict[str, Any]] = []
        for d in p.devices:
            fields: dict[str, Any] = {f.field: getattr(d, f.field) for f in rule.where}
            fields["matches"] = all(device_field_predicate(f)(d, now) for f in rule.where)
            devices.append(fields)
        wanted = " and ".join(f"{f.field} {_wanted(f.op, f.value)}" for f in rule.where)
        matching = sum(1 for d in devices if d["matches"])
        return {"devices": devices}, (
            f"{matching} of {len(devices)} devices have {wanted}; needs {rule.device}"
        )
    if isinstance(rule, Consent):
        value = p.consent.get(rule.consent)
        return {"consent": rule.consent, "value": value}, f"consent.{rule.consent} = {value!r}"
    if isinstance(rule, Near):
        if p.latitude is None or p.longitude is None:
            return {"latitude": None, "longitude": None}, "location unknown"
        km = distance_km(p.latitude, p.longitude, *rule.near)
        return {"latitude": p.latitude, "longitude": p.longitude, "distance_km": round(km, 3)}, (
            f"{km:.1f} km away; needs ≤ {rule.radius_km} km"
        )
    if isinstance(rule, Percentage):
        b, limit = bucketing.bucket(rule.seed, p.id), bucketing.threshold(rule.percentage)
        return {"bucket": b, "threshold": limit}, f"bucket {b} of 10000; needs < {limit}"
    raise TypeError(f"unknown leaf {rule!r}")


def _event(rule: Event, p: Profile, now: datetime) -> tuple[dict[str, Any], str]:
    name, op, value = rule.event, rule.op, rule.value
    if op in ("streak", "not_within") or rule.within_days is not None:
        days = int(rule.within_days if rule.within_days is not None else value)
        since, today = day_window(now, days)
        window = {"from": since.isoformat(), "to": today.isoformat()}
        if op == "streak":
            counts = p.daily.get(name, {})
            active = sum(1 for d, c in counts.items() if since <= d <= today and c > 0)
            return {"event": name, "days_with_event": active, **window}, (
                f"{name} on {active} of the last {days} days ({since}..{today}); needs all"
            )
        count = window_count(p, name, now, days)
        if op == "not_within":
            return {"event": name, "count": count, **window}, (
                f"{name}: {count} times in the last {days} days ({since}..{today}); needs none"
            )
        return {"event": name, "count": count, **window}, (
            f"{name}: {count} times in the last {days} days ({since}..{today}); "
            f"needs {_wanted(op, value)}"
        )
    stat = p.stats.get(name)
    if op.startswith(("first_", "last_")):
        which = "first_at" if op.startswith("first_") else "last_at"
        at = getattr(stat, which) if stat is not None else None
        direction = "more" if "more_than" in op else "less"
        return {"event": name, which: _json(at)}, (
            f"{name} {which} = {_json(at)}; needs {direction} than {value} days ago"
        )
    count = stat.count if stat is not None else 0
    return {
        "event": name,
        "count": count,
    }, f"{name}: {count} times ever; needs {_wanted(op, value)}"


def _wanted(op: str, value: Any) -> str:
    if op in SYMBOLS:
        return f"{SYMBOLS[op]} {value!r}"
    if op.startswith("semver_"):
        return f"version {SYMBOLS[op.removeprefix('semver_')]} {value!r}"
    if op == "exists":
        return "to exist" if value is not False else "to be missing"
    return f"{op.replace('_', ' ')} {value!r}"


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value
