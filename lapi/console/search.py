"""Plate search over stored reads: exact, wildcard (``?`` one character, ``*`` any run) or lookalike.

An analyst often has part of a plate or a doubtful reading.  The database narrows the candidates
(an index lookup for exact; ``LIKE`` for a pattern; for lookalikes, plates whose characters fold to
the same lookalike classes, :func:`lapi.matching.fold_plate`), then the watchlist's own weighted
edit distance decides and prices each candidate, so a search and a hit agree on what "looks like"
means.  :func:`plan` is pure; :func:`search_plates` runs the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from lapi.matching import PLATE_ALPHABET, fold_plate, normalise_pattern, weighted_distance
from lapi.store.read_classes import HIT_READ

MODES = ("exact", "wildcard", "lookalike")
MAX_CANDIDATES = 5000  # lookalike candidates priced in Python; more would mean a too-loose query


@dataclass(frozen=True)
class SearchPlan:
    """What to ask the database for one search."""

    mode: str
    query: str       # the normalised plate or pattern
    condition: str   # SQL over ``r`` (plate_reads) with one %s placeholder
    argument: str


def plan(text: str, mode: str | None) -> SearchPlan:
    """The search ``text`` asks for; ``mode`` None: wildcard when it has ``?`` or ``*``, else exact.
    Raises ValueError naming what to fix."""
    query = normalise_pattern(text)
    wild = "?" in query or "*" in query
    mode = mode or ("wildcard" if wild else "exact")
    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    if wild and mode != "wildcard":
        raise ValueError(f"q: {text!r} has wildcards ('?', '*'): use mode=wildcard")
    if mode == "exact":
        return SearchPlan(mode, query, "r.plate_norm = %s", query)
    if mode == "wildcard":
        if not wild:
            raise ValueError(f"q: {text!r} has no wildcard: use '?' for one character, '*' for any run")
        return SearchPlan(mode, query, "r.plate_norm LIKE %s", query.replace("?", "_").replace("*", "%"))
    folded_alphabet = fold_plate(PLATE_ALPHABET)
    return SearchPlan(mode, query, f"translate(r.plate_norm, '{PLATE_ALPHABET}', '{folded_alphabet}') = %s",
                      fold_plate(query))


def price(plan_: SearchPlan, rows: list[dict[str, Any]], max_cost: float) -> list[dict[str, Any]]:
    """Each candidate with its ``cost`` (weighted edit distance to the query; 0 for exact and
    wildcard), lookalikes over ``max_cost`` dropped, cheapest then most recently seen first."""
    if plan_.mode != "lookalike":
        return [{**r, "cost": 0.0} for r in rows]
    out = []
    for r in rows:
        cost = weighted_distance(r["plate_norm"], plan_.query, max_cost)
        if cost is not None:
            out.append({**r, "cost": cost})
    out.sort(key=lambda r: (r["cost"], -r["last_seen"].timestamp()))
    return out


async def search_plates(store: Any, plan_: SearchPlan, start: datetime, end: datetime, limit: int,
                        hits_only: bool, max_cost: float = 0.8) -> list[dict[str, Any]]:
    """Distinct plates read between ``start`` and ``end`` that the plan matches, with their read
    count, cameras, first and last time and whether any read is a hit read; ``hits_only`` (no
    procedure given): only hit reads are counted and shown."""
    fetch = MAX_CANDIDATES if plan_.mode == "lookalike" else limit
    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT r.plate_norm, count(*) AS reads, count(DISTINCT r.camera_id) AS cameras,"
            f" min(r.read_at) AS first_seen, max(r.read_at) AS last_seen, bool_or({HIT_READ}) AS hit"
            f" FROM plate_reads r WHERE {plan_.condition} AND r.read_at >= %s AND r.read_at < %s"
            f" AND (NOT %s OR {HIT_READ})"
            " GROUP BY r.plate_norm ORDER BY max(r.read_at) DESC LIMIT %s",
            (plan_.argument, start, end, hits_only, fetch))
        rows = await cur.fetchall()
    return price(plan_, rows, max_cost)[:limit]
