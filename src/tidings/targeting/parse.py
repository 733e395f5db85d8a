"""Raw JSON → `Rule`: size and depth checked first, then the pydantic model.

Every failure is a `RuleError` naming the JSON path of the bad node, e.g.
`rule.and[2].op`, in the form the API reports as the error's `field`.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from tidings.targeting.errors import RuleError, child
from tidings.targeting.rules import KIND_KEYS, MAX_DEPTH, MAX_NODES, Rule

_adapter: TypeAdapter[Rule] = TypeAdapter(Rule)


def parse_rule(raw: Any, *, root: str = "rule") -> Rule:
    """Validate the shape of a raw rule; raises RuleError naming the first bad node."""
    _check_size(raw, root)
    try:
        return _adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _path(root, tuple(first["loc"]))
        code = _code(first["type"])
        if code == "unknown_value" and first["loc"] and first["loc"][-1] == "op":
            code = "unknown_operator"
        raise RuleError(path, _message(first), code=code) from exc


def _check_size(raw: Any, root: str) -> None:
    # Iterative, so a hostile 10,000-level rule cannot exhaust the interpreter's stack.
    stack: list[tuple[Any, str, int]] = [(raw, root, 1)]
    nodes = 0
    while stack:
        node, path, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise RuleError(root, f"a rule has at most {MAX_NODES} conditions", "rule_too_large")
        if depth > MAX_DEPTH:
            raise RuleError(path, f"rules nest at most {MAX_DEPTH} levels deep", "rule_too_deep")
        for key in ("and", "or"):
            children = node.get(key)
            if isinstance(children, list):
                stack.extend(
                    (c, child(child(path, key), i), depth + 1) for i, c in enumerate(children)
                )
        if "not" in node:
            stack.append((node["not"], child(path, "not"), depth + 1))


def _path(root: str, loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a JSON path, without the union tags pydantic inserts."""
    path = root
    expect_node = True  # the next part may be a union tag naming the node's kind
    previous: int | str | None = None
    for part in loc:
        if expect_node and isinstance(part, str) and part in KIND_KEYS:
            expect_node = False
            previous = None
            continue
        path = child(path, part)
        expect_node = part in ("not", "rule") or (
            isinstance(part, int) and previous in ("and", "or")
        )
        previous = part
    return path


def _message(error: Any) -> str:
    if error["type"] == "literal_error":
        return f"unknown value {error.get('input')!r}: {error['msg'].lower()}"
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return str(error["msg"])


def _code(pydantic_type: str) -> str:
    return {
        "literal_error": "unknown_value",
        "unknown_condition": "unknown_condition",
        "extra_forbidden": "unknown_key",
    }.get(pydantic_type, "invalid_rule")
