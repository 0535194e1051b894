"""Stakeout: the vehicles seen at all (or at least ``m``) of several places, each in its own window.

One statement: per place, the reads of its cameras over its window (the (camera, time) index),
aggregated per plate; then the plates found at ``m`` places or more, with when and how often at
each.  Without a procedure reference only hit reads are counted (lapi/api/gating.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lapi.investigations.places import Place
from lapi.store.db import Store
from lapi.store.read_classes import HIT_READ

MAX_RESULTS = 10_000


@dataclass(frozen=True)
class StakeoutQuery:
    places: list[Place]
    cameras: list[tuple[str, ...]]  # per place, the cameras in it
    min_places: int
    limit: int = 1000
    hits_only: bool = False

    def sql(self) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"m": self.min_places, "limit": self.limit}
        branches = []
        extra = f" AND {HIT_READ}" if self.hits_only else ""
        for k, (place, cams) in enumerate(zip(self.places, self.cameras)):
            if not cams:
                continue
            params.update({f"c{k}": list(cams), f"s{k}": place.start, f"e{k}": place.end})
            branches.append(
                f"SELECT {k} AS k, r.plate_norm, count(*) AS n, min(r.read_at) AS first, max(r.read_at) AS last"
                f" FROM plate_reads r WHERE r.camera_id = ANY(%(c{k})s) AND r.read_at >= %(s{k})s"
                f" AND r.read_at < %(e{k})s{extra} GROUP BY r.plate_norm")
        if not branches:
            branches.append("SELECT 0 AS k, ''::text AS plate_norm, 0::bigint AS n, now() AS first, now() AS last"
                            " WHERE false")
        # the plates at m places or more first (a hash aggregate over the per-place rows), then their
        # per-place rows: aggregating every plate's details would sort tens of thousands of groups
        sql = (f"WITH p AS MATERIALIZED ({' UNION ALL '.join(branches)}),"
               " c AS (SELECT plate_norm, count(*) AS places, sum(n) AS reads FROM p GROUP BY plate_norm"
               "  HAVING count(*) >= %(m)s ORDER BY count(*) DESC, sum(n) DESC, plate_norm LIMIT %(limit)s)"
               " SELECT p.plate_norm, p.k, p.n, p.first, p.last FROM p JOIN c USING (plate_norm)"
               " ORDER BY c.places DESC, c.reads DESC, p.plate_norm, p.k")
        return sql, params


async def stakeout(store: Store, query: StakeoutQuery) -> list[dict[str, Any]]:
    """Vehicles at ``min_places`` places or more, most places first: per place its reads, first and
    last sighting."""
    sql, params = query.sql()
    async with store.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        rows = await cur.fetchall()
    names = [p.name for p in query.places]
    vehicles: dict[str, list[dict[str, Any]]] = {}
    for plate, k, n, first, last in rows:
        vehicles.setdefault(plate, []).append({"place": names[k], "reads": n, "first_seen": first, "last_seen": last})
    return [{"plate_norm": plate, "places_seen": len(seen), "places": seen} for plate, seen in vehicles.items()]
