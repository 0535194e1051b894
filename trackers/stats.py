"""Ingest counters per protocol: accepted, duplicates, rejections per reason, decode errors.

Every refused fix or packet increments a counter here (and is logged with its beacon id by the
caller), so a rejection is never silent.  Served at ``GET /v1/trackers/stats``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class TrackerStats:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.packets: Counter[str] = Counter()
        self.connections: Counter[str] = Counter()
        self.rejected: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.decode_errors: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def reject(self, protocol: str, reason: str, n: int = 1) -> None:
        self.rejected[protocol][reason] += n

    def decode_error(self, protocol: str, reason: str) -> None:
        self.decode_errors[protocol][reason] += 1

    def totals(self) -> dict[str, int]:
        return {"accepted": sum(self.accepted.values()), "duplicates": sum(self.duplicates.values()),
                "rejected": sum(sum(c.values()) for c in self.rejected.values()),
                "decode_errors": sum(sum(c.values()) for c in self.decode_errors.values())}

    def snapshot(self) -> dict[str, Any]:
        protocols = set(self.accepted) | set(self.duplicates) | set(self.packets) | set(self.connections) \
            | set(self.rejected) | set(self.decode_errors)
        return {"totals": self.totals(), "protocols": {p: {
            "connections": self.connections[p], "packets": self.packets[p], "accepted": self.accepted[p],
            "duplicates": self.duplicates[p], "rejected": dict(self.rejected[p]),
            "decode_errors": dict(self.decode_errors[p])} for p in sorted(protocols)}}
