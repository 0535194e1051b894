"""Retroactive hits: a watchlist entry added now is checked against the reads already stored.

An analyst who lists a plate today wants to know where it was seen yesterday.  The entry is
matched, with its list's threshold and the same rules as live reads (:mod:`lapi.matching`),
against the reads of the last ``investigations.retroactive_days`` (within retention) that fall in
the entry's validity; every read it hits gets an ordinary hit, marked ``retroactive``, with its
outbox alert (``"retroactive": true``), so consumers are told like for any other hit.

Two steps keep it cheap on a large table: SQL narrows the window's distinct plates to those
that can match (same lookalike fold and length for a lookalike-only list, the folded regex for a
pattern), then the entry's own one-entry index prices them exactly.  Untracked reads get hits on
the read; reads of tracked cameras are matched through their pass (its voted plate), as live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from lapi.alerts import hit_alert_payload
from lapi.cameras import Camera
from lapi.console.search import lookalike_variants
from lapi.matching import COST_UNIT, PLATE_ALPHABET, Match, WatchEntry, WatchlistIndex, compile_pattern, fold_plate
from lapi.store.db import Store, alert_message
from lapi.store.frames import ALERT_LOCK
from lapi.store.watchlists import index_entry

FOLD_FROM, FOLD_TO = PLATE_ALPHABET, fold_plate(PLATE_ALPHABET)  # the lookalike fold as SQL translate()


@dataclass(frozen=True)
class PlateFilter:
    """SQL condition on ``plate_norm`` that every plate the entry can hit satisfies."""

    sql: str
    params: dict[str, Any]


def plate_filter(pattern: str, max_cost: float) -> PlateFilter:
    """A necessary condition for a plate to be within ``max_cost`` of ``pattern`` (pure).

    Below one real edit, a hit differs from the entry by lookalike substitutions only: for a plain
    plate those variants are few and looked up by the plate index; a pattern's hits fold alike, so
    they match its folded regex.  With edits allowed, only the length is bounded (the exact pricing
    does the rest).
    """
    pat = compile_pattern(pattern)
    fold = f"translate(plate_norm, '{FOLD_FROM}', '{FOLD_TO}')"
    edits = int(round(max_cost * COST_UNIT)) // COST_UNIT
    if edits == 0:
        if not pat.wildcard:
            variants = lookalike_variants(pat.text, max_cost)
            if variants is not None:
                return PlateFilter("plate_norm = ANY(%(variants)s)", {"variants": variants})
            return PlateFilter(f"{fold} = %(folded)s", {"folded": fold_plate(pat.text)})
        return PlateFilter(f"{fold} ~ %(fold_re)s", {"fold_re": f"^(?:{pat.fold_re.pattern})$"})
    low = max(pat.width - edits, 1)
    if pat.has_star:
        return PlateFilter("length(plate_norm) >= %(low)s", {"low": low})
    return PlateFilter("length(plate_norm) BETWEEN %(low)s AND %(high)s", {"low": low, "high": pat.width + edits})


def plates_hit(entry: WatchEntry, max_cost: float, plates: Iterable[str]) -> dict[str, Match]:
    """Which of ``plates`` the entry hits, and how (pure: the live matcher on a one-entry index)."""
    index = WatchlistIndex([entry], thresholds={entry.list_name: max_cost}, default_max_cost=max_cost,
                           max_edits=max(1, int(max_cost)))
    found = {}
    for plate in plates:
        matches = index.match(plate)
        if matches:
            found[plate] = matches[0]
    return found


@dataclass(frozen=True)
class _Seen:
    """A stored read (or a pass's vote) as :func:`hit_alert_payload` reads it."""

    text: str
    plate_norm: str
    country: str | None
    format_name: str | None
    confidence: float


_READS = (
    "SELECT r.id AS read_id, r.read_at, r.plate_text, r.plate_norm, r.country, r.plate_format, r.confidence,"
    " NULL::bigint AS pass_id, c.id AS camera_id, c.name, c.lat, c.lon, c.heading, c.road"
    " FROM plate_reads r JOIN cameras c ON c.id = r.camera_id"
    " WHERE r.plate_norm = ANY(%(plates)s) AND r.read_at >= %(s)s AND r.read_at < %(e)s AND r.pass_id IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.read_id = r.id AND h.read_at = r.read_at AND h.entry_id = %(entry)s)"
    " ORDER BY r.read_at LIMIT %(limit)s")
_PASSES = (
    "SELECT p.best_read_id AS read_id, p.best_read_at AS read_at, p.plate_text, p.plate_norm, p.country,"
    " p.plate_format, p.confidence, p.id AS pass_id, c.id AS camera_id, c.name, c.lat, c.lon, c.heading, c.road"
    " FROM passes p JOIN cameras c ON c.id = p.camera_id"
    " WHERE p.plate_norm = ANY(%(plates)s) AND p.first_seen >= %(s)s AND p.first_seen < %(e)s"
    " AND p.best_read_id IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.pass_id = p.id AND h.entry_id = %(entry)s)"
    " ORDER BY p.first_seen LIMIT %(limit)s")
_INSERT_HIT = (
    "INSERT INTO hits (read_id, read_at, camera_id, plate_norm, entry_id, list_name, match_type, cost,"
    " read_confidence, pattern, category, priority, pass_id, retroactive)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)"
    " ON CONFLICT DO NOTHING RETURNING id")
_INSERT_ALERT = ("INSERT INTO alert_outbox (hit_id, list_name, category, camera_id, priority, payload)"
                 " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id")


def window(entry_row: Mapping[str, Any], since: datetime, until: datetime) -> tuple[datetime, datetime] | None:
    """The part of [since, until) in which the entry is in force (None when empty)."""
    start = max(since, entry_row["valid_from"] or since)
    end = min(until, entry_row["valid_until"] or until)
    return (start, end) if start < end else None


async def candidate_plates(store: Store, flt: PlateFilter, start: datetime, end: datetime) -> list[str]:
    """Distinct plates read (or voted for a pass) in [start, end) that pass the filter."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT plate_norm FROM plate_reads WHERE read_at >= %(s)s AND read_at < %(e)s AND pass_id IS NULL"
            f" AND {flt.sql} UNION SELECT plate_norm FROM passes WHERE first_seen >= %(s)s AND first_seen < %(e)s"
            f" AND {flt.sql}", {**flt.params, "s": start, "e": end})
        return [row[0] for row in await cur.fetchall()]


async def check_entry(store: Store, entry_id: int, since: datetime, until: datetime,
                      max_hits: int = 10_000) -> list[dict[str, Any]]:
    """Hit the reads of [since, until) that entry ``entry_id`` matches and that have no hit from it
    yet; returns the alerts committed (as consumers receive them), oldest read first."""
    entry_row = await store.watchlists.get_entry(entry_id)
    span = window(entry_row, since, until)
    if span is None:
        return []
    entry = index_entry(entry_row)
    max_cost = store.watchlists.index.threshold(entry.list_name)
    plates = await candidate_plates(store, plate_filter(entry.plate_norm, max_cost), *span)
    matched = plates_hit(entry, max_cost, plates)
    if not matched:
        return []
    params = {"plates": sorted(matched), "s": span[0], "e": span[1], "entry": entry.id, "limit": max_hits}
    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_READS, params)
        seen = await cur.fetchall()
        await cur.execute(_PASSES, params)
        seen += await cur.fetchall()
    seen.sort(key=lambda row: row["read_at"])
    return await _commit_hits(store, entry, seen[:max_hits], matched)


async def _commit_hits(store: Store, entry: WatchEntry, seen: list[dict[str, Any]],
                       matched: Mapping[str, Match]) -> list[dict[str, Any]]:
    """The hits and their outbox alerts in one transaction, under the outbox lock (alert ids commit
    in increasing order, see :mod:`lapi.store.frames`)."""
    alerts = []
    async with store.pool.connection() as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s), pg_notify('lapi_alerts', %s)",
                               (ALERT_LOCK, store.notify_token))
            for row in seen:
                m = matched[row["plate_norm"]]
                cur = await conn.execute(_INSERT_HIT, (
                    row["read_id"], row["read_at"], row["camera_id"], row["plate_norm"], entry.id, entry.list_name,
                    m.match_type, m.cost, row["confidence"], entry.plate_norm, entry.category, entry.priority,
                    row["pass_id"]))
                hit = await cur.fetchone()
                if hit is None:  # another check got there first
                    continue
                camera = Camera(row["camera_id"], row["name"], row["lat"], row["lon"], row["heading"], row["road"])
                read = _Seen(row["plate_text"], row["plate_norm"], row["country"], row["plate_format"],
                             row["confidence"])
                payload = {**hit_alert_payload(camera, hit[0], row["read_id"], row["read_at"], read, m),
                           "retroactive": True}
                if row["pass_id"] is not None:
                    payload["pass_id"] = row["pass_id"]
                cur = await conn.execute(_INSERT_ALERT, (hit[0], entry.list_name, entry.category, row["camera_id"],
                                                         entry.priority, Jsonb(payload)))
                alerts.append(alert_message((await cur.fetchone())[0], payload))
    if alerts:
        store._alerts_committed(alerts)
    return alerts
