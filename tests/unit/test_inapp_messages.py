"""Localization fallback and Liquid rendering with limits."""

from __future__ import annotations

import pytest

from tidings.messages.localize import fallback_chain, pick_locale
from tidings.messages.render import TemplateProblem, check_templates, render_content


def test_fallback_chain() -> None:
    assert fallback_chain("fa-IR", "en") == ["fa-IR", "fa", "en"]
    assert fallback_chain(None, "en") == ["en"]
    assert pick_locale({"en", "fa"}, "fa-IR", "en") == "fa"
    assert pick_locale({"en", "fa-IR"}, "FA_ir", "en") == "fa-IR"
    assert pick_locale({"en", "de"}, "fr-CA", "en") == "en"


def test_templates_checked_at_save() -> None:
    check_templates({"format": "modal", "title": "Hi {{ user.name }} on {{ campaign.name }}"}, "c")
    with pytest.raises(TemplateProblem) as exc:
        check_templates({"format": "modal", "pages": [{"body": "{{ plan.limit }}"}]}, "c")
    assert exc.value.path == "c.pages[0].body"
    with pytest.raises(TemplateProblem):
        check_templates({"title": "{{ user.name | shout }}"}, "c")
    with pytest.raises(TemplateProblem):
        check_templates({"title": "{% for x in user.items %}"}, "c")


def test_render_per_user_with_limits() -> None:
    content = {"format": "modal", "id": "{{ x }}", "title": "Hi {{ user.name | default: 'you' }}"}
    assert render_content(content, {"user": {"name": "Ana"}})["title"] == "Hi Ana"
    assert render_content(content, {"user": {}})["title"] == "Hi you"
    assert render_content(content, {"user": {}})["id"] == "{{ x }}"
    loop = {"body": "{% for i in (1..100000) %}xxxxxxxxxx{% endfor %}"}
    assert render_content(loop, {}) == {"body": ""}
