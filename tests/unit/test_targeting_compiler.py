"""The Python compiler: caching, generated code, buckets, explanations, purity."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from tidings.profiles.snapshot import DeviceFacts, EventStat, Profile
from tidings.targeting import check_rule, compile_rule, parse_rule
from tidings.targeting.bucketing import bucket, threshold
from tidings.targeting.explain import explain
from tidings.targeting.rules import Rule

NOW = datetime(2026, 3, 8, 12, tzinfo=UTC)
TODAY = NOW.date()


def rule(raw: object, declared: dict[str, str] | None = None) -> Rule:
    return check_rule(parse_rule(raw), declared or {})


def test_a_rule_compiles_once_per_content() -> None:
    a = compile_rule(rule({"attribute": "plan", "op": "eq", "value": "pro"}))
    b = compile_rule(rule({"attribute": "plan", "op": "eq", "value": "pro"}))
    c = compile_rule(rule({"attribute": "plan", "op": "eq", "value": "team"}))
    assert a is b
    assert a is not c


def test_values_are_constants_never_code() -> None:
    hostile = '"); import os; os._exit(1); ("'
    predicate = compile_rule(rule({"attribute": "note", "op": "eq", "value": hostile}))
    assert predicate(Profile(id=1, attributes={"note": hostile}), NOW) is True
    assert predicate(Profile(id=1, attributes={"note": "x"}), NOW) is False


def test_inlined_and_closure_conditions_agree_on_missing_values() -> None:
    profiles = [
        Profile(id=1),
        Profile(id=2, attributes={"n": 5, "s": "x", "b": True}),
        Profile(id=3, attributes={"n": "5", "s": 5, "b": 1}),
    ]
    for raw, expected in [
        ({"attribute": "n", "op": "ne", "value": 5}, [True, False, True]),
        ({"attribute": "n", "op": "not_in", "value": [5]}, [True, False, True]),
        ({"attribute": "n", "op": "lte", "value": 5}, [False, True, False]),
        ({"attribute": "n", "op": "between", "value": [5, 6]}, [False, True, False]),
        ({"attribute": "s", "op": "ne", "value": "x"}, [True, False, True]),
        ({"attribute": "s", "op": "in", "value": ["x"]}, [False, True, False]),
        ({"attribute": "b", "op": "eq", "value": True}, [False, True, False]),
        ({"attribute": "b", "op": "ne", "value": True}, [True, False, True]),
    ]:
        predicate = compile_rule(rule(raw))
        assert [predicate(p, NOW) for p in profiles] == expected, raw


def test_buckets_are_stable_uniform_and_seed_independent() -> None:
    assert [bucket("spring", i) for i in (1, 2, 3)] == [bucket("spring", i) for i in (1, 2, 3)]
    counts = Counter(bucket("s", i) // 1000 for i in range(1, 100_001))
    assert all(9_000 < c < 11_000 for c in counts.values())
    a = {i for i in range(1, 20_001) if bucket("a", i) < 5000}
    b = {i for i in range(1, 20_001) if bucket("b", i) < 5000}
    assert 4_500 < len(a & b) < 5_500  # about a quarter: the seeds slice independently
    assert (threshold(0), threshold(12.34), threshold(100)) == (0, 1234, 10_000)
    half = compile_rule(rule({"percentage": 50, "seed": "s"}))
    members = {i for i in range(1, 10_001) if half(Profile(id=i), NOW)}
    assert members == {i for i in range(1, 10_001) if bucket("s", i) < 5000}


def test_explain_reads_and_reasons() -> None:
    checked = rule(
        {
            "and": [
                {"attribute": "plan", "op": "eq", "value": "pro"},
                {"event": "session", "op": "gte", "value": 5, "within_days": 7},
                {
                    "not": {
                        "device": "any",
                        "where": [{"field": "platform", "op": "eq", "value": "web"}],
                    }
                },
            ]
        }
    )
    user = Profile(
        id=4,
        attributes={"plan": "pro"},
        daily={"session": {TODAY: 2, TODAY - timedelta(days=6): 1, TODAY - timedelta(days=7): 9}},
        devices=(DeviceFacts(platform="ios"),),
    )
    tree = explain(checked, user, NOW)
    assert tree["result"] is False
    assert compile_rule(checked)(user, NOW) is False
    plan, sessions, no_web = tree["children"]
    assert (plan["path"], plan["result"], plan["read"]) == (
        "rule.and[0]",
        True,
        {"attribute": "plan", "value": "pro"},
    )
    assert sessions["read"] == {
        "event": "session",
        "count": 3,
        "from": "2026-03-02",
        "to": "2026-03-08",
    }
    assert (
        sessions["reason"]
        == "session: 3 times in the last 7 days (2026-03-02..2026-03-08); needs ≥ 5 → false"
    )
    assert (no_web["kind"], no_web["result"], no_web["children"][0]["result"]) == (
        "not",
        True,
        False,
    )
    missing = explain(rule({"attribute": "age", "op": "gt", "value": 1}), user, NOW)
    assert missing["reason"].startswith("age is missing")


def test_behaviour_reads_totals_and_occurrences() -> None:
    user = Profile(
        id=1,
        stats={"buy": EventStat(NOW - timedelta(days=40), NOW - timedelta(days=2), 7)},
        daily={
            "open": {TODAY - timedelta(days=d): 1 for d in range(3)},
            "buy": {date(2026, 3, 6): 1},
        },
    )
    cases = [
        ({"event": "buy", "op": "eq", "value": 7}, True),
        ({"event": "buy", "op": "first_more_than_days_ago", "value": 30}, True),
        ({"event": "buy", "op": "last_less_than_days_ago", "value": 1}, False),
        ({"event": "open", "op": "streak", "value": 3}, True),
        ({"event": "open", "op": "streak", "value": 4}, False),
        ({"event": "buy", "op": "not_within", "value": 2}, True),
        ({"event": "buy", "op": "not_within", "value": 3}, False),
    ]
    for raw, expected in cases:
        assert compile_rule(rule(raw))(user, NOW) is expected, raw
        assert explain(rule(raw), user, NOW)["result"] is expected


def test_the_pure_room_imports_no_io_libraries() -> None:
    code = (
        "import sys\n"
        "import tidings.targeting, tidings.targeting.explain, tidings.targeting.walk\n"
        "import tidings.profiles.snapshot\n"
        "bad = [m for m in ('sqlalchemy', 'fastapi', 'httpx') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
