"""Tours, right-to-left text, style isolation, the inbox and offline catch-up, in Chromium."""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa
from tests.browser.conftest import delivery, launch, shadow
from tests.conftest import Tenant

from tidings.campaigns.stream import hub
from tidings.db import table_of
from tidings.events.models import Event

TOUR_PAGE = """
<nav style="display:flex;gap:12px"><button id="new">New project</button>
<button id="share">Share</button></nav>
<div style="height:1400px"></div>
<button id="help" style="display:block;margin:0 auto 40px">Help</button>
"""

TOUR = {
    "format": "tour",
    "steps": [
        {"anchor": {"selector": "#new"}, "title": "Start here", "body": "Create a project."},
        {"anchor": {"selector": "#gone"}, "body": "This anchor is missing."},
        {"anchor": {"selector": "#help"}, "placement": "top", "body": "Help lives here."},
    ],
}


def test_tour_highlights_anchors_and_skips_a_missing_one(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, TOUR)
    page = open_page(init={"userId": "ana"}, body=TOUR_PAGE)
    tip = shadow(page, ".tip")
    tip.wait_for()
    assert "Start here" in tip.inner_text()
    assert "1 of 3" in tip.inner_text()
    spot = shadow(page, ".spot").bounding_box()
    anchor = page.locator("#new").bounding_box()
    assert spot["x"] < anchor["x"]
    assert spot["x"] + spot["width"] > anchor["x"] + anchor["width"]
    assert spot["y"] < anchor["y"]
    # The tip sits below its anchor.
    assert tip.bounding_box()["y"] > anchor["y"] + anchor["height"]

    shadow(page, "[data-tour=next]").click()
    # Step 2's anchor is missing: skipped (and reported), step 3 is shown, scrolled into view.
    page.wait_for_function(
        "document.querySelector('tidings-root').shadowRoot.querySelector('.tip')"
        ".textContent.includes('Help lives here')"
    )
    assert "3 of 3" in tip.inner_text()
    assert page.evaluate("window.scrollY") > 0
    help_box = page.locator("#help").bounding_box()
    assert 0 <= help_box["y"] <= 760
    assert tip.bounding_box()["y"] + tip.bounding_box()["height"] <= help_box["y"]
    skipped = page.evaluate("window.seen.filter(e => e.event === 'tour_step_skipped')")
    assert [(e["campaign_id"], e["step"], e["selector"]) for e in skipped] == [(cid, 1, "#gone")]

    # Repositions on resize.
    before = shadow(page, ".spot").bounding_box()
    page.set_viewport_size({"width": 700, "height": 600})
    page.wait_for_function(
        "() => { const s = document.querySelector('tidings-root').shadowRoot"
        ".querySelector('.spot').getBoundingClientRect();"
        " const a = document.querySelector('#help').getBoundingClientRect();"
        " return Math.abs(s.left - (a.left - 6)) <= 1 && Math.abs(s.top - (a.top - 6)) <= 1 }"
    )
    assert shadow(page, ".spot").bounding_box() != before

    shadow(page, "[data-tour=done]").click()
    assert tip.count() == 0
    row = delivery(sql, cid, lambda r: r.completed_at is not None)
    assert row.displayed_at is not None
    # The skipped step arrived as an event too.
    events = table_of(Event)
    with sql.connect() as c:
        names = [
            r.name
            for r in c.execute(sa.select(events.c.name).where(events.c.app_id == tenant.app_id))
        ]
    assert "$tour_step_skipped" in names


