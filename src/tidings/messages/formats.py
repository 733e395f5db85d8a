"""Typed schemas of every in-app message format, their buttons, actions and theme.

A message is a JSON object whose `format` picks the schema (`extra="forbid"`, so a typo
is a 422 naming the field). User HTML is sanitized with nh3 when the message is parsed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import nh3
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Text = Annotated[str, Field(max_length=4000)]
Short = Annotated[str, Field(min_length=1, max_length=200)]
Url = Annotated[str, Field(min_length=1, max_length=2000)]
Color = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Action(_Strict):
    """What a button does: close, open a URL or deep link, page, submit, or track an event."""

    type: Literal["close", "open_url", "deep_link", "next", "previous", "submit", "event"]
    url: Url | None = None
    event: Short | None = None

    @model_validator(mode="after")
    def _complete(self) -> Action:
        if self.type in ("open_url", "deep_link") and self.url is None:
            raise ValueError(f"a `{self.type}` action needs `url`")
        if self.type == "event" and self.event is None:
            raise ValueError("an `event` action needs `event`")
        return self


class Button(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    label: Short
    action: Action
    style: Literal["primary", "secondary", "link"] = "primary"


class Theme(_Strict):
    """Colors, font and radius; unset fields take the app's default theme."""

    background: Color | None = None
    text: Color | None = None
    accent: Color | None = None
    font: Annotated[str, Field(max_length=100)] | None = None
    radius: Annotated[int, Field(ge=0, le=64)] | None = None
    dark: Literal["auto", "light", "dark"] = "auto"


class Author(_Strict):
    name: Short
    avatar_url: Url | None = None


class _Common(_Strict):
    theme: Theme | None = None
    author: Author | None = None
    direction: Literal["auto", "ltr", "rtl"] = "auto"


Buttons = Annotated[list[Button], Field(max_length=4)]


def _unique_buttons(buttons: list[Button]) -> list[Button]:
    ids = [b.id for b in buttons]
    if len(set(ids)) != len(ids):
        raise ValueError("button ids must be unique within a message")
    return buttons


class Page(_Strict):
    title: Text | None = None
    body: Text | None = None
    image_url: Url | None = None
    buttons: Buttons = []

    _buttons = field_validator("buttons")(_unique_buttons)


class Modal(_Common, Page):
    format: Literal["modal"]


class Fullscreen(_Common, Page):
    format: Literal["fullscreen"]


class Slideup(_Common, Page):
    format: Literal["slideup"]


class Banner(_Common):
    format: Literal["banner"]
    position: Literal["top", "bottom"] = "top"
    body: Annotated[str, Field(min_length=1, max_length=1000)]
    buttons: Buttons = []
    dismissible: bool = True


class Html(_Common):
    """User HTML, sanitized here and shown by the SDK only inside a sandboxed frame."""

    format: Literal["html"]
    html: Annotated[str, Field(min_length=1, max_length=100_000)]
    height: Annotated[int, Field(ge=40, le=2000)] = 400

    @field_validator("html")
    @classmethod
    def _clean(cls, html: str) -> str:
        return nh3.clean(html)


class Carousel(_Common):
    format: Literal["carousel"]
    pages: Annotated[list[Page], Field(min_length=2, max_length=10)]


class Anchor(_Strict):
    """Where a tour step points: a CSS selector (web) or a screen id (mobile)."""

    selector: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    screen: Short | None = None

    @model_validator(mode="after")
    def _one(self) -> Anchor:
        if (self.selector is None) == (self.screen is None):
            raise ValueError("an anchor needs exactly one of `selector` or `screen`")
        return self


class TourStep(_Strict):
    anchor: Anchor
    placement: Literal["top", "bottom", "left", "right", "center"] = "bottom"
    title: Text | None = None
    body: Text


class Tour(_Common):
    format: Literal["tour"]
    steps: Annotated[list[TourStep], Field(min_length=1, max_length=30)]
    show_progress: bool = True


class Question(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    kind: Literal["nps", "rating", "single_choice", "multi_choice", "text"]
    prompt: Annotated[str, Field(min_length=1, max_length=1000)]
    options: Annotated[list[Short], Field(max_length=20)] = []
    scale: Annotated[int, Field(ge=3, le=10)] = 5
    required: bool = True

    @model_validator(mode="after")
    def _options(self) -> Question:
        choice = self.kind in ("single_choice", "multi_choice")
        if choice and len(self.options) < 2:
            raise ValueError(f"a `{self.kind}` question needs at least 2 options")
        if not choice and self.options:
            raise ValueError(f"a `{self.kind}` question takes no options")
        return self


class ThankYou(_Strict):
    title: Text | None = None
    body: Text | None = None


class Survey(_Common):
    format: Literal["survey"]
    title: Text | None = None
    questions: Annotated[list[Question], Field(min_length=1, max_length=20)]
    thank_you: ThankYou | None = None

    @field_validator("questions")
    @classmethod
    def _unique(cls, questions: list[Question]) -> list[Question]:
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique within a survey")
        return questions


class Post(_Common):
    """An inbox card."""

    format: Literal["post"]
    title: Short
    body: Text | None = None
    image_url: Url | None = None
    cta: Button | None = None
    pinned: bool = False
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, when: datetime | None) -> datetime | None:
        if when is not None and when.tzinfo is None:
            raise ValueError("give a timezone (e.g. `Z`)")
        return when


Message = Annotated[
    Modal | Banner | Slideup | Fullscreen | Html | Carousel | Tour | Survey | Post,
    Field(discriminator="format"),
]
FORMATS = ("modal", "banner", "slideup", "fullscreen", "html", "carousel", "tour", "survey", "post")
# Formats that take the screen: at most one of them is on screen at a time.
BLOCKING = frozenset({"modal", "fullscreen", "carousel", "survey", "html", "tour"})
