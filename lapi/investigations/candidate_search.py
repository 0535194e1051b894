"""Plate search that also matches what a read may have said: its candidate strings.

A witness's plate, or a partial one, is searched (exact, wildcard ``?``/``*``, lookalike: the same
query language as ``GET /v1/plates``, :func:`lapi.console.search.plan`) against each read's own
string and its candidates (:mod:`lapi.investigations.candidates`).  Each read found says which
string matched and how: ``via`` read or candidate, and a ``score`` to rank by (the read's
confidence, or the candidate's score, times 1 - the lookalike cost).

Candidates differ from their read by lookalike substitutions only, so they fold alike
(:func:`lapi.matching.fold_plate`): exact and lookalike searches narrow the reads by the folded
text first, then look at the strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from lapi.console.search import SearchPlan
from lapi.investigations.retroactive import FOLD_FROM, FOLD_TO
from lapi.matching import fold_plate, weighted_distance
from lapi.store.db import Store
from lapi.store.read_classes import HIT_READ

MAX_ROWS = 20_000  # reads fetched before ranking


def condition(plan: SearchPlan) -> tuple[str, dict[str, Any]]:
    """SQL over ``r`` selecting the reads whose own string or a candidate may match (pure)."""
    fold = f"translate(r.plate_norm, '{FOLD_FROM}', '{FOLD_TO}')"
    if plan.mode == "exact":
        return (f"{fold} = %(folded)s AND (r.plate_norm = %(q)s OR %(q)s = ANY(r.candidates))",
                {"folded": fold_plate(plan.query), "q": plan.query})
    if plan.mode == "wildcard":
        like = plan.query.replace("?", "_").replace("*", "%")
        return ("(r.plate_norm LIKE %(like)s OR EXISTS (SELECT 1 FROM unnest(r.candidates) c WHERE c LIKE %(like)s))",
                {"like": like})
    return f"{fold} = %(folded)s", {"folded": fold_plate(plan.query)}


def best_match(plan: SearchPlan, row: dict[str, Any], max_cost: float) -> dict[str, Any] | None:
    """The read's best matching string: (matched, via, cost, score), or None (pure)."""
    strings = [(row["plate_norm"], "read", float(row["confidence"]))]
    strings += [(c, "candidate", float(s)) for c, s in zip(row["candidates"] or (), row["candidate_scores"] or ())]
    best = None
    limit = max_cost if plan.mode == "lookalike" else 0.0  # exact and wildcard: the string itself must fit
    for text, via, weight in strings:
        cost = weighted_distance(text, plan.query, limit)
        if cost is None:
            continue
        score = round(weight * (1.0 - cost), 4)
        if best is None or score > best["score"]:
            best = {"matched": text, "via": via, "cost": cost, "score": score}
    return best


async def search_candidates(store: Store, plan: SearchPlan, start: datetime, end: datetime, limit: int,
                            hits_only: bool, max_cost: float = 0.8) -> list[dict[str, Any]]:
    """Reads in [start, end) whose string or candidates match, best score first."""
    sql, params = condition(plan)
    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT r.id AS read_id, r.read_at, r.camera_id, r.plate_text, r.plate_norm, r.confidence, r.candidates,"
            f" r.candidate_scores, {HIT_READ} AS hit FROM plate_reads r"
            f" WHERE {sql} AND r.read_at >= %(s)s AND r.read_at < %(e)s AND (NOT %(hits_only)s OR {HIT_READ})"
            " ORDER BY r.read_at DESC LIMIT %(n)s", {**params, "s": start, "e": end, "hits_only": hits_only, "n": MAX_ROWS})
        rows = await cur.fetchall()
    found = []
    for row in rows:
        match = best_match(plan, row, max_cost)
        if match is not None:
            found.append({**{k: v for k, v in row.items() if k != "candidate_scores"}, **match,
                          "candidates": [{"plate_norm": c, "score": s} for c, s in
                                         zip(row["candidates"] or (), row["candidate_scores"] or ())]})
    found.sort(key=lambda r: (-r["score"], -r["read_at"].timestamp()))
    return found[:limit]
