"""A variant's push for one user: locale picked by fallback, Liquid rendered (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidings.delivery.payloads import Action, PushContent
from tidings.messages.localize import pick_locale
from tidings.messages.render import render_content


def scope(
    user: Mapping[str, Any], campaign: Mapping[str, Any], event: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What templates may read: `user` (attributes and profile facts), `event`, `campaign`."""
    return {"user": dict(user), "event": dict(event or {}), "campaign": dict(campaign)}


def has_templates(message: Mapping[str, Any]) -> bool:
    """Whether any string holds Liquid (`{{` or `{%`); plain messages render once."""
    text = repr(message)
    return "{{" in text or "{%" in text


def pick(variant: Mapping[str, Any], locale: str | None) -> dict[str, Any]:
    """The variant's message in the user's locale (or its fallback)."""
    content: dict[str, dict[str, Any]] = variant["content"]
    chosen = pick_locale(content.keys(), locale, variant.get("default_locale", "en"))
    return content.get(chosen) or content[variant.get("default_locale", "en")]


def render(
    message: Mapping[str, Any],
    templates_scope: Mapping[str, Any] | None,
    *,
    ttl_seconds: int | None,
    collapse_key: str | None,
) -> PushContent:
    """PushContent from a stored push message; `templates_scope` None skips Liquid."""
    m: Mapping[str, Any] = (
        render_content(dict(message), templates_scope) if templates_scope is not None else message
    )
    return PushContent(
        title=m.get("title", ""),
        body=m.get("body", ""),
        image=m.get("image"),
        deep_link=m.get("deep_link"),
        actions=tuple(
            Action(a["id"], a["title"], a.get("deep_link")) for a in m.get("actions", ())
        ),
        badge=m.get("badge"),
        sound=m.get("sound"),
        data={str(k): str(v) for k, v in (m.get("data") or {}).items()},
        collapse_key=collapse_key,
        ttl_seconds=ttl_seconds,
    )
