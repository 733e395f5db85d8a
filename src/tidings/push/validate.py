"""Save-time checks of push campaigns: messages well formed, templates compile, the
schedule complete and its time parseable. Each failure is a 422 naming the field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from tidings.campaigns.validate import check_arms
from tidings.errors import ValidationFailed, field_path
from tidings.messages.render import TemplateProblem, check_templates
from tidings.push.schemas import DeviceMessage, PushMessage, Schedule


def parse_push(raw: dict[str, Any], path: str, channel: str = "push") -> dict[str, Any]:
    """The push (or in-device) message normalized, or a 422 at the first bad field."""
    model = DeviceMessage if channel == "device" else PushMessage
    try:
        message = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(tuple(first["loc"]))
        text = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationFailed(text, field=f"{path}.{where}" if where else path) from exc
    out = message.model_dump(mode="json", exclude_none=True)
    try:
        check_templates({k: v for k, v in out.items() if k not in ("image",)}, path)
    except TemplateProblem as exc:
        raise ValidationFailed(exc.message, field=exc.path, code="bad_template") from exc
    return out


def check_push_variants(variants: list[Any], channel: str = "push") -> list[dict[str, Any]]:
    """Variants (already shape-checked by `Variant`) with every locale a valid message of
    the channel (`push` or `device`)."""
    check_arms(variants)
    out = []
    for i, v in enumerate(variants):
        content = {
            locale: parse_push(raw, f"variants[{i}].content.{locale}", channel)
            for locale, raw in v.content.items()
        }
        out.append({**v.model_dump(mode="json"), "content": content})
    return out


def check_schedule(schedule: Schedule) -> dict[str, Any]:
    """The schedule as stored; `at` must carry a timezone, `date` must be a real day."""
    if schedule.at is not None:
        try:
            at = datetime.fromisoformat(schedule.at)
        except ValueError:
            raise ValidationFailed("not an ISO-8601 time", field="schedule.at") from None
        if at.tzinfo is None:
            raise ValidationFailed("give a timezone (e.g. `Z`)", field="schedule.at")
    if schedule.date is not None:
        try:
            date.fromisoformat(schedule.date)
        except ValueError:
            raise ValidationFailed("not a calendar date", field="schedule.date") from None
    return schedule.model_dump(mode="json", exclude_none=True)
