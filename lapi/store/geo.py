"""Geo queries on the store: convoy candidates, the beacons worth watching, bulk sightings.

The convoy query leans on ``plate_reads_camera_time`` (camera, time): for each of the target's
passages it reads only that camera's few minutes around it, whatever the table's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from geo.convoys import CoSighting, ConvoyRules, TargetPassage
from lapi.store.db import Store

MAX_TARGET_PASSAGES = 500


@dataclass(frozen=True)
class ConvoyData:
    passages: list[TargetPassage]
    co_sightings: list[CoSighting]
    population: int                # distinct plates at the target's cameras over its passages (± rate window)
    truncated: bool                # the target had more passages than MAX_TARGET_PASSAGES in the window


_PASSAGES = (
    "SELECT t.camera_id, t.read_at,"
    " (SELECT count(*) FROM plate_reads r WHERE r.camera_id = t.camera_id"
    "   AND r.read_at >= t.read_at - %(w)s AND r.read_at <= t.read_at + %(w)s) AS around"
    " FROM plate_reads t WHERE t.plate_norm = %(p)s AND t.read_at >= %(s)s AND t.read_at < %(e)s"
    " ORDER BY t.read_at LIMIT %(m)s")

_CO_SIGHTINGS = (
    "WITH t AS (SELECT camera_id, read_at FROM plate_reads WHERE plate_norm = %(p)s"
    "   AND read_at >= %(s)s AND read_at < %(e)s ORDER BY read_at LIMIT %(m)s),"
    " co AS (SELECT r.plate_norm, t.camera_id, t.read_at AS target_at, r.read_at FROM t"
    "   JOIN plate_reads r ON r.camera_id = t.camera_id"
    "   AND r.read_at >= t.read_at - %(dt)s AND r.read_at <= t.read_at + %(dt)s"
    "   WHERE r.plate_norm <> %(p)s),"
    " cand AS (SELECT plate_norm FROM co GROUP BY plate_norm HAVING count(DISTINCT camera_id) >= %(k)s)"
    " SELECT plate_norm, camera_id, target_at, read_at FROM co WHERE plate_norm IN (SELECT plate_norm FROM cand)")

_POPULATION = (
    "SELECT count(DISTINCT plate_norm) FROM plate_reads"
    " WHERE camera_id = ANY(%(cams)s) AND read_at >= %(s)s AND read_at <= %(e)s")


class GeoStore:
    """Geo reads of one :class:`~lapi.store.db.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def convoy_data(self, plate_norm: str, start: datetime, end: datetime, rules: ConvoyRules) -> ConvoyData:
        """The target's passages with their cameras' traffic, the vehicles near it at >= k cameras, and N."""
        params = {"p": plate_norm, "s": start, "e": end, "m": MAX_TARGET_PASSAGES + 1, "w": rules.rate_window,
                  "dt": rules.dt, "k": rules.k}
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(_PASSAGES, params)
            passages = [TargetPassage(c, t, n) for c, t, n in await cur.fetchall()]
            truncated = len(passages) > MAX_TARGET_PASSAGES
            passages = passages[:MAX_TARGET_PASSAGES]
            if not passages:
                return ConvoyData([], [], 0, False)
            params["m"] = MAX_TARGET_PASSAGES
            cur = await conn.execute(_CO_SIGHTINGS, params)
            co = [CoSighting(p, c, tt, t) for p, c, tt, t in await cur.fetchall()]
            cur = await conn.execute(_POPULATION, {
                "cams": sorted({p.camera_id for p in passages}),
                "s": passages[0].time - rules.rate_window, "e": passages[-1].time + rules.rate_window})
            population = (await cur.fetchone())[0]
        return ConvoyData(passages, co, population, truncated)

    async def beacon_vehicles(self, now: datetime) -> dict[str, tuple[str | None, bool]]:
        """Beacons worth following: watched or fitted now -> (plate fitted on, watched flag)."""
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT b.id, f.plate_norm, b.watched FROM beacons b LEFT JOIN LATERAL ("
                " SELECT plate_norm FROM beacon_fittings f WHERE f.beacon_id = b.id AND f.fitted_from <= %(now)s"
                " AND (f.fitted_to IS NULL OR f.fitted_to > %(now)s) ORDER BY f.fitted_from DESC LIMIT 1) f ON true"
                " WHERE b.watched OR f.plate_norm IS NOT NULL", {"now": now})
            return {bid: (plate, watched) for bid, plate, watched in await cur.fetchall()}

    async def bulk_load_sightings(self, rows: Iterable[tuple[str, str, datetime]], confidence: float = 0.9,
                                  chunk: int = 50_000) -> int:
        """COPY (plate_norm, camera_id, read_at) rows into plate_reads — synthetic scenarios and
        benches; the cameras must exist.  Text COPY in chunks: a million rows in seconds."""
        rows = list(rows)
        if not rows:
            return 0
        tail = f"\t{confidence}\t0\t0\t100\t25\t{confidence}\n"
        async with self.store.pool.connection() as conn:
            await self.store.partitions.ensure(conn, "plate_reads", [t for _, _, t in rows])
            async with conn.transaction():
                async with conn.cursor().copy(
                        "COPY plate_reads (read_at, camera_id, plate_text, plate_norm, confidence, box_x, box_y,"
                        " box_w, box_h, detector_score) FROM STDIN") as copy:
                    for i in range(0, len(rows), chunk):
                        await copy.write("".join(f"{at.isoformat()}\t{cam}\t{plate}\t{plate}{tail}"
                                                 for plate, cam, at in rows[i:i + chunk]))
        return len(rows)
