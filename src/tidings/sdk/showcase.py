"""The SDK showcase: one campaign per in-app format, for `tidings demo` and the screenshots.

The demo page (`/demo`) shows a newcomer a welcome carousel and a banner at session
start, then a product tour, a survey and an inbox; every other format is one click away.
"""

from __future__ import annotations

from typing import Any

from tidings.campaigns import actions
from tidings.campaigns.schemas import BudgetIn, CampaignIn
from tidings.context import AppContext
from tidings.tenancy.auth import Caller

PREFIX = "Showcase: "
ACCENT = "#4f46e5"
IMG = "https://images.unsplash.com/"
# Several messages in one demo session, none held back by the default budget.
BUDGET = BudgetIn(max_inapp_per_session=20, max_per_day=50, min_gap_seconds=0)
AGAIN = {"max_impressions": 50, "per_days": 1}


def _call(name: str) -> dict[str, Any]:
    return {"type": "sdk_call", "name": name}


CLOSE = {"type": "close"}

CONTENT: dict[str, dict[str, Any]] = {
    "carousel": {
        "format": "carousel",
        "pages": [
            {
                "title": "Welcome to Acme Analytics",
                "body": "Your numbers, explained. Here is a 20-second look around.",
            },
            {
                "title": "Dashboards that update live",
                "body": "Pin any chart to a dashboard and watch it refresh as events arrive.",
            },
            {
                "title": "Share in one click",
                "body": "Invite your team and share dashboards with a link.",
                "buttons": [
                    {"id": "start", "label": "Take the tour", "action": CLOSE},
                    {"id": "skip", "label": "Skip", "style": "secondary", "action": CLOSE},
                ],
            },
        ],
    },
    "banner": {
        "format": "banner",
        "position": "top",
        "body": "New: dark mode and CSV export are here.",
        "buttons": [{"id": "see", "label": "See what's new", "action": CLOSE}],
    },
    "tour": {
        "format": "tour",
        "steps": [
            {
                "anchor": {"selector": "#new-dashboard"},
                "title": "Create a dashboard",
                "body": "Start from a template or a blank canvas.",
            },
            {
                "anchor": {"selector": "#share"},
                "title": "Share it",
                "body": "Invite teammates or send a read-only link.",
            },
            {
                "anchor": {"selector": "#inbox-hint"},
                "placement": "top",
                "title": "Updates live here",
                "body": "Product news lands in your inbox (bottom left).",
            },
        ],
    },
    "survey": {
        "format": "survey",
        "title": "Two quick questions",
        "questions": [
            {"id": "nps", "kind": "nps", "prompt": "How likely are you to recommend Acme?"},
            {
                "id": "role",
                "kind": "single_choice",
                "prompt": "What best describes you?",
                "options": ["Engineer", "Product", "Marketing", "Other"],
            },
        ],
        "thank_you": {"title": "Thank you!", "body": "Your answers shape what we build next."},
    },
    "modal": {
        "format": "modal",
        "title": "Invite your team",
        "body": "Acme is better together. Teammates see the same dashboards and alerts.",
        "buttons": [
            {"id": "invite", "label": "Invite teammates", "action": CLOSE},
            {"id": "later", "label": "Maybe later", "style": "secondary", "action": CLOSE},
        ],
    },
    "slideup": {
        "format": "slideup",
        "title": "Your weekly report is ready",
        "body": "Sign-ups grew 12% this week. Have a look at what drove it.",
        "buttons": [{"id": "open", "label": "Open report", "action": CLOSE}],
    },
    "fullscreen": {
        "format": "fullscreen",
        "title": "Acme 3.0 is here",
        "body": "A faster editor, live dashboards and a brand new mobile app.",
        "buttons": [
            {"id": "explore", "label": "Explore what's new", "action": CLOSE},
            {"id": "later", "label": "Later", "style": "secondary", "action": CLOSE},
        ],
    },
    "html": {
        "format": "html",
        "height": 220,
        "html": "<h2>Spring sale: 30% off annual plans</h2>"
        "<p>Upgrade before April 30 and keep the discount for as long as you stay.</p>"
        '<p><a href="#tidings-click-upgrade">Upgrade now</a> '
        '<a href="#tidings-close">No thanks</a></p>',
    },
    "rtl": {
        "format": "modal",
        "direction": "rtl",
        "title": "به اکمی خوش آمدید",
        "body": "داشبوردهای شما اینجا هستند. برای شروع، یک داشبورد تازه بسازید.",
        "buttons": [
            {"id": "go", "label": "شروع کنید", "action": CLOSE},
            {"id": "later", "label": "بعداً", "style": "secondary", "action": CLOSE},
        ],
    },
}

POSTS: list[dict[str, Any]] = [
    {
        "format": "post",
        "title": "Dark mode is here",
        "body": "Switch in Settings, or let Acme follow your system.",
        "pinned": True,
    },
    {
        "format": "post",
        "title": "CSV export for every chart",
        "body": "Download the data behind any chart from its menu.",
    },
    {
        "format": "post",
        "title": "Webinar: dashboards that drive decisions",
        "body": "Thursday 17:00 UTC. Bring your questions.",
        "cta": {"id": "rsvp", "label": "Save my seat", "action": CLOSE},
    },
]

TRIGGERS: dict[str, dict[str, Any]] = {
    "carousel": {"type": "session_start"},
    "banner": {"type": "session_start"},
}


def campaigns() -> list[CampaignIn]:
    """Every showcase campaign: session start for the welcome, an SDK call for the rest."""
    out = []
    for key, content in CONTENT.items():
        priority = 900 if key == "carousel" else 500
        out.append(
            CampaignIn.model_validate(
                {
                    "name": PREFIX + key,
                    "trigger": TRIGGERS.get(key, _call(key)),
                    "controls": {"priority": priority, "frequency": AGAIN},
                    "variants": [{"key": "a", "content": {"en": content}}],
                }
            )
        )
    for i, post in enumerate(POSTS):
        out.append(
            CampaignIn.model_validate(
                {
                    "name": f"{PREFIX}post {i + 1}",
                    "variants": [{"key": "a", "content": {"en": post}}],
                }
            )
        )
    return out


async def ensure_showcase(ctx: AppContext, caller: Caller) -> int:
    """Create and activate the showcase campaigns unless present; returns how many were made."""
    existing = await actions.list_campaigns(ctx, caller, status=None, cursor=None, limit=100)
    names = {c.name for c in existing.data}
    made = 0
    for body in campaigns():
        if body.name in names:
            continue
        created = await actions.create_campaign(ctx, caller, body)
        await actions.transition(ctx, caller, created.id, "active")
        made += 1
    await actions.set_budget(ctx, caller, BUDGET)
    return made
