"""The template fast path renders exactly what Liquid renders, or steps aside."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from liquid import Environment

from tidings.messages import fastrender
from tidings.messages.render import compile_content, render_content, render_text

ENV = Environment()
NAMES = st.sampled_from(["name", "plan", "seats", "note", "flag", "nested", "missing", "tags"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["city", "name"]), SCALARS, max_size=2),
)
LITERALS = st.sampled_from(["'there'", '"x y"', "3", "0", "1.5", "nil", "true", "false", "''"])
TEXT = st.text(alphabet="ab ,.!é\n", max_size=6)


@st.composite
def outputs(draw: Any) -> str:
    path = ".".join(["user", *draw(st.lists(NAMES, min_size=1, max_size=2))])
    if draw(st.booleans()):
        return "{{ " + path + " | default: " + draw(LITERALS) + " }}"
    return "{{ " + path + " }}"


@st.composite
def templates(draw: Any) -> str:
    parts = draw(st.lists(st.one_of(TEXT, outputs()), min_size=1, max_size=5))
    return "".join(parts) + draw(outputs())


@settings(max_examples=400, deadline=None)
@given(templates(), st.dictionaries(NAMES, VALUES, max_size=6))
def test_same_output_as_liquid(text: str, user: dict[str, Any]) -> None:
    template = ENV.from_string(text)
    pieces = fastrender.plan(template)
    assert pieces is not None, "every template of the subset is planned"
    scope = {"user": user}
    fast = fastrender.render(pieces, scope, ENV)
    if fast is not None:
        assert fast == template.render(**scope)


def test_scalar_values_take_the_fast_path() -> None:
    template = ENV.from_string("Hi {{ user.name | default: 'there' }}, {{ user.seats }} seats")
    pieces = fastrender.plan(template)
    assert pieces is not None
    assert fastrender.render(pieces, {"user": {"seats": 3}}, ENV) == "Hi there, 3 seats"
    assert fastrender.render(pieces, {"user": {"name": "Ana", "seats": 2.5}}, ENV) == (
        "Hi Ana, 2.5 seats"
    )
    # A list has Liquid's own output: Liquid renders it.
    assert fastrender.render(pieces, {"user": {"name": ["a"], "seats": 1}}, ENV) is None


def test_anything_else_is_left_to_liquid() -> None:
    for text in (
        "{% if user.vip %}VIP{% endif %}",
        "{{ user.name | upcase }}",
        "{{ user.tags.size }}x{{ user.tags[0] }}",
        "{{ user.name | default: user.plan }}",
        "{% for t in user.tags %}{{ t }}{% endfor %}",
    ):
        pieces = fastrender.plan(ENV.from_string(text))
        scope = {"user": {"tags": ["a", "b"], "name": "n", "plan": "p", "vip": True}}
        assert pieces is None or fastrender.render(pieces, scope, ENV) is None, text


def test_render_text_uses_both_paths_alike() -> None:
    scope = {"user": {"name": "Ana", "tags": ["a", "b"]}}
    assert render_text("Hi {{ user.name }}", scope) == "Hi Ana"
    assert render_text("{{ user.tags.size }} tags", scope) == "2 tags"
    assert render_text("{{ user.nope | default: 'friend' }}", scope) == "friend"


def test_a_slow_render_stops_at_the_time_limit(monkeypatch: Any) -> None:
    from tidings.messages import render

    monkeypatch.setattr(render, "MAX_RENDER_SECONDS", 0.0)
    # Any lookup after the deadline stops the render: the text falls back to empty.
    slow = "{% for i in (1..500) %}{% for j in (1..2) %}{{ user.name }}{% endfor %}{% endfor %}"
    assert render_text(slow, {"user": {"name": "x"}}) == ""
    monkeypatch.setattr(render, "MAX_RENDER_SECONDS", 5.0)
    assert render_text(slow, {"user": {"name": "x"}}) == "x" * 1000


CONTENT_KEYS = st.sampled_from(["title", "body", "label", "id", "type", "pages", "buttons"])
LEAVES = st.one_of(templates(), TEXT, st.integers(0, 9), st.booleans(), st.none())
CONTENT = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(CONTENT_KEYS, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(CONTENT, st.dictionaries(NAMES, VALUES, max_size=6))
def test_compiled_content_renders_what_render_content_renders(
    content: Any, user: dict[str, Any]
) -> None:
    scope = {"user": user}
    assert compile_content(content)(scope) == render_content(content, scope)


def test_compiled_content_shares_what_has_no_template() -> None:
    buttons = [{"id": "ok", "label": "OK", "action": {"type": "close"}}]
    content = {"title": "Hi {{ user.name }}", "buttons": buttons, "pages": ["{{ user.plan }}"]}
    render = compile_content(content)
    first = render({"user": {"name": "Ana", "plan": "pro"}})
    second = render({"user": {"name": "Bo"}})
    assert first == {"title": "Hi Ana", "buttons": buttons, "pages": ["pro"]}
    assert second["title"] == "Hi Bo"
    assert second["pages"] == [""]
    assert first["buttons"] is buttons  # not copied per rendering
    assert content["title"] == "Hi {{ user.name }}"  # the source is left alone
