"""A fast path for the templates most messages are made of: text and `{{ a.b }}` outputs,
optionally `| default: <literal>`.

A decision renders every string of every eligible message for its user, and Liquid's
general renderer costs tens of microseconds per string (bench/decide.py). Templates in this
subset are planned once from Liquid's own parse tree and rendered by joining pieces, with
Liquid's own `default` filter, undefined and stringification, so the output is identical
(tests/unit/test_fastrender.py checks it against Liquid). Anything else, or a value that
is not a plain scalar (lists and objects have Liquid-specific output and properties), goes
back to Liquid: `render` answers None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liquid import BoundTemplate, Environment
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions.filtered import FilteredExpression
from liquid.builtin.expressions.path import Path
from liquid.builtin.expressions.primitive import Literal, Nil
from liquid.builtin.filters.misc import default as liquid_default
from liquid.builtin.output import OutputNode
from liquid.stringify import to_liquid_string

# An output: (path segments, has default, default value).
Output = tuple[tuple[str, ...], bool, Any]
Plan = tuple[str | Output, ...]

_SCALARS = (str, int, float, bool, type(None))


def _literal(expression: Any) -> tuple[bool, Any]:
    if isinstance(expression, Nil):
        return True, None
    if isinstance(expression, Literal) and isinstance(expression.value, str | int | float | bool):
        return True, expression.value
    return False, None


def _output(node: OutputNode) -> Output | None:
    expression = node.expression
    if not isinstance(expression, FilteredExpression) or not isinstance(expression.left, Path):
        return None
    segments = expression.left.path
    if not segments or not all(isinstance(s, str) for s in segments):
        return None
    filters = expression.filters or []
    if not filters:
        return tuple(str(s) for s in segments), False, None
    if len(filters) != 1 or filters[0].name != "default" or len(filters[0].args) != 1:
        return None
    argument = filters[0].args[0]
    if type(argument).__name__ != "PositionalArgument":
        return None
    ok, value = _literal(argument.value)
    return (tuple(str(s) for s in segments), True, value) if ok else None


def plan(template: BoundTemplate) -> Plan | None:
    """The template as pieces, or None when it uses anything outside the subset."""
    pieces: list[str | Output] = []
    for node in template.nodes:
        if isinstance(node, ContentNode):
            pieces.append(node.text)
        elif isinstance(node, OutputNode):
            out = _output(node)
            if out is None:
                return None
            pieces.append(out)
        else:
            return None
    return tuple(pieces)


_MISSING = object()


def render(pieces: Plan, scope: Mapping[str, Any], env: Environment) -> str | None:
    """The rendered text, or None to render with Liquid instead."""
    parts: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(piece)
            continue
        segments, has_default, fallback = piece
        value: Any = scope
        for segment in segments:
            # `type is dict` first: the ABC check is slow, and scopes are plain dicts.
            if type(value) is not dict and not isinstance(value, Mapping):
                return None
            value = value.get(segment, _MISSING)
            if value is _MISSING:
                # `default` gives an undefined value its fallback as it is.
                value = fallback if has_default else env.undefined(segment)
                parts.append(to_liquid_string(value, autoescape=False))
                break
        else:
            kind = type(value)
            if kind is str and value:
                # What `default` and stringification leave a non-empty string: itself.
                parts.append(value)
                continue
            if kind is int:
                # Liquid's `default` keeps every number (0 too); it prints as Python does.
                parts.append(str(value))
                continue
            if not isinstance(value, _SCALARS):
                return None
            if has_default:
                value = liquid_default(value, fallback)
            parts.append(to_liquid_string(value, autoescape=False))
    return "".join(parts)
