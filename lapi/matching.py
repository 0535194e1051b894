"""Watchlist matching: which entries a read hits, and how.

Pure code: the store loads candidate entries, this decides.  The foundation matches exactly on the
normalised plate; confusion-tolerant and wildcard matching extend :func:`match_read`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatchEntry:
    id: int
    list_name: str
    plate_norm: str
    plate_text: str
    category: str
    reason: str
    priority: int


@dataclass(frozen=True)
class Match:
    entry: WatchEntry
    match_type: str  # "exact" for now
    cost: float


def match_read(plate_norm: str, entries: list[WatchEntry]) -> list[Match]:
    """Entries hit by one read, highest priority first."""
    hits = [Match(e, "exact", 0.0) for e in entries if e.plate_norm == plate_norm]
    return sorted(hits, key=lambda m: (-m.entry.priority, m.entry.id))