def test_tour_back_and_skip(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    cid = launch(client, tenant, TOUR)
    page = open_page(init={"userId": "ana"}, body=TOUR_PAGE)
    tip = shadow(page, ".tip")
    tip.wait_for()
    assert shadow(page, "[data-tour=back]").count() == 0
    shadow(page, "[data-tour=next]").click()
    shadow(page, "[data-tour=back]").click()
    assert "Start here" in tip.inner_text()
    shadow(page, ".tip button.x").click()
    assert tip.count() == 0
    delivery(sql, cid, lambda r: r.dismissed_at is not None)


def test_rtl_message_renders_right_to_left(
    client: httpx.Client, tenant: Tenant, open_page: Any
) -> None:
    launch(
        client,
        tenant,
        {
            "en": {"format": "modal", "title": "Welcome", "body": "Hello"},
            "fa": {
                "format": "modal",
                "title": "خوش آمدید",
                "body": "به تیدینگز خوش آمدید. پیام‌های شما اینجا هستند.",
                "buttons": [{"id": "ok", "label": "باشه", "action": {"type": "close"}}],
            },
        },
    )
    page = open_page(init={"userId": "sara", "locale": "fa-IR"})
    card = shadow(page, ".card")
    card.wait_for()
    assert shadow(page, ".fmt-modal").get_attribute("dir") == "rtl"
    assert shadow(page, ".title").inner_text() == "خوش آمدید"
    assert shadow(page, ".title").evaluate("el => getComputedStyle(el).direction") == "rtl"
    # The close control sits on the left in RTL; the text starts at the right.
    close = shadow(page, "button.x").bounding_box()
    box = card.bounding_box()
    assert close["x"] < box["x"] + box["width"] / 2
    title = shadow(page, ".title").evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " const b = r.getBoundingClientRect(); return [b.right, el.getBoundingClientRect().right] }"
    )
    assert abs(title[0] - title[1]) <= 2


HOSTILE_CSS = """
* { color: #ff0000 !important; font-family: "Comic Sans MS", cursive !important; }
button { background: #00ff00 !important; border-radius: 0 !important; }
.card, .title, .btn, .x { display: none !important; }
h2 { font-size: 60px !important; }
"""


def test_host_css_does_not_leak_in_and_message_css_does_not_leak_out(
    client: httpx.Client, tenant: Tenant, open_page: Any
) -> None:
    launch(
        client,
        tenant,
        {
            "format": "modal",
            "title": "Isolated",
            "body": "Host styles stay out.",
            "buttons": [{"id": "ok", "label": "OK", "action": {"type": "close"}}],
            "theme": {"accent": "#0f766e"},
        },
    )
    page = open_page(
        init={"userId": "ana"},
        css=HOSTILE_CSS,
        body='<h2 class="title">Host title</h2><button class="btn">Host button</button>',
    )
    shadow(page, ".card").wait_for()
    style = shadow(page, ".title").evaluate(
        "el => { const s = getComputedStyle(el);"
        " return [s.color, s.fontSize, s.fontFamily, s.display] }"
    )
    assert style[0] != "rgb(255, 0, 0)"
    assert style[1] == "20px"
    assert "Comic" not in style[2]
    assert style[3] == "block"
    button = shadow(page, ".btn").evaluate("el => getComputedStyle(el).backgroundColor")
    assert button == "rgb(15, 118, 110)"
    # And the SDK's styles never reach the host page's own .title/.btn.
    host_title = page.locator("body > h2.title").evaluate(
        "el => [getComputedStyle(el).fontSize, getComputedStyle(el).display]"
    )
    assert host_title == ["60px", "none"]
    host_button = page.locator("body > button.btn").evaluate(
        "el => getComputedStyle(el).borderRadius"
    )
    assert host_button == "0px"


