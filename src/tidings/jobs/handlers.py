"""Which handler runs which job kind, and how a handler asks for a retry or gives up.

A handler is `async def handle(ctx: AppContext, job: Claimed) -> None`. Returning means
done. Raising `RetryLater` retries (not before its `retry_after`), `GiveUp` makes the job
dead at once, any other exception retries with backoff. Handlers must be idempotent: a
worker killed after the work but before recording it runs the job again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tidings.context import AppContext
from tidings.jobs.queue import Claimed

Handler = Callable[[AppContext, Claimed], Awaitable[None]]


class RetryLater(Exception):
    """Try again later; `retry_after` seconds (e.g. a provider's Retry-After) is a floor."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class GiveUp(Exception):
    """The job can never succeed (a permanent failure): dead now, with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Registry:
    """Handlers by job kind; a worker claims only the kinds its registry knows."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str) -> Callable[[Handler], Handler]:
        """Decorator: `@registry.register("push.send")`; one handler per kind."""

        def add(handler: Handler) -> Handler:
            if kind in self._handlers and self._handlers[kind] is not handler:
                raise ValueError(f"a handler for job kind {kind!r} is already registered")
            self._handlers[kind] = handler
            return handler

        return add

    def unregister(self, kind: str) -> None:
        """Forget `kind`'s handler; workers stop claiming it on their next turn."""
        self._handlers.pop(kind, None)

    def handler(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))


# The registry `tidings serve` and `tidings worker` run; rooms register their kinds on it.
default_registry = Registry()
