"""Retention by design, the pure part: how long each class of read is kept, and what a day
partition's fate is.

Two classes (Code de la sécurité intérieure L233-2): reads that matched no watchlist, kept at most
15 days; reads that produced a hit, kept one month (30 days here).  A read attached to a procedure
(a hold with its own expiry) is kept while the hold is in force, whatever its class.  A read's crop
is a column of its row, so it goes with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

LEGAL_MAX_NON_HIT = timedelta(days=15)  # CSI L233-2
LEGAL_MAX_HIT = timedelta(days=31)      # "one month"
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(key: str, value: object) -> timedelta:
    """``"15d"``, ``"36h"``, ``"30m"``, ``"45s"`` (or an integer number of seconds) -> timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"{key}: must be a duration like \"15d\", \"12h\" or \"30m\", got {value!r}")
    if isinstance(value, int):
        return timedelta(seconds=value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{key}: must be a duration like \"15d\", \"12h\" or \"30m\", got {value!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def describe(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class RetentionRules:
    non_hit: timedelta = LEGAL_MAX_NON_HIT
    hit: timedelta = timedelta(days=30)

    def cutoffs(self, now: datetime) -> tuple[datetime, datetime]:
        """(non-hit cutoff, hit cutoff): a read of that class older than its cutoff is expired."""
        return now - self.non_hit, now - self.hit

    def oldest_storable(self, now: datetime) -> datetime:
        """Reads captured before this would be expired on arrival, whatever their class."""
        return now - max(self.non_hit, self.hit)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def day_fate(day: date, rules: RetentionRules, now: datetime) -> str:
    """What the job does with one UTC day of reads: ``"keep"`` (nothing in it can be expired yet),
    ``"drop"`` (every read of every class is past its cutoff: the partition goes whole, unless a
    hold or a row says otherwise at run time) or ``"edge"`` (some classes are expired: delete rows)."""
    start, end = day_bounds(day)
    non_hit_cut, hit_cut = rules.cutoffs(now)
    if end <= min(non_hit_cut, hit_cut):
        return "drop"
    if start < max(non_hit_cut, hit_cut):
        return "edge"
    return "keep"


MAX_PROCEDURE = 200


def parse_procedure(value: object, key: str = "procedure") -> str:
    """A procedure reference (PV number, case number...): 1-200 printable characters, trimmed."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PROCEDURE or not value.isprintable():
        raise ValueError(f"{key}: a procedure reference of 1-{MAX_PROCEDURE} printable characters "
                         "(e.g. the PV or case number)")
    return value.strip()
