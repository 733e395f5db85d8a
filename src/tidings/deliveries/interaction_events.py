"""Message interactions are events too: each recorded impression, click, dismissal,
answer, inbox read and tour step also lands in the user's event stream, so audience rules,
profiles, goals and analytics read them like any other behaviour ("saw the upgrade modal
twice", "dismissed a survey this week").

The delivery row stays the source of truth for caps; the event is written through the
ingestion path after the delivery transaction commits, under a `message_id` derived from
the delivery key, so a retried batch (answered `duplicate`) writes any event that a crash
in between lost, and never writes one twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidings.campaigns.client_schemas import InteractionResult, InteractionsIn
from tidings.context import AppContext
from tidings.events import ingest
from tidings.events.schemas import EventIn, WellFormedTrackIn
from tidings.experiments.assignment import CONTROL
from tidings.tenancy.auth import Caller

# Interaction type → event name.
EVENT_NAMES = {
    "impression": "$message_shown",
    "click": "$message_clicked",
    "dismiss": "$message_dismissed",
    "answer": "$survey_answered",
    "inbox_read": "$inbox_read",
    "step_seen": "$tour_step_seen",
    "tour_completed": "$tour_completed",
}


def interaction_events(
    body: InteractionsIn,
    results: Sequence[InteractionResult],
    user_id: int,
    variants: dict[int, str],
    formats: dict[int, str],
    at: float,
) -> list[EventIn]:
    """The events of the interactions that were recorded (or had been: `duplicate`)."""
    out = []
    for item, result in zip(body.interactions, results, strict=True):
        if result.status == "refused":
            continue
        detail = item.button_id if item.type == "click" else item.step
        properties: dict[str, Any] = {
            "campaign_id": item.campaign_id,
            "occurrence": item.occurrence,
            "variant": variants.get(item.campaign_id, ""),
            "format": formats.get(item.campaign_id, ""),
        }
        if item.type == "click":
            properties["button_id"] = item.button_id
        if item.type == "step_seen":
            properties["step"] = item.step
        if item.type == "answer":
            properties["answers"] = item.answers
        suffix = "" if detail is None else f":{detail}"
        name = EVENT_NAMES[item.type]
        if item.type == "impression" and properties["variant"] == CONTROL:
            # A holdout user's logged exposure: nothing was shown.
            name = "$message_held_out"
        out.append(
            EventIn(
                name=name,
                properties=properties,
                timestamp=at,
                message_id=f"$inapp:{user_id}:{item.campaign_id}:{item.occurrence}:{item.type}{suffix}",
            )
        )
    return out


async def track_interactions(
    ctx: AppContext, caller: Caller, body: InteractionsIn, events: list[EventIn]
) -> None:
    """Store the events through ingestion (profiles updated; duplicates ignored)."""
    if not events:
        return
    batch = WellFormedTrackIn(
        events=events,
        external_id=body.external_id,
        anonymous_id=body.anonymous_id,
        user_hash=body.user_hash,
    )
    await ingest.track(ctx, caller, batch)
