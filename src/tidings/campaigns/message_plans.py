"""A live campaign's decided message, prepared once per live-set load.

Every session start lists up to MAX_MESSAGES messages; what does not depend on the user
(the trigger, display rules, the locale picked for a wanted locale, parsed templates) is
worked out here once instead of per message per decision (bench/decide.py).
"""

from __future__ import annotations

from typing import Any

from tidings.campaigns.models import Campaign
from tidings.inapp.model import Spec
from tidings.messages.formats import BLOCKING
from tidings.messages.localize import pick_locale
from tidings.messages.render import Renderer, compile_content


def localized(c: Campaign, key: str, wanted: str | None) -> tuple[str, dict[str, Any]]:
    """(locale, content) of variant `key` by the fallback chain."""
    chosen = next((v for v in c.variants if v["key"] == key), c.variants[0])
    locale = pick_locale(chosen["content"].keys(), wanted, chosen["default_locale"])
    content: dict[str, Any] = chosen["content"][locale]
    return locale, content


class MessagePlan:
    """One campaign's message: its fixed fields, and per (variant, wanted locale) the
    locale chosen and its content's compiled templates."""

    __slots__ = ("_content", "campaign", "campaign_id", "campaign_scope", "fields", "first_key")

    def __init__(self, c: Campaign, spec: Spec) -> None:
        self.campaign = c
        # Read once: ORM attribute access costs more than a plain one, per message.
        self.campaign_id = c.id
        self.first_key: str = c.variants[0]["key"]
        trigger = c.trigger
        self.fields: dict[str, Any] = {
            "format": spec.format,
            "priority": spec.priority,
            "exempt_from_budget": spec.exempt_from_budget,
            "trigger": trigger,
            "display": {
                "delay_seconds": int(trigger.get("delay_seconds", 0)),
                "only_on_pages": list(trigger.get("only_on_pages", [])),
                "blocking": spec.format in BLOCKING,
            },
        }
        self.campaign_scope = {"id": c.id, "name": c.name}
        self._content: dict[tuple[str, str | None], tuple[str, Renderer]] = {}

    def content(self, key: str, wanted: str | None) -> tuple[str, Renderer]:
        """(locale, renderer) of variant `key` for a user who wants `wanted`."""
        found = self._content.get((key, wanted))
        if found is None:
            locale, content = localized(self.campaign, key, wanted)
            found = self._content[(key, wanted)] = (locale, compile_content(content))
        return found

    def message(
        self,
        *,
        variant: str,
        occurrence: int,
        wanted: str | None,
        scope: dict[str, Any],
    ) -> dict[str, Any]:
        """The decided message (a `DecidedMessage` as plain values) for one user; the
        holdout (`control`) gets no content. `scope` is the user's template scope, shared
        by the messages of one decision: its `campaign` is set to this campaign's."""
        holdout = variant == "control"
        locale, render = self.content(self.first_key if holdout else variant, wanted)
        if not holdout:
            scope["campaign"] = self.campaign_scope
        return {
            "campaign_id": self.campaign_id,
            "variant": variant,
            "occurrence": occurrence,
            **self.fields,
            "locale": locale,
            "content": {} if holdout else render(scope),
            "holdout": holdout,
        }
