"""Validation on save: formats complete, templates compile, weights sum, dates ordered.

Each failure is a ValidationFailed naming the field, e.g.
`variants[0].content.fa.buttons[1].action.url`. Audience rules are checked by
`segments.actions.checked_rule` (the same check segments get).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tidings.campaigns.schemas import CampaignIn, PropertyFilter, Variant
from tidings.errors import ValidationFailed, field_path
from tidings.messages.formats import Message
from tidings.messages.render import TemplateProblem, check_templates
from tidings.push.schemas import PushControls
from tidings.targeting.errors import RuleError
from tidings.targeting.validate import check_property_filter

_message: TypeAdapter[Message] = TypeAdapter(Message)


def parse_message(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """The message normalized (HTML sanitized, defaults filled), or a 422 at `path`."""
    try:
        message = _message.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(tuple(first["loc"]))
        # The discriminator's own name is part of pydantic's location; drop it.
        fmt = raw.get("format") if isinstance(raw, dict) else None
        if where and fmt and where.startswith(f"{fmt}."):
            where = where[len(fmt) + 1 :]
        elif where == fmt:
            where = None
        message_text = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationFailed(message_text, field=f"{path}.{where}" if where else path) from exc
    return message.model_dump(mode="json", exclude_none=True)


def check_arms(variants: Sequence[Variant]) -> None:
    """What every channel's variants need: unique keys (`control` is the holdout's), some
    weight on a variant, and content in each variant's default locale."""
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("variant keys must be unique", field="variants")
    if "control" in keys:
        raise ValidationFailed("`control` is reserved for the holdout", field="variants")
    if all(v.weight == 0 for v in variants):
        raise ValidationFailed("variant weights must sum to more than 0", field="variants")
    for i, v in enumerate(variants):
        if v.default_locale not in v.content:
            raise ValidationFailed(
                f"no content for the default locale {v.default_locale!r}",
                field=f"variants[{i}].content",
            )


def check_variants(
    variants: list[Variant],
) -> tuple[str, list[dict[str, Any]]]:
    """(the campaign's format, the variants normalized)."""
    check_arms(variants)
    fmt: str | None = None
    out = []
    for i, v in enumerate(variants):
        content = {}
        for locale, raw in v.content.items():
            path = f"variants[{i}].content.{locale}"
            message = parse_message(raw, path)
            if fmt is None:
                fmt = message["format"]
            elif message["format"] != fmt:
                raise ValidationFailed(
                    f"every variant and locale must use the {fmt!r} format",
                    field=f"{path}.format",
                )
            try:
                check_templates(message, path)
            except TemplateProblem as exc:
                raise ValidationFailed(exc.message, field=exc.path, code="bad_template") from exc
            content[locale] = message
        out.append({**v.model_dump(mode="json"), "content": content})
    assert fmt is not None
    return fmt, out


def _check_filters(filters: list[PropertyFilter], path: str) -> None:
    """Each property filter's operator and value make sense together (a regex compiles, `in`
    takes a list, `gt` a number or a date...), as the targeting spec defines them."""
    for i, f in enumerate(filters):
        try:
            check_property_filter(f.property, f.op, f.value, f"{path}[{i}]")
        except RuleError as exc:
            raise ValidationFailed(exc.message, field=exc.path, code=exc.code) from exc


def check_shape(body: CampaignIn) -> None:
    """Cross-field checks that need no database."""
    if body.channel == "in_app" and body.schedule is not None:
        raise ValidationFailed("`schedule` is for push campaigns", field="schedule")
    if body.channel != "in_app" and body.controls.push is None:
        body.controls.push = PushControls()
    if body.audience is not None and body.segment_id is not None:
        raise ValidationFailed("give `audience` or `segment_id`, not both", field="segment_id")
    _check_filters(body.trigger.where, "trigger.where")
    if body.goal is not None:
        _check_filters(body.goal.where, "goal.where")
    if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
        raise ValidationFailed("`ends_at` must be after `starts_at`", field="ends_at")
    for when, name in ((body.starts_at, "starts_at"), (body.ends_at, "ends_at")):
        if when is not None and when.tzinfo is None:
            raise ValidationFailed("give a timezone (e.g. `Z`)", field=name)
