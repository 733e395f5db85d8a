"""Each in-app format renders in Chromium, closes by its control, Esc and the backdrop, and
what the user did lands on the server."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from tests.browser.conftest import delivery, launch, shadow
from tests.conftest import Tenant


def roomy_budget(client: httpx.Client, tenant: Tenant) -> None:
    """Let several messages show in one session (the default budget is one)."""
    r = client.put(
        "/v1/attention-budget",
        json={"max_inapp_per_session": 20, "max_per_day": 50, "min_gap_seconds": 0},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200, r.text


MODAL = {
    "format": "modal",
    "title": "Invite your team",
    "body": "Tidings is better together. Invite teammates and share your inbox.",
    "buttons": [
        {"id": "invite", "label": "Invite teammates", "action": {"type": "close"}},
        {"id": "later", "label": "Maybe later", "style": "secondary", "action": {"type": "close"}},
    ],
}


def test_modal_button_click_is_recorded(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, MODAL)
    page = open_page(init={"userId": "ana"})
    dialog = shadow(page, "[role=dialog]")
    dialog.wait_for()
    assert dialog.get_attribute("aria-modal") == "true"
    assert shadow(page, ".title").inner_text() == "Invite your team"
    # Focus starts inside the dialog.
    assert (
        page.evaluate(
            "document.querySelector('tidings-root').shadowRoot.activeElement?.textContent"
        )
        == "Invite teammates"
    )
    shadow(page, "button[data-button=invite]").click()
    assert shadow(page, "[role=dialog]").count() == 0
    row = delivery(sql, cid, lambda r: r.clicked_at is not None)
    assert row.displayed_at is not None
    assert row.status == "clicked"
    assert "invite" in str(row.data)
    events = page.evaluate("window.seen.map(e => e.event)")
    assert events[:2] == ["shown", "clicked"]


def test_modal_closes_by_close_control(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, MODAL)
    page = open_page(init={"userId": "ana"})
    shadow(page, "button.x").click()
    assert shadow(page, "[role=dialog]").count() == 0
    row = delivery(sql, cid, lambda r: r.dismissed_at is not None)
    assert row.status == "dismissed"


def test_modal_closes_by_escape_and_returns_focus(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, MODAL, trigger={"type": "sdk_call", "name": "invite"})
    page = open_page(init={"userId": "ana"}, body='<button id="mine">Host button</button>')
    page.focus("#mine")
    page.evaluate("Tidings.trigger('invite')")
    shadow(page, "[role=dialog]").wait_for()
    assert page.evaluate("document.activeElement.id") != "mine"
    page.keyboard.press("Escape")
    assert shadow(page, "[role=dialog]").count() == 0
    assert page.evaluate("document.activeElement.id") == "mine"
    delivery(sql, cid, lambda r: r.dismissed_at is not None)
    assert page.evaluate("window.seen.find(e => e.event === 'dismissed').how") == "esc"


def test_modal_traps_focus(client: httpx.Client, tenant: Tenant, open_page: Any) -> None:
    launch(client, tenant, MODAL)
    page = open_page(init={"userId": "ana"}, body='<button id="mine">Host button</button>')
    shadow(page, "[role=dialog]").wait_for()
    labels = []
    for _ in range(5):
        page.keyboard.press("Tab")
        labels.append(
            page.evaluate(
                "document.querySelector('tidings-root').shadowRoot.activeElement?.textContent"
                " ?? document.activeElement.id"
            )
        )
    assert "Host button" not in labels
    assert set(labels) == {"Invite teammates", "Maybe later", "\u00d7"}


def test_modal_closes_by_backdrop(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, MODAL)
    page = open_page(init={"userId": "ana"})
    shadow(page, "[role=dialog]").wait_for()
    page.mouse.click(10, 10)  # outside the card
    assert shadow(page, "[role=dialog]").count() == 0
    delivery(sql, cid, lambda r: r.dismissed_at is not None)
    assert page.evaluate("window.seen.find(e => e.event === 'dismissed').how") == "backdrop"


def test_only_one_blocking_message_at_a_time_by_priority(
    client: httpx.Client, tenant: Tenant, open_page: Any
) -> None:
    roomy_budget(client, tenant)
    low = launch(client, tenant, {**MODAL, "title": "Low"}, controls={"priority": 10})
    high = launch(client, tenant, {**MODAL, "title": "High"}, controls={"priority": 900})
    page = open_page(init={"userId": "ana"})
    shadow(page, "[role=dialog]").wait_for()
    assert shadow(page, "[role=dialog]").count() == 1
    assert shadow(page, ".title").inner_text() == "High"
    page.keyboard.press("Escape")
    shadow(page, ".title").filter(has_text="Low").wait_for()
    shown = page.evaluate("window.seen.filter(e => e.event === 'shown').map(e => e.campaign_id)")
    assert shown == [high, low]


def test_fullscreen_renders_and_closes(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, {**MODAL, "format": "fullscreen"})
    page = open_page(init={"userId": "ana"})
    full = shadow(page, ".full[role=dialog]")
    full.wait_for()
    box = full.bounding_box()
    assert box["width"] == 1100
    assert box["height"] == 760
    shadow(page, "button.x").click()
    assert full.count() == 0
    delivery(sql, cid, lambda r: r.dismissed_at is not None)


def test_slideup_is_not_modal_and_closes(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, {**MODAL, "format": "slideup"})
    page = open_page(init={"userId": "ana"}, body='<button id="mine">Host button</button>')
    slide = shadow(page, ".slideup")
    slide.wait_for()
    assert slide.get_attribute("aria-modal") == "false"
    # The host page stays usable while a slide-up is shown.
    page.click("#mine")
    page.keyboard.press("Escape")
    assert slide.count() == 0
    delivery(sql, cid, lambda r: r.dismissed_at is not None)


def test_banner_is_announced_and_dismissible(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(
        client,
        tenant,
        {
            "format": "banner",
            "body": "Scheduled maintenance tonight, 02:00-03:00 UTC.",
            "buttons": [{"id": "status", "label": "Status page", "action": {"type": "close"}}],
        },
    )
    page = open_page(init={"userId": "ana"})
    banner = shadow(page, ".banner")
    banner.wait_for()
    assert banner.get_attribute("role") == "status"
    assert banner.get_attribute("aria-live") == "polite"
    assert banner.bounding_box()["y"] == 0
    shadow(page, ".banner button.x").click()
    assert banner.count() == 0
    delivery(sql, cid, lambda r: r.dismissed_at is not None)


def test_html_runs_sandboxed_and_its_buttons_reach_the_sdk(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(
        client,
        tenant,
        {
            "format": "html",
            "html": '<h1>Spring sale</h1><p>30% off.</p><a href="#tidings-click-buy">Buy</a>'
            '<script>parent.document.title = "pwned"</script>',
            "height": 300,
        },
    )
    page = open_page(init={"userId": "ana"})
    frame_el = shadow(page, "iframe.frame")
    frame_el.wait_for()
    assert frame_el.get_attribute("sandbox") == "allow-scripts"
    frame = frame_el.element_handle().content_frame()
    frame.locator("h1").wait_for()
    assert frame.locator("script", has_text="pwned").count() == 0  # sanitized on save
    # Without allow-same-origin the frame cannot reach the host page.
    assert (
        frame.evaluate(
            "(() => { try { return parent.document.title } catch (e) { return 'blocked' } })()"
        )
        == "blocked"
    )
    frame.locator("a", has_text="Buy").click()
    row = delivery(sql, cid, lambda r: r.clicked_at is not None)
    assert "buy" in str(row.data)
    assert shadow(page, "iframe.frame").count() == 0
    assert page.title() == "Acme"


def test_carousel_pages_by_buttons_dots_keys_and_swipe(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    pages = [{"title": f"Step {i}", "body": f"Page {i} of the welcome tour."} for i in (1, 2, 3)]
    pages[2]["buttons"] = [{"id": "go", "label": "Get started", "action": {"type": "close"}}]
    cid = launch(client, tenant, {"format": "carousel", "pages": pages})
    page = open_page(init={"userId": "ana"})
    shadow(page, "[aria-roledescription=carousel]").wait_for()

    def current() -> int:
        dots = shadow(page, ".dot")
        return next(
            i for i in range(dots.count()) if dots.nth(i).get_attribute("aria-current") == "true"
        )

    assert current() == 0
    shadow(page, "button[aria-label=Next]").click()
    assert current() == 1
    page.keyboard.press("ArrowLeft")
    assert current() == 0
    page.keyboard.press("ArrowRight")
    assert current() == 1
    shadow(page, ".dot").nth(2).click()
    assert current() == 2
    # Swipe right (back) with a pointer drag.
    box = shadow(page, ".slides").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 60, y)
    page.mouse.down()
    page.mouse.move(box["x"] + 260, y, steps=5)
    page.mouse.up()
    assert current() == 1
    shadow(page, ".dot").nth(2).click()
    shadow(page, "button[data-button=go]").click()
    row = delivery(sql, cid, lambda r: r.clicked_at is not None)
    assert "go" in str(row.data)


def test_survey_validates_then_records_answers_and_thanks(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(
        client,
        tenant,
        {
            "format": "survey",
            "title": "Quick question",
            "questions": [
                {"id": "nps", "kind": "nps", "prompt": "How likely are you to recommend us?"},
                {"id": "stars", "kind": "rating", "prompt": "Rate the new editor", "scale": 5},
                {
                    "id": "role",
                    "kind": "single_choice",
                    "prompt": "Your role",
                    "options": ["Engineer", "Designer", "Manager"],
                },
                {
                    "id": "uses",
                    "kind": "multi_choice",
                    "prompt": "What do you use?",
                    "options": ["Inbox", "Tours", "Push"],
                },
                {"id": "more", "kind": "text", "prompt": "Anything else?", "required": False},
            ],
            "thank_you": {"title": "Thanks!", "body": "We read every answer."},
        },
    )
    page = open_page(init={"userId": "ana"})
    shadow(page, "form").wait_for()
    shadow(page, "button[type=submit]").click()
    errors = shadow(page, ".err")
    assert errors.nth(0).inner_text() == "Please answer this question."
    assert shadow(page, "fieldset[aria-invalid=true]").count() == 4
    shadow(page, "[data-question=nps] .opt").nth(9).click()
    shadow(page, "[data-question=stars] .opt").nth(3).click()
    shadow(page, "[data-question=role] label").filter(has_text="Designer").click()
    shadow(page, "[data-question=uses] label").filter(has_text="Inbox").click()
    shadow(page, "[data-question=uses] label").filter(has_text="Push").click()
    shadow(page, "[data-question=more] textarea").fill("Love it")
    shadow(page, "button[type=submit]").click()
    shadow(page, ".thanks").wait_for()
    assert "Thanks!" in shadow(page, ".thanks").inner_text()
    row = delivery(sql, cid, lambda r: r.completed_at is not None)
    assert row.data.get("answers") == {
        "nps": 9,
        "stars": 4,
        "role": "Designer",
        "uses": ["Inbox", "Push"],
        "more": "Love it",
    }
    shadow(page, ".thanks button").click()
    assert shadow(page, "form").count() == 0


def test_event_trigger_with_property_filter_fires_on_the_device(
    client: httpx.Client, tenant: Tenant, open_page: Any
) -> None:
    launch(
        client,
        tenant,
        {**MODAL, "title": "Export more"},
        trigger={
            "type": "event",
            "event": "limit_hit",
            "where": [{"property": "feature", "op": "eq", "value": "export"}],
        },
    )
    page = open_page(init={"userId": "ana"})
    page.evaluate("Tidings.track('limit_hit', {feature: 'import'})")
    page.evaluate("Tidings.flush()")
    assert shadow(page, "[role=dialog]").count() == 0
    page.evaluate("Tidings.track('limit_hit', {feature: 'export'})")
    shadow(page, ".title").filter(has_text="Export more").wait_for()


def test_page_view_trigger_follows_single_page_navigation(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    launch(
        client,
        tenant,
        {**MODAL, "title": "Plans"},
        trigger={"type": "page_view", "url": "/billing/*"},
    )
    page = open_page(init={"userId": "ana"})
    page.evaluate("Tidings.flush()")
    assert shadow(page, "[role=dialog]").count() == 0
    page.evaluate("history.pushState({}, '', '/billing/plans')")
    shadow(page, ".title").filter(has_text="Plans").wait_for()


def test_reduced_motion_is_respected(client: httpx.Client, tenant: Tenant, open_page: Any) -> None:
    launch(client, tenant, MODAL)
    still = open_page(init={"userId": "ana"}, reduced_motion="reduce")
    shadow(still, ".card").wait_for()
    assert shadow(still, ".card").evaluate("el => getComputedStyle(el).animationName") == "none"
    moving = open_page(init={"userId": "bob"}, reduced_motion="no-preference")
    shadow(moving, ".card").wait_for()
    assert shadow(moving, ".card").evaluate("el => getComputedStyle(el).animationName") == "t-pop"


def test_messages_fit_a_phone_screen(client: httpx.Client, tenant: Tenant, open_page: Any) -> None:
    roomy_budget(client, tenant)
    launch(client, tenant, MODAL)
    launch(client, tenant, {"format": "banner", "body": "Offline for maintenance at 02:00."})
    page = open_page(init={"userId": "ana"}, viewport={"width": 390, "height": 844})
    card = shadow(page, ".card")
    card.wait_for()
    box = card.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    for i in range(shadow(page, ".card .btn").count()):
        button = shadow(page, ".card .btn").nth(i).bounding_box()
        assert button["height"] >= 44  # a comfortable touch target
    banner = shadow(page, ".banner").bounding_box()
    assert banner["width"] == 390
