"""Liquid personalization with limits: templates checked at save, rendered per user.

Every string in a message is a template. Variables may only read `user` (attributes plus
`external_id`, `locale`, `timezone`, `country`, `city`), `event` (the latest values of
the app's tracked event properties) and `campaign` (`id`, `name`); anything else is an
error when saved. Rendering is bounded by loop iterations, output size, nesting and time;
a template that breaks a limit renders as its fallback (never half-rendered text).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, Environment, RenderContext, StrictUndefined
from liquid.exceptions import LiquidError

from tidings.messages import fastrender

ROOTS = frozenset({"user", "event", "campaign"})
MAX_OUTPUT = 20_000
MAX_RENDER_SECONDS = 0.05
# Fields that are identifiers or URLs the SDK interprets, not text shown to users.
_NOT_TEMPLATES = frozenset({"format", "id", "kind", "type", "position", "placement", "dark"})


class RenderTimeLimit(LiquidError):
    """A render ran past MAX_RENDER_SECONDS."""


class _TimedContext(RenderContext):
    """Checks the clock at every variable lookup, which every loop iteration and output
    makes: the loop and output limits bound the work, this bounds the time."""

    def __init__(self, template: BoundTemplate, **kwargs: Any) -> None:
        super().__init__(template, **kwargs)
        parent = kwargs.get("parent_context")
        self.deadline: float = (
            parent.deadline
            if isinstance(parent, _TimedContext)
            else time.monotonic() + MAX_RENDER_SECONDS
        )

    def get(self, *args: Any, **kwargs: Any) -> object:
        if time.monotonic() > self.deadline:
            raise RenderTimeLimit("render time limit reached", token=None)
        return super().get(*args, **kwargs)


class _TimedTemplate(BoundTemplate):
    context_class = _TimedContext


class _Limited(Environment):
    loop_iteration_limit = 1000
    output_stream_limit = MAX_OUTPUT
    context_depth_limit = 20
    local_namespace_limit = 10_000
    template_class = _TimedTemplate


_ENV = _Limited(undefined=StrictUndefined)
_LENIENT = _Limited()


def user_variables(
    attributes: Mapping[str, Any] | None,
    *,
    external_id: str | None,
    locale: str | None,
    timezone: str | None,
    country: str | None,
    city: str | None,
) -> dict[str, Any]:
    """What templates read as `user`: the attributes plus these profile facts."""
    return {
        **(attributes or {}),
        "external_id": external_id,
        "locale": locale,
        "timezone": timezone,
        "country": country,
        "city": city,
    }


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


Compiled = tuple[BoundTemplate, fastrender.Plan | None]


@lru_cache(maxsize=8192)
def _compiled(text: str) -> Compiled:
    template = _LENIENT.from_string(text)
    return template, fastrender.plan(template)


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


def _render(
    compiled: tuple[BoundTemplate, fastrender.Plan | None], scope: Mapping[str, Any]
) -> str:
    template, pieces = compiled
    try:
        fast = None if pieces is None else fastrender.render(pieces, scope, _LENIENT)
        out = template.render(**scope) if fast is None else fast
    except LiquidError:
        return ""
    # Liquid stops at the limit itself; the fast path is checked here, to the same end.
    return out if len(out) <= MAX_OUTPUT else ""


def render_text(text: str, scope: Mapping[str, Any]) -> str:
    """One string rendered; a render-time failure (a limit) yields the empty string."""
    if "{" not in text:
        return text
    return _render(_compiled(text), scope)


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


Renderer = Callable[[Mapping[str, Any]], Any]


def compile_content(content: Any) -> Renderer:
    """`render_content` planned once for content rendered many times (each decision):
    templates are parsed up front, and parts without a template are the content's own
    objects, shared by every rendering instead of copied. The result must not be mutated."""
    static, plan = _plan(content)
    return (lambda _scope: content) if static else plan


def _plan(content: Any) -> tuple[bool, Any]:
    """(True, content) when nothing in it is a template, else (False, renderer)."""
    if isinstance(content, str):
        if "{" not in content:
            return True, content
        compiled = _compiled(content)
        return False, lambda scope: _render(compiled, scope)
    if isinstance(content, Mapping):
        keyed = [(k, _plan(v)) for k, v in content.items() if k not in _NOT_TEMPLATES]
        items = [(k, renderer) for k, (static, renderer) in keyed if not static]
        if not items:
            return True, content
        base = dict(content)

        def render_mapping(scope: Mapping[str, Any]) -> dict[str, Any]:
            out = base.copy()
            for key, renderer in items:
                out[key] = renderer(scope)
            return out

        return False, render_mapping
    if isinstance(content, list):
        planned = [_plan(v) for v in content]
        slots = [(i, renderer) for i, (static, renderer) in enumerate(planned) if not static]
        if not slots:
            return True, content
        listed = list(content)

        def render_list(scope: Mapping[str, Any]) -> list[Any]:
            out = listed.copy()
            for i, renderer in slots:
                out[i] = renderer(scope)
            return out

        return False, render_list
    return True, content
