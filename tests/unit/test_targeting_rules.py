"""The rule model and its validation: every invalid rule names the JSON path of its bad node."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.targeting import RuleError, check_rule, parse_rule
from tidings.targeting.rules import MAX_DEPTH, Attribute, Segment, dump
from tidings.targeting.walk import segment_ids, unexpanded

DECLARED = {
    "plan": "string",
    "age": "number",
    "beta": "boolean",
    "tags": "list",
    "seen": "datetime",
}


def error(raw: Any, declared: dict[str, str] | None = None, **kw: Any) -> RuleError:
    with pytest.raises(RuleError) as err:
        check_rule(parse_rule(raw), DECLARED if declared is None else declared, **kw)
    return err.value


@pytest.mark.parametrize(
    ("raw", "path", "code"),
    [
        (
            {"and": [{"or": [{"not": {"attribute": "plan", "op": "is"}}]}]},
            "rule.and[0].or[0].not.op",
            "unknown_operator",
        ),
        ({"attribute": "plan", "op": "gt", "value": "a"}, "rule.op", "type_mismatch"),
        ({"attribute": "tags", "op": "starts_with", "value": "a"}, "rule.op", "type_mismatch"),
        ({"attribute": "beta", "op": "in", "value": [True]}, "rule.op", "type_mismatch"),
        ({"attribute": "age", "op": "eq", "value": "18"}, "rule.value", "type_mismatch"),
        ({"attribute": "age", "op": "eq", "value": True}, "rule.value", "type_mismatch"),
        ({"attribute": "age", "op": "in", "value": [1, "2"]}, "rule.value[1]", "type_mismatch"),
        ({"attribute": "age", "op": "in", "value": []}, "rule.value", "type_mismatch"),
        ({"attribute": "age", "op": "between", "value": [3]}, "rule.value", "type_mismatch"),
        (
            {"attribute": "age", "op": "between", "value": [1, "x"]},
            "rule.value[1]",
            "type_mismatch",
        ),
        ({"attribute": "seen", "op": "gt", "value": "yesterday"}, "rule.value", "type_mismatch"),
        (
            {"attribute": "seen", "op": "gt", "value": "2026-01-01T00:00:00"},
            "rule.value",
            "type_mismatch",
        ),
        (
            {"attribute": "seen", "op": "more_than_days_ago", "value": -1},
            "rule.value",
            "type_mismatch",
        ),
        ({"attribute": "plan", "op": "exists", "value": "yes"}, "rule.value", "type_mismatch"),
        ({"attribute": "plan", "op": "regex", "value": "(x+)*"}, "rule.value", "bad_regex"),
        ({"attribute": "plan", "op": "regex", "value": 5}, "rule.value", "type_mismatch"),
        ({"attribute": "plan", "op": "semver_gt", "value": "one"}, "rule.value", "type_mismatch"),
        (
            {"attribute": "age", "op": "gt", "value": 1, "case_insensitive": True},
            "rule.case_insensitive",
            "type_mismatch",
        ),
        (
            {"attribute": "plan", "type": "number", "op": "eq", "value": 1},
            "rule.type",
            "type_mismatch",
        ),
        ({"attribute": "9lives", "op": "exists"}, "rule.attribute", "invalid_attribute"),
        ({"attribute": "$plan", "op": "exists"}, "rule.attribute", "unknown_attribute"),
        ({"attribute": "$country", "op": "gt", "value": "A"}, "rule.op", "type_mismatch"),
        ({"event": "buy", "op": "gte", "value": -1}, "rule.value", "type_mismatch"),
        ({"event": "buy", "op": "gte", "value": 1.5}, "rule.value", "type_mismatch"),
        ({"event": "buy", "op": "between", "value": [3, 1]}, "rule.value[1]", "type_mismatch"),
        ({"event": "buy", "op": "streak", "value": 121}, "rule.value", "type_mismatch"),
        (
            {"event": "buy", "op": "not_within", "value": 7, "within_days": 7},
            "rule.within_days",
            "invalid_rule",
        ),
        (
            {"event": "buy", "op": "last_more_than_days_ago", "value": 7, "within_days": 7},
            "rule.within_days",
            "invalid_rule",
        ),
        (
            {"event": "buy", "op": "gte", "value": 1, "within_days": 0},
            "rule.within_days",
            "invalid_rule",
        ),
        ({"event": "", "op": "gte", "value": 1}, "rule.event", "invalid_rule"),
        (
            {"device": "some", "where": [{"field": "platform", "op": "eq", "value": "ios"}]},
            "rule.device",
            "unknown_value",
        ),
        ({"device": "any", "where": []}, "rule.where", "invalid_rule"),
        (
            {"device": "any", "where": [{"field": "imei", "op": "eq", "value": "1"}]},
            "rule.where[0].field",
            "unknown_value",
        ),
        (
            {"device": "any", "where": [{"field": "push_active", "op": "eq", "value": "yes"}]},
            "rule.where[0].value",
            "type_mismatch",
        ),
        (
            {"device": "all", "where": [{"field": "os_version", "op": "gt", "value": "14"}]},
            "rule.where[0].op",
            "type_mismatch",
        ),
        ({"consent": "fax"}, "rule.consent", "unknown_value"),
        ({"near": [35.7, 51.4], "radius_km": 0}, "rule.radius_km", "invalid_rule"),
        ({"near": [35.7], "radius_km": 5}, "rule.near[1]", "invalid_rule"),
        ({"percentage": -1, "seed": "s"}, "rule.percentage", "invalid_rule"),
        ({"percentage": 5, "seed": ""}, "rule.seed", "invalid_rule"),
        ({"segment": 0}, "rule.segment", "invalid_rule"),
        ({"segment": 3, "rule": {"and": []}}, "rule.rule", "unknown_key"),
        ({"and": {"attribute": "plan"}}, "rule.and", "invalid_rule"),
        ({"or": [5]}, "rule.or[0]", "unknown_condition"),
        ({}, "rule", "unknown_condition"),
        ([], "rule", "unknown_condition"),
        (
            {"attribute": "plan", "op": "eq", "value": "x", "and": []},
            "rule.attribute",
            "unknown_key",
        ),
    ],
)
def test_invalid_rules_name_the_bad_node(raw: Any, path: str, code: str) -> None:
    err = error(raw)
    assert (err.path, err.code) == (path, code), err.message


def test_depth_and_size_are_limited_before_the_model_is_built() -> None:
    deep: dict[str, Any] = {"not": {"and": []}}
    for _ in range(5000):  # far beyond any recursion limit: checked iteratively
        deep = {"not": deep}
    err = error(deep)
    assert err.code == "rule_too_deep"
    assert err.path == "rule" + ".not" * MAX_DEPTH
    wide = {"and": [{"and": [{"consent": "push"}] * 3}] * 90}
    err = error(wide)
    assert (err.path, err.code) == ("rule", "rule_too_large")
    err = error({"or": [{"consent": "push"}] * 101})
    assert err.path == "rule.or"


def test_types_are_declared_hinted_or_inferred() -> None:
    def typed(raw: dict[str, Any], declared: dict[str, str]) -> str | None:
        rule = check_rule(parse_rule(raw), declared)
        assert isinstance(rule, Attribute)
        return rule.type

    assert typed({"attribute": "plan", "op": "eq", "value": "x"}, DECLARED) == "string"
    assert typed({"attribute": "n", "op": "eq", "value": 2}, {}) == "number"
    assert typed({"attribute": "n", "op": "eq", "value": True}, {}) == "boolean"
    assert typed({"attribute": "n", "op": "in", "value": ["a"]}, {}) == "string"
    assert typed({"attribute": "n", "op": "lt", "value": "2026-01-01T00:00:00Z"}, {}) == "datetime"
    assert typed({"attribute": "n", "op": "less_than_days_ago", "value": 3}, {}) == "datetime"
    assert typed({"attribute": "n", "op": "contains", "value": "x"}, {}) == "string"
    assert typed({"attribute": "n", "type": "list", "op": "contains", "value": "x"}, {}) == "list"
    assert typed({"attribute": "$session_count", "op": "gt", "value": 1}, {}) == "number"


def test_values_are_normalized() -> None:
    rule = check_rule(
        parse_rule(
            {
                "attribute": "seen",
                "op": "between",
                "value": ["2026-03-08T03:30:00+03:30", "2026-03-09T00:00:00Z"],
            }
        ),
        DECLARED,
    )
    assert isinstance(rule, Attribute)
    assert rule.value == ["2026-03-08T00:00:00.000Z", "2026-03-09T00:00:00.000Z"]
    assert check_rule(parse_rule({"attribute": "plan", "op": "exists"}), DECLARED).value is True  # type: ignore[union-attr]


def test_dump_round_trips() -> None:
    raw = {
        "and": [
            {"attribute": "plan", "op": "in", "value": ["pro"], "case_insensitive": True},
            {"not": {"event": "buy", "op": "streak", "value": 3}},
            {
                "device": "any",
                "where": [{"field": "os_version", "op": "semver_gte", "value": "14"}],
            },
            {"near": [1.5, 2.5], "radius_km": 10},
            {"percentage": 12.5, "seed": "x"},
            {"or": []},
        ]
    }
    rule = check_rule(parse_rule(raw), DECLARED)
    assert parse_rule(dump(rule)) == rule
    assert dump(rule)["and"][0]["type"] == "string"


SEGMENTS = {
    1: parse_rule({"attribute": "plan", "op": "eq", "value": "pro"}),
    2: parse_rule({"and": [{"segment": 1}, {"consent": "push"}]}),
    3: parse_rule({"or": [{"segment": 2}, {"segment": 1}]}),
}


def test_segment_references_are_inlined() -> None:
    rule = check_rule(parse_rule({"not": {"segment": 3}}), DECLARED, SEGMENTS)
    assert segment_ids(rule) == {1, 2, 3}
    inner = rule.child  # type: ignore[union-attr]
    assert isinstance(inner, Segment)
    assert inner.rule is not None
    assert unexpanded(rule) == parse_rule({"not": {"segment": 3}})


def test_segment_cycles_are_rejected() -> None:
    # Saving segment 1 so that it refers to 3 closes 1 -> 3 -> 2 -> 1.
    err = error({"and": [{"consent": "push"}, {"segment": 3}]}, segments=SEGMENTS, segment_id=1)
    assert (err.path, err.code) == ("rule.and[1].segment", "segment_cycle")
    assert "1 → 3 → 2 → 1" in err.message
    err = error({"segment": 1}, segments=SEGMENTS, segment_id=1)
    assert (err.path, err.code) == ("rule.segment", "segment_cycle")
    err = error({"or": [{"segment": 4}]}, segments=SEGMENTS)
    assert (err.path, err.code) == ("rule.or[0].segment", "unknown_segment")


def test_an_invalid_referenced_segment_is_reported_at_the_reference() -> None:
    broken = {9: parse_rule({"attribute": "plan", "op": "gt", "value": "a"})}
    err = error({"and": [{"segment": 9}]}, segments=broken)
    assert (err.path, err.code) == ("rule.and[0].segment", "type_mismatch")
    assert "segment 9 is invalid" in err.message


def test_expanded_rules_are_limited() -> None:
    deep = {i: parse_rule({"and": [{"segment": i + 1}]}) for i in range(1, 20)}
    deep[20] = parse_rule({"consent": "push"})
    err = error({"segment": 1}, segments=deep)
    assert (err.path, err.code) == ("rule.segment", "rule_too_deep")
    wide = {i: parse_rule({"or": [{"segment": i + 1}] * 8}) for i in range(1, 6)}
    wide[6] = parse_rule({"consent": "push"})
    err = error({"not": {"segment": 1}}, segments=wide)
    assert (err.path, err.code) == ("rule.not.segment", "rule_too_large")