def test_inbox_badge_list_and_read_state(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    first = launch(
        client, tenant, {"format": "post", "title": "Dark mode is here", "body": "Try it now."}
    )
    second = launch(
        client,
        tenant,
        {"format": "post", "title": "Pinned: house rules", "body": "Be kind.", "pinned": True},
    )
    page = open_page(init={"userId": "ana", "inboxLauncher": True})
    badge = shadow(page, ".launcher .badge")
    page.wait_for_function(
        "document.querySelector('tidings-root').shadowRoot.querySelector('.badge')"
        ".textContent === '2'"
    )
    shadow(page, ".launcher").click()
    drawer = shadow(page, ".drawer")
    drawer.wait_for()
    titles = shadow(page, ".post .title").all_inner_texts()
    assert titles == ["Pinned: house rules", "Dark mode is here"]
    assert shadow(page, ".post.unread").count() == 2
    shadow(page, f".post[data-campaign='{first}']").click()
    assert shadow(page, ".post.unread").count() == 1
    assert shadow(page, ".drawer .count").inner_text() == "1"
    row = delivery(sql, first, lambda r: r.read_at is not None)
    assert row.read_at is not None
    page.keyboard.press("Escape")
    assert drawer.count() == 0
    page.wait_for_function(
        "document.querySelector('tidings-root').shadowRoot.querySelector('.badge')"
        ".textContent === '1'"
    )
    assert badge.inner_text() == "1"
    assert second > first


def test_offline_events_arrive_after_reconnect(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    page = open_page(init={"userId": "ana"})
    page.context.set_offline(True)
    for i in range(3):
        page.evaluate(f"Tidings.track('offline_action', {{n: {i}}})")
    page.evaluate("Tidings.flush()")
    stored = page.evaluate("JSON.parse(localStorage.getItem('tidings:outbox')).length")
    assert stored >= 3
    events = table_of(Event)

    def count() -> int:
        with sql.connect() as c:
            return len(
                c.execute(
                    sa.select(events.c.id).where(
                        events.c.app_id == tenant.app_id, events.c.name == "offline_action"
                    )
                ).all()
            )

    assert count() == 0
    page.context.set_offline(False)
    page.wait_for_function("JSON.parse(localStorage.getItem('tidings:outbox')).length === 0")
    assert count() == 3


def test_queued_events_survive_a_reload(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    page = open_page(init={"userId": "ana"})
    # Tidings is unreachable for this page's sends, across a reload.
    page.route("**/v1/track", lambda route: route.abort())
    page.evaluate("Tidings.track('before_reload', {})")
    page.evaluate("Tidings.flush()")
    page.reload()
    page.wait_for_function("window.Tidings && window.Tidings.ready")
    page.evaluate("Tidings.ready")
    queued = page.evaluate(
        "JSON.parse(localStorage.getItem('tidings:outbox')).map(i => i.event && i.event.name)"
    )
    assert "before_reload" in queued
    page.unroute("**/v1/track")
    page.evaluate("Tidings.flush()")
    page.wait_for_function("JSON.parse(localStorage.getItem('tidings:outbox')).length === 0")
    events = table_of(Event)
    with sql.connect() as c:
        n = c.execute(
            sa.select(sa.func.count()).where(
                events.c.app_id == tenant.app_id, events.c.name == "before_reload"
            )
        ).scalar_one()
    assert n == 1


def test_a_campaign_going_live_reaches_an_open_page(
    client: httpx.Client, tenant: Tenant, open_page: Any
) -> None:
    page = open_page(init={"userId": "ana", "live": True})
    deadline = time.monotonic() + 30
    while hub.connections(tenant.app_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # the stream connects after the session's decision
    assert hub.connections(tenant.app_id) == 1
    r = client.post(
        "/v1/campaigns",
        json={
            "name": "outage",
            "variants": [
                {"key": "a", "content": {"en": {"format": "banner", "body": "We are on it."}}}
            ],
            "controls": {"priority": 1000, "exempt_from_budget": True},
        },
        headers=tenant.server_headers(),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/v1/campaigns/{r.json()['id']}/transition",
        json={"to": "active"},
        headers=tenant.server_headers(),
    )
    assert r.status_code == 200
    shadow(page, ".banner").filter(has_text="We are on it.").wait_for()


def test_dark_mode_follows_the_system(client: httpx.Client, tenant: Tenant, open_page: Any) -> None:
    launch(client, tenant, {"format": "modal", "title": "Night owl", "body": "Hi."})
    page = open_page(init={"userId": "ana"}, color_scheme="dark")
    card = shadow(page, ".card")
    card.wait_for()
    assert card.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(31, 41, 55)"
    assert (
        shadow(page, ".title").evaluate("el => getComputedStyle(el).color") == "rgb(249, 250, 251)"
    )


def test_identify_merges_the_anonymous_visitor_and_reset_forgets(
    client: httpx.Client, tenant: Tenant, open_page: Any
) -> None:
    page = open_page()
    anonymous = page.evaluate("localStorage.getItem('tidings:anonymous_id')")
    assert anonymous
    page.evaluate("Tidings.identify('bob', {plan: 'pro'})")
    r = client.get("/v1/users", params={"external_id": "bob"}, headers=tenant.server_headers())
    [bob] = r.json()["data"]
    assert anonymous in bob["anonymous_ids"]
    assert bob["attributes"]["plan"] == "pro"
    page.evaluate("Tidings.reset(); Tidings.ready")
    assert page.evaluate("localStorage.getItem('tidings:external_id')") is None
    assert page.evaluate("localStorage.getItem('tidings:anonymous_id')") != anonymous
