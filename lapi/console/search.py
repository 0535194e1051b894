"""Plate search over stored reads: exact, wildcard (``?`` one character, ``*`` any run) or lookalike.

An analyst often has part of a plate or a doubtful reading.  The database narrows the candidates
(an index lookup for exact; ``LIKE`` for a pattern; for lookalikes, an index lookup of every plate
within ``max_cost`` by lookalike substitutions, :func:`lookalike_variants`, or when there are too many,
the plates whose characters fold to the same lookalike classes, :func:`lapi.matching.fold_plate`),
then the watchlist's own weighted edit distance decides and prices each candidate, so a search and a
hit agree on what "looks like" means.  Without a procedure only hit reads count: the query then starts
from the hits in the window, a small table beside the reads.  :func:`plan` is pure;
:func:`search_plates` runs the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from lapi.matching import COST_UNIT, PLATE_ALPHABET, fold_plate, normalise_pattern, substitution_cost, weighted_distance
from lapi.store.read_classes import HIT_READ

MODES = ("exact", "wildcard", "lookalike")
MAX_CANDIDATES = 5000  # lookalike candidates priced in Python; more would mean a too-loose query
MAX_VARIANTS = 5000    # lookalike plates looked up by index; beyond, the folded-class scan
_LOOKALIKES = {a: [(b, round(substitution_cost(a, b) * COST_UNIT)) for b in PLATE_ALPHABET
                   if 0 < substitution_cost(a, b) < 1] for a in PLATE_ALPHABET}


@dataclass(frozen=True)
class SearchPlan:
    """What to ask the database for one search."""

    mode: str
    query: str       # the normalised plate or pattern
    condition: str   # SQL over ``r`` (plate_reads) with one %s placeholder
    argument: str | list[str]


def lookalike_variants(plate: str, max_cost: float, most: int = MAX_VARIANTS) -> list[str] | None:
    """Every plate that ``plate`` becomes by lookalike substitutions costing at most ``max_cost`` in
    all (itself included); None when there are more than ``most``."""
    budget = round(max_cost * COST_UNIT)
    out: list[str] = []

    def walk(i: int, prefix: str, left: int) -> bool:
        if i == len(plate):
            out.append(prefix)
            return len(out) <= most
        if not walk(i + 1, prefix + plate[i], left):
            return False
        return all(walk(i + 1, prefix + b, left - cost) for b, cost in _LOOKALIKES.get(plate[i], ()) if cost <= left)

    return out if walk(0, "", budget) else None


def plan(text: str, mode: str | None, max_cost: float = 0.8, most_variants: int = MAX_VARIANTS) -> SearchPlan:
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
    variants = lookalike_variants(query, max_cost, most_variants)
    if variants is not None:
        return SearchPlan(mode, query, "r.plate_norm = ANY(%s)", variants)
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
    columns = ("SELECT r.plate_norm, count(*) AS reads, count(DISTINCT r.camera_id) AS cameras,"
               " min(r.read_at) AS first_seen, max(r.read_at) AS last_seen, {hit} AS hit")
    tail = " GROUP BY r.plate_norm ORDER BY max(r.read_at) DESC LIMIT %(limit)s"
    where = f"{plan_.condition.replace('%s', '%(arg)s')} AND r.read_at >= %(start)s AND r.read_at < %(end)s"
    if hits_only:  # the reads of the window's hits (theirs, or their pass's frame reads): see read_classes
        query = (columns.format(hit="true") + " FROM plate_reads r WHERE (r.id, r.read_at) IN ("
                 "SELECT h.read_id, h.read_at FROM hits h WHERE h.read_at >= %(start)s AND h.read_at < %(end)s"
                 " UNION SELECT p.id, p.read_at FROM hits h JOIN plate_reads p ON p.pass_id = h.pass_id"
                 " WHERE h.pass_id IS NOT NULL AND p.read_at >= %(start)s AND p.read_at < %(end)s)"
                 f" AND {where}" + tail)
    else:
        query = columns.format(hit=f"bool_or({HIT_READ})") + f" FROM plate_reads r WHERE {where}" + tail
    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query, {"arg": plan_.argument, "start": start, "end": end, "limit": fetch})
        rows = await cur.fetchall()
    return price(plan_, rows, max_cost)[:limit]
