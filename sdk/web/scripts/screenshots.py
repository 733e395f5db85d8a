"""Screenshots of every in-app format, as the SDK renders them on the demo page.

    .venv/bin/python sdk/web/scripts/screenshots.py [--out docs/images]

Runs a real Tidings (temporary SQLite file) and Debian's Chromium; each format gets its own
app whose only campaign shows at session start, so each picture holds one message.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tidings import migrate
from tidings.campaigns import actions as campaign_actions
from tidings.campaigns.schemas import CampaignIn
from tidings.config import Settings
from tidings.context import AppContext
from tidings.sdk import showcase
from tidings.tenancy import actions
from tidings.tenancy.auth import authenticate
from tidings.testing.browser import CHROMIUM, CHROMIUM_ARGS
from tidings.testing.live import LiveServer

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ["modal", "banner", "slideup", "fullscreen", "html", "carousel", "tour", "survey", "rtl"]


def app_with(live: LiveServer, contents: list[dict[str, Any]], locale: str = "en") -> str:
    """A fresh app whose campaigns (one per content) show at session start; its write key."""

    async def make(ctx: AppContext) -> str:
        now = ctx.clock.now()
        ws = await actions.create_workspace(ctx.db, "Screenshots", now=now)
        app = await actions.create_app(ctx.db, ctx.box, ws, "Acme", now=now)
        key = await actions.create_server_key(
            ctx.db, app.app_id, "shots", ["read", "write"], now=now
        )
        caller = await authenticate(ctx.db, key.token)
        await campaign_actions.set_budget(ctx, caller, showcase.BUDGET)
        for i, content in enumerate(contents):
            body = CampaignIn.model_validate(
                {
                    "name": f"shot {i}",
                    "variants": [
                        {"key": "a", "default_locale": locale, "content": {locale: content}}
                    ],
                }
            )
            made = await campaign_actions.create_campaign(ctx, caller, body)
            await campaign_actions.transition(ctx, caller, made.id, "active")
        return app.write_key

    return live.call(make)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/shots.db"
        migrate.upgrade(url)
        settings = Settings(
            database_url=url,
            secret_key="screenshots",
            log_level="warning",
            rate_limit_per_second=0,
            auto_migrate=False,
        )
        with LiveServer(settings) as live, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True
            )
            jobs: list[tuple[str, list[dict[str, Any]], str]] = [
                (name, [showcase.CONTENT[name]], "fa" if name == "rtl" else "en") for name in SHOTS
            ]
            jobs.append(("inbox", showcase.POSTS, "en"))
            for name, contents, locale in jobs:
                key = app_with(live, contents, locale)
                ctx = browser.new_context(
                    viewport={"width": 1100, "height": 700},
                    device_scale_factor=1,
                    reduced_motion="reduce",
                    locale="fa-IR" if locale == "fa" else "en-US",
                )
                page = ctx.new_page()
                page.goto(f"{live.url}/demo?key={key}")
                page.wait_for_function("window.Tidings && window.Tidings.ready")
                page.evaluate("Tidings.ready")
                if name == "inbox":
                    page.wait_for_function(
                        "document.querySelector('tidings-root').shadowRoot"
                        ".querySelector('.badge').textContent === '3'"
                    )
                    page.locator("tidings-root .launcher").click()
                    page.locator("tidings-root .drawer").wait_for()
                    page.locator("tidings-root .post").nth(1).click()
                elif name == "survey":
                    page.locator("tidings-root [data-question=nps] .opt").nth(9).click()
                elif name == "html":
                    frame = page.locator("tidings-root iframe").element_handle().content_frame()
                    frame.locator("h2").wait_for()
                elif name == "tour":
                    page.locator("tidings-root .tip").wait_for()
                else:
                    page.locator("tidings-root [data-campaign] > *").first.wait_for()
                page.wait_for_timeout(300)  # images and fonts settle
                page.screenshot(path=str(args.out / f"{name}.png"))
                print(f"wrote {args.out / f'{name}.png'}")
                ctx.close()
            browser.close()


if __name__ == "__main__":
    main()
