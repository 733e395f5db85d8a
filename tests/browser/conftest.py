"""Browser fixtures: Debian's Chromium via Playwright, a host app on its own loopback origin.

The host page is served by a tiny static server on another port than Tidings, so every SDK
call is cross-origin, as in production. Browser tests run on SQLite only (the SDK's
behaviour does not depend on the store; the client API is covered on both backends).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant, require_service

from tidings.db import table_of
from tidings.deliveries.models import Delivery
from tidings.testing.browser import CHROMIUM, CHROMIUM_ARGS
from tidings.testing.live import LiveServer

HERE = Path(__file__).parent
deliveries = table_of(Delivery)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run against SQLite only."""
    keep, drop = [], []
    for item in items:
        in_browser = Path(str(item.fspath)).is_relative_to(HERE)
        params = getattr(getattr(item, "callspec", None), "params", {})
        (drop if in_browser and params.get("backend") == "postgresql" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="module")
def chromium(live: LiveServer) -> Iterator[Any]:
    # After `live`: its migrations use asyncio.run, which cannot run inside Playwright's loop.
    # Per module, not per session: while Playwright's sync API is open, no later test in
    # this thread could use asyncio.run.
    if not Path(CHROMIUM).exists():
        require_service(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("Playwright for Python is not installed (pip install playwright)")
        raise
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class HostSite:
    """The host app: pages by path (any unknown path serves `/`, like an SPA)."""

    url: str = ""
    pages: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path → (type, body)


@pytest.fixture(scope="session")
def host_site() -> Iterator[HostSite]:
    site = HostSite()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            kind, body = site.files.get(
                path,
                (
                    "text/html; charset=utf-8",
                    site.pages.get(path, site.pages.get("/", "")).encode(),
                ),
            )
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()
    thread.join(10)


def host_page(
    live: LiveServer,
    tenant: Tenant,
    *,
    body: str = "",
    css: str = "",
    init: dict[str, Any] | None = None,
    lang: str = "en",
) -> str:
    options = {"appKey": tenant.write_key, "host": live.url, "live": False, **(init or {})}
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Acme</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:Georgia,serif;margin:0;padding:24px;background:#f8fafc}}{css}</style>
</head><body>{body}
<script src="{live.url}/sdk/tidings.js"></script>
<script>
window.seen = [];
Tidings.on("*", function (e) {{ window.seen.push(e); }});
Tidings.init({json.dumps(options)});
</script></body></html>"""


@pytest.fixture
def open_page(
    chromium: Any, host_site: HostSite, live: LiveServer, tenant: Tenant
) -> Iterator[Callable[..., Any]]:
    """open_page(body=, css=, init=, path=, viewport=) → a Playwright page with the SDK running."""
    contexts: list[Any] = []

    def _open(
        path: str = "/",
        viewport: dict[str, int] | None = None,
        color_scheme: str = "light",
        reduced_motion: str = "reduce",
        **kw: Any,
    ) -> Any:
        site_path = path.split("?")[0]
        host_site.pages[site_path] = host_page(live, tenant, **kw)
        if site_path != "/":
            host_site.pages.setdefault("/", host_site.pages[site_path])
        ctx = chromium.new_context(
            viewport=viewport or {"width": 1100, "height": 760},
            color_scheme=color_scheme,
            reduced_motion=reduced_motion,
            device_scale_factor=1,
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(host_site.url + path)
        page.wait_for_function("window.Tidings && window.Tidings.ready")
        page.evaluate("Tidings.ready")
        return page

    yield _open
    for ctx in contexts:
        ctx.close()


def launch(client: httpx.Client, tenant: Tenant, content: dict[str, Any], **extra: Any) -> int:
    """Create and activate a campaign (server key); `content`: one message or locale → message."""
    if "format" in content:
        content = {"en": content}
    body = {
        "name": extra.pop("name", "c"),
        "variants": [{"key": "a", "content": content}],
        **extra,
    }
    r = client.post("/v1/campaigns", json=body, headers=tenant.server_headers())
    assert r.status_code == 201, r.text
    cid: int = r.json()["id"]
    r = client.post(
        f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=tenant.server_headers()
    )
    assert r.status_code == 200, r.text
    return cid


def delivery(
    sql: sa.Engine, campaign_id: int, until: Callable[[Any], bool], wait: float = 20
) -> Any:
    """The campaign's delivery row once `until(row)` holds (the SDK sends in the background)."""
    deadline = time.monotonic() + wait
    row = None
    while time.monotonic() < deadline:
        with sql.connect() as c:
            row = c.execute(
                sa.select(deliveries).where(deliveries.c.campaign_id == campaign_id)
            ).first()
        if row is not None and until(row):
            return row
        time.sleep(0.1)
    raise AssertionError(f"delivery of campaign {campaign_id} never matched; last: {row}")


def shadow(page: Any, selector: str) -> Any:
    """A locator inside the SDK's (open) shadow root; Playwright pierces it."""
    return page.locator(f"tidings-root {selector}")
