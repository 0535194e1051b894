"""Geo queries on the store: a vehicle's track for routes, convoy candidates, the beacons worth
watching, bulk sightings.

The convoy query leans on ``plate_reads_camera_time`` (camera, time): for each of the target's
passages it reads only that camera's few minutes around it, whatever the table's size.

The route track comes back as one row of packed binary columns (``*send`` functions aggregated
with ``string_agg``) read straight into numpy: 10,000 observations as a few hundred kilobytes and
no Python object per observation.  Each branch (the plate's reads; the pings of each fitting) is
read in index order up to the limit, unsorted across branches; the merge and sort are numpy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

import numpy as np

from geo.convoys import CoSighting, ConvoyRules, TargetPassage
from geo.routes import Track
from lapi.store.db import Store
from lapi.store.plate_days import mark_late_days, past_days
from lapi.store.read_classes import hit_read

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


# Camera and beacon ids are limited to [A-Za-z0-9_.:-] (CHECK in the schema), so "," separates them.
_ROUTE_TRACK = (
    "SELECT s.packed, s.cameras, b.packed, b.beacons FROM"
    " (SELECT string_agg(timestamptz_send(r.read_at) || float8send(coalesce(r.lat, c.lat, 'NaN'))"
    "   || float8send(coalesce(r.lon, c.lon, 'NaN')) || int8send(r.id), '') AS packed,"
    "   string_agg(r.camera_id, ',') AS cameras"
    "  FROM (SELECT id, read_at, camera_id, lat, lon FROM plate_reads WHERE plate_norm = %(p)s"
    "   AND read_at >= %(s)s AND read_at < %(e)s ORDER BY read_at LIMIT %(n)s) r"
    "  JOIN cameras c ON c.id = r.camera_id) s,"
    " (SELECT string_agg(timestamptz_send(p.fix_time) || float8send(p.lat) || float8send(p.lon)"
    "   || float4send(coalesce(p.speed_kmh, 'NaN')) || int4send(f.k), '') AS packed,"
    "   (SELECT array_agg(beacon_id ORDER BY fitted_from, id) FROM beacon_fittings WHERE plate_norm = %(p)s) AS beacons"
    "  FROM (SELECT beacon_id, fitted_from, fitted_to, (row_number() OVER (ORDER BY fitted_from, id) - 1)::int4 AS k"
    "   FROM beacon_fittings WHERE plate_norm = %(p)s) f"
    "  JOIN LATERAL (SELECT fix_time, lat, lon, speed_kmh FROM beacon_pings p WHERE p.beacon_id = f.beacon_id"
    "   AND p.fix_time >= greatest(f.fitted_from, %(s)s) AND p.fix_time < least(coalesce(f.fitted_to, 'infinity'), %(e)s)"
    "   ORDER BY p.fix_time LIMIT %(n)s) p ON true) b")

_PG_EPOCH_US = 946_684_800_000_000   # binary timestamptz counts microseconds from 2000-01-01 UTC
_READ = np.dtype([("time", ">i8"), ("lat", ">f8"), ("lon", ">f8"), ("read_id", ">i8")])
_FIX = np.dtype([("time", ">i8"), ("lat", ">f8"), ("lon", ">f8"), ("speed", ">f4"), ("fitting", ">i4")])


def track_from_packed(reads: bytes | None, cameras: str | None, fixes: bytes | None,
                      beacons: list[str] | None) -> Track:
    """The packed columns of ``_ROUTE_TRACK`` as one :class:`Track` (unsorted)."""
    parts = []
    if reads:
        r = np.frombuffer(reads, _READ)
        names = cameras.split(",")
        codes = {name: i for i, name in enumerate(dict.fromkeys(names))}
        parts.append(Track(r["time"] + _PG_EPOCH_US, r["lat"].astype(float), r["lon"].astype(float),
                           np.ones(len(r), bool), np.fromiter(map(codes.__getitem__, names), np.intp, len(names)),
                           tuple(codes), r["read_id"].astype(np.int64), np.full(len(r), np.nan)))
    if fixes:
        f = np.frombuffer(fixes, _FIX)
        parts.append(Track(f["time"] + _PG_EPOCH_US, f["lat"].astype(float), f["lon"].astype(float),
                           np.zeros(len(f), bool), f["fitting"].astype(np.intp), tuple(beacons),
                           np.full(len(f), -1, np.int64), f["speed"].astype(float)))
    return Track.concat(parts)


class GeoStore:
    """Geo reads of one :class:`~lapi.store.db.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def convoy_data(self, plate_norm: str, start: datetime, end: datetime, rules: ConvoyRules,
                          hits_only: bool = False) -> ConvoyData:
        """The target's passages with their cameras' traffic, the vehicles near it at >= k cameras, and N;
        ``hits_only``: passages and co-sightings among hit reads only (a query for no procedure; the
        traffic counts are aggregates and stay whole)."""
        params = {"p": plate_norm, "s": start, "e": end, "m": MAX_TARGET_PASSAGES + 1, "w": rules.rate_window,
                  "dt": rules.dt, "k": rules.k}
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(_hit_reads_only(_PASSAGES) if hits_only else _PASSAGES, params)
            passages = [TargetPassage(c, t, n) for c, t, n in await cur.fetchall()]
            truncated = len(passages) > MAX_TARGET_PASSAGES
            passages = passages[:MAX_TARGET_PASSAGES]
            if not passages:
                return ConvoyData([], [], 0, False)
            params["m"] = MAX_TARGET_PASSAGES
            cur = await conn.execute(_hit_reads_only(_CO_SIGHTINGS) if hits_only else _CO_SIGHTINGS, params)
            co = [CoSighting(p, c, tt, t) for p, c, tt, t in await cur.fetchall()]
            cur = await conn.execute(_POPULATION, {
                "cams": sorted({p.camera_id for p in passages}),
                "s": passages[0].time - rules.rate_window, "e": passages[-1].time + rules.rate_window})
            population = (await cur.fetchone())[0]
        return ConvoyData(passages, co, population, truncated)

    async def route_track(self, plate_norm: str, start: datetime, end: datetime, limit: int,
                          hits_only: bool = False) -> tuple[Track, bool]:
        """Sightings of the plate (at the read's or else the camera's position; NaN where neither is
        known) and pings of the beacons fitted on it while fitted, the first ``limit`` in time order
        (a ping before a read of the same instant); and whether there were more.  ``hits_only``:
        sightings that produced a hit only (a query for no procedure)."""
        query = _ROUTE_TRACK
        if hits_only:
            query = query.replace("FROM plate_reads WHERE plate_norm = %(p)s",
                                  f"FROM plate_reads r0 WHERE plate_norm = %(p)s AND {hit_read('r0')}")
            if query == _ROUTE_TRACK:
                raise RuntimeError("route SQL changed shape: the hit-read filter could not be applied")
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(binary=True)
            await cur.execute(query, {"p": plate_norm, "s": start, "e": end, "n": limit + 1})
            reads, cameras, fixes, beacons = await cur.fetchone()
        track = track_from_packed(reads, cameras, fixes, beacons).in_time_order()
        return (track.take(slice(0, limit)), True) if len(track) > limit else (track, False)

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
                await mark_late_days(conn, past_days((t for _, _, t in rows), datetime.now(timezone.utc)))
                async with conn.cursor().copy(
                        "COPY plate_reads (read_at, camera_id, plate_text, plate_norm, confidence, box_x, box_y,"
                        " box_w, box_h, detector_score) FROM STDIN") as copy:
                    for i in range(0, len(rows), chunk):
                        await copy.write("".join(f"{at.isoformat()}\t{cam}\t{plate}\t{plate}{tail}"
                                                 for plate, cam, at in rows[i:i + chunk]))
        return len(rows)


def _hit_reads_only(query: str) -> str:
    """The convoy query restricted to hit reads: the target's and the other vehicles'."""
    sites = (  # where each query selects reads (the traffic count stays an aggregate over all reads)
        (" ORDER BY t.read_at LIMIT", f" AND {hit_read('t')} ORDER BY t.read_at LIMIT"),
        ("SELECT camera_id, read_at FROM plate_reads WHERE plate_norm = %(p)s",
         f"SELECT camera_id, read_at FROM plate_reads t0 WHERE plate_norm = %(p)s AND {hit_read('t0')}"),
        ("WHERE r.plate_norm <> %(p)s)", f"WHERE r.plate_norm <> %(p)s AND {hit_read('r')})"))
    out = query
    for old, new in sites:
        out = out.replace(old, new)
    if out == query:
        raise RuntimeError("convoy SQL changed shape: the hit-read filter could not be applied")
    return out
