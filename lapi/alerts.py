"""Alerts: what a hit says to the outside, which consumers want it, and live fan-out.

A hit's alert is built once, in the transaction that stores the hit, and kept in the outbox
(``alert_outbox``); its outbox id is the ``alert_id`` every consumer sees, so one alert reaching a
consumer twice (a retry, a resume) can be recognised.  :class:`AlertFilter` is the one filter
live feeds, webhooks and MQTT apply.  The hub only knows queues: a feed handler subscribes one
and drains it; a slow consumer gets a bounded queue and is disconnected when it overflows
rather than slowing every other one (it can resume from its last alert id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lapi.cameras import Camera
from lapi.matching import Match

log = logging.getLogger(__name__)


def hit_alert_payload(camera: Camera, hit_id: int, read_id: int, read_at: datetime, read: Any,
                      match: Match) -> dict[str, Any]:
    """The alert of one hit (without its ``alert_id``, which the outbox gives)."""
    entry = match.entry
    return {
        "type": "hit", "hit_id": hit_id, "read_id": read_id, "read_at": read_at.isoformat(),
        "camera_id": camera.id, "camera_name": camera.name, "lat": camera.lat, "lon": camera.lon,
        "plate": read.text, "plate_norm": read.plate_norm, "country": read.country,
        "plate_format": read.format_name, "confidence": round(float(read.confidence), 4),
        "match_type": match.match_type, "cost": match.cost, "list": entry.list_name, "entry_id": entry.id,
        "pattern": entry.plate_norm, "category": entry.category, "reason": entry.reason,
        "priority": entry.priority, "crop_url": f"/v1/reads/{read_id}/crop",
    }


def _names(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(v for v in (values or ()) if v)


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts a consumer wants: empty sets mean "any"."""

    lists: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    cameras: frozenset[str] = frozenset()
    min_priority: int = 1

    @classmethod
    def of(cls, lists: Iterable[str] | None = None, categories: Iterable[str] | None = None,
           cameras: Iterable[str] | None = None, min_priority: int = 1) -> AlertFilter:
        return cls(_names(lists), _names(categories), _names(cameras), min_priority)

    @property
    def is_open(self) -> bool:
        return not (self.lists or self.categories or self.cameras) and self.min_priority <= 1

    def accepts(self, alert: Mapping[str, Any]) -> bool:
        """A hit alert passing every set criterion; other alerts (beacon silence...) only when open."""
        if alert.get("type") != "hit":
            return self.is_open
        return ((not self.lists or alert.get("list") in self.lists)
                and (not self.categories or alert.get("category") in self.categories)
                and (not self.cameras or alert.get("camera_id") in self.cameras)
                and int(alert.get("priority") or 1) >= self.min_priority)


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
