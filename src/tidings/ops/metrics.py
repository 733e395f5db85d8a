"""Prometheus metrics: request counts and latencies by route template, events ingested.

Everything is registered in `REGISTRY`, this module's own registry (not the client's
global one), so several app instances in one process never collide; `/metrics` serves it.
Routes are labelled with their template (`/v1/users/{user_id}`), never the raw path, and
unknown methods collapse to `other`, so label cardinality stays bounded.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_ACCEPTED = Counter("tidings_events_accepted_total", "Events stored", registry=REGISTRY)
EVENTS_DUPLICATE = Counter(
    "tidings_events_duplicate_total", "Events skipped as retries", registry=REGISTRY
)
EVENTS_REJECTED = Counter(
    "tidings_events_rejected_total", "Events refused", ["reason"], registry=REGISTRY
)
HTTP_REQUESTS = Counter(
    "tidings_http_requests_total",
    "HTTP requests answered",
    ["method", "route", "status"],
    registry=REGISTRY,
)
INGEST_COMMIT_SECONDS = Histogram(
    "tidings_ingest_commit_seconds",
    "Time one ingestion group commit held the database writer",
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
INGEST_COMMIT_BATCHES = Histogram(
    "tidings_ingest_commit_batches",
    "Track requests sharing one group commit",
    registry=REGISTRY,
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
HTTP_DURATION = Histogram(
    "tidings_http_request_duration_seconds",
    "Time from receiving a request to finishing its response",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

UNMATCHED = "<unmatched>"
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_log = logging.getLogger("tidings.access")


def route_template(scope: Scope) -> str:
    """The matched route's template, or `<unmatched>` (404s must not mint new labels)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class MetricsMiddleware:
    """Counts and times every HTTP request, and writes one access-log line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Label lookups take a lock inside prometheus-client; cache the children.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        # Created here so what the app stores on request.state (the caller) is seen below.
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - start
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = route_template(scope)
            self._observe(method, route, status, elapsed)
            level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
            if access_log.isEnabledFor(level):
                caller = state.get("caller")
                access_log.log(
                    level,
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "app_id": getattr(caller, "app_id", None),
                    },
                )

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        timer = self._timers.get((method, route))
        if timer is None:
            timer = HTTP_DURATION.labels(method, route)
            self._timers[(method, route)] = timer
        timer.observe(elapsed)
