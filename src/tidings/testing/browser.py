"""How Tidings' browser tests and screenshots start Debian's Chromium (Playwright never
downloads a browser here). The flags keep a headless Chromium off the network it would
otherwise try to reach at start (updates, sync, metrics)."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
