"""Live alert fan-out to connected consumers.

The hub only knows queues: a WebSocket handler subscribes one and drains it.  A slow consumer
gets a bounded queue and is disconnected when it overflows rather than slowing every other one;
durable delivery (outbox, resume) is the watchlist/alerts issue's job.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class AlertHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()

    @property
    def consumers(self) -> int:
        return len(self._queues)

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self.queue_size)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._queues.discard(q)

    def publish(self, alert: dict[str, Any]) -> int:
        """Queue ``alert`` for every consumer; returns how many received it."""
        delivered = 0
        for q in list(self._queues):
            try:
                q.put_nowait(alert)
                delivered += 1
            except asyncio.QueueFull:
                log.warning("alert consumer too slow, disconnecting it")
                self._queues.discard(q)
                q.get_nowait()  # make room for the close marker
                q.put_nowait(None)
        return delivered

    def close(self) -> None:
        for q in list(self._queues):
            try:
                q.put_nowait(None)
            except asyncio.QueueFull:
                pass
        self._queues.clear()
