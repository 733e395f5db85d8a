"""Liquid personalization with limits: templates checked at save, rendered per user.

Every string in a message is a template. Variables may only read `user` (attributes plus
`external_id`, `locale`, `timezone`, `country`, `city`), `event` (the triggering event's
properties) and `campaign` (`id`, `name`); anything else is an error when saved. Rendering
is bounded by loop iterations, output size and nesting; a template that breaks a limit
renders as its fallback (the raw text is never shown half-rendered).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment, StrictUndefined
from liquid.exceptions import LiquidError

ROOTS = frozenset({"user", "event", "campaign"})
MAX_OUTPUT = 20_000
# Fields that are identifiers or URLs the SDK interprets, not text shown to users.
_NOT_TEMPLATES = frozenset({"format", "id", "kind", "type", "position", "placement", "dark"})


class _Limited(Environment):
    loop_iteration_limit = 1000
    output_stream_limit = MAX_OUTPUT
    context_depth_limit = 20
    local_namespace_limit = 10_000


_ENV = _Limited(undefined=StrictUndefined)
_LENIENT = _Limited()


class TemplateProblem(ValueError):
    """A template that does not compile or reads an unknown variable, at `path`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in _NOT_TEMPLATES:
                yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


@lru_cache(maxsize=8192)
def _compiled(text: str) -> BoundTemplate:
    return _LENIENT.from_string(text)


def check_templates(content: Mapping[str, Any], path: str) -> None:
    """Raise TemplateProblem for the first string that fails to compile or reads outside
    ROOTS."""
    for where, text in _strings(content, path):
        if "{" not in text:
            continue
        try:
            template = _ENV.from_string(text)
            unknown = sorted(set(template.global_variables()) - ROOTS)
            filters = set(template.filter_names()) - set(_ENV.filters)
        except LiquidError as exc:
            raise TemplateProblem(where, f"template error: {exc.message or exc}") from exc
        if unknown:
            raise TemplateProblem(
                where, f"unknown variable(s) {unknown}; templates may read {sorted(ROOTS)}"
            )
        if filters:
            raise TemplateProblem(where, f"unknown filter(s) {sorted(filters)}")


def render_text(text: str, scope: Mapping[str, Any]) -> str:
    """One string rendered; a render-time failure (a limit) yields the empty string."""
    if "{" not in text:
        return text
    try:
        return _compiled(text).render(**scope)
    except LiquidError:
        return ""


def render_content(content: Any, scope: Mapping[str, Any]) -> Any:
    """A copy of `content` with every template string rendered for this scope."""
    if isinstance(content, str):
        return render_text(content, scope)
    if isinstance(content, Mapping):
        return {
            k: v if k in _NOT_TEMPLATES else render_content(v, scope) for k, v in content.items()
        }
    if isinstance(content, list):
        return [render_content(v, scope) for v in content]
    return content
