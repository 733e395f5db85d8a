"""The demo web app (`/demo`): a newcomer sees a welcome carousel, a banner, a tour, a survey
and an inbox within seconds, driven by the showcase campaigns `tidings demo` seeds."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import shadow
from tests.conftest import Tenant

from tidings.context import AppContext
from tidings.sdk import showcase
from tidings.tenancy.auth import authenticate
from tidings.testing.live import LiveServer


def test_demo_page_walks_a_newcomer_through_every_format(
    chromium: Any, live: LiveServer, tenant: Tenant
) -> None:
    async def seed(ctx: AppContext) -> int:
        caller = await authenticate(ctx.db, tenant.server_key)
        made = await showcase.ensure_showcase(ctx, caller)
        assert await showcase.ensure_showcase(ctx, caller) == 0  # idempotent
        return made

    assert live.call(seed) == len(showcase.CONTENT) + len(showcase.POSTS)
    ctx = chromium.new_context(viewport={"width": 1100, "height": 760}, reduced_motion="reduce")
    try:
        page = ctx.new_page()
        page.goto(f"{live.url}/demo?key={tenant.write_key}")
        carousel = shadow(page, "[aria-roledescription=carousel]")
        carousel.wait_for()
        shadow(page, ".banner").wait_for()
        assert "dark mode" in shadow(page, ".banner").inner_text()
        shadow(page, ".dot").nth(2).click()
        shadow(page, "button[data-button=start]").click()
        # The tour follows the carousel.
        tip = shadow(page, ".tip")
        tip.wait_for()
        assert "Create a dashboard" in tip.inner_text()
        for _ in range(2):
            shadow(page, "[data-tour=next]").click()
        shadow(page, "[data-tour=done]").click()
        # Then the survey.
        shadow(page, "form [data-question=nps]").wait_for()
        shadow(page, "button.x").last.click()
        # The inbox launcher shows the unread posts.
        page.wait_for_function(
            "document.querySelector('tidings-root').shadowRoot.querySelector('.badge')"
            ".textContent === '3'"
        )
        shadow(page, ".launcher").click()
        shadow(page, ".drawer").wait_for()
        assert shadow(page, ".post").count() == 3
        page.keyboard.press("Escape")
        # Every other format is one click away.
        page.click("[data-show=modal]")
        shadow(page, ".fmt-modal .title").wait_for()
    finally:
        ctx.close()


def test_demo_page_without_a_key_explains_itself(chromium: Any, live: LiveServer) -> None:
    ctx = chromium.new_context()
    try:
        page = ctx.new_page()
        page.goto(f"{live.url}/demo")
        assert page.locator("#missing").is_visible()
    finally:
        ctx.close()
