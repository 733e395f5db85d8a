"""The live stream hub (in-process): connected SDKs per app, told when a campaign goes live.

Each connection is a bounded queue; a slow reader loses the oldest notices rather than
holding memory (it re-decides on reconnect anyway). The scale-out issue replaces this
with Redis pub/sub behind the same two calls.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

QUEUE_MAX = 64


class Hub:
    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[int]]] = defaultdict(set)

    def subscribe(self, app_id: int) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(QUEUE_MAX)
        self._subscribers[app_id].add(queue)
        return queue

    def unsubscribe(self, app_id: int, queue: asyncio.Queue[int]) -> None:
        subscribers = self._subscribers.get(app_id)
        if subscribers is not None:
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[app_id]

    def publish(self, app_id: int, campaign_id: int) -> int:
        """Notify every connection of the app; returns how many were told."""
        told = 0
        for queue in list(self._subscribers.get(app_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(campaign_id)
            told += 1
        return told

    def connections(self, app_id: int) -> int:
        return len(self._subscribers.get(app_id, ()))


hub = Hub()
