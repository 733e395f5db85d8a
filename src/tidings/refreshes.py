"""Background reloads of stale cache entries, at most one per key at a time.

A cache entry past its TTL keeps answering while one task reads it again: were every
request in flight to reload it itself when the TTL ran out, they would all stall together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
log = logging.getLogger("tidings.refreshes")


class Refreshes(Generic[K]):
    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[None]] = {}

    def start(self, key: K, reload: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `reload()` in the background unless one for `key` is already under way."""
        task = self._tasks.get(key)
        # A task of a loop that has since closed (an embedding app restarted) never ends.
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            return
        self._tasks[key] = asyncio.create_task(self._run(key, reload))

    async def _run(self, key: K, reload: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await reload()
        except Exception:
            # Nothing awaits this task: an error the reload did not handle ends here.
            log.exception("background reload failed", extra={"key": repr(key)})
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
