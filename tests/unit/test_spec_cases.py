"""Every case of spec/targeting/cases.json against the Python compiler and explain.

The same file runs against the SQL compiler (tests/integration/test_targeting_sql.py)
and, later, the web SDK's local trigger filters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tidings.profiles.snapshot import Profile
from tidings.targeting import RuleError, check_rule, compile_rule, parse_rule
from tidings.targeting.explain import explain

SPEC = Path(__file__).resolve().parents[2] / "spec" / "targeting" / "cases.json"
CASES: list[list[Any]] = json.loads(SPEC.read_text())


def _now(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_spec_file_is_well_formed() -> None:
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "case names are unique"
    for case in CASES:
        assert len(case) == 5
        name, _rule, profile, now, expected = case
        assert isinstance(name, str)
        assert isinstance(profile, dict)
        assert "id" in profile
        assert _now(now).tzinfo is not None
        assert isinstance(expected, bool) or set(expected) == {"error", "code"}


@pytest.mark.parametrize(
    ("name", "rule", "profile", "now", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_case(name: str, rule: Any, profile: dict[str, Any], now: str, expected: Any) -> None:
    if isinstance(expected, dict):
        with pytest.raises(RuleError) as err:
            check_rule(parse_rule(rule), {})
        assert (err.value.path, err.value.code) == (expected["error"], expected["code"])
        return
    checked = check_rule(parse_rule(rule), {})
    at = _now(now)
    user = Profile.from_json(profile)
    assert compile_rule(checked)(user, at) is expected
    assert explain(checked, user, at)["result"] is expected
    # A profile survives its JSON form (what the SDK and the spec file carry).
    assert Profile.from_json(user.to_json()) == user
