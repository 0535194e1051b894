"""``lapi bench route`` and ``lapi bench convoy``: geo query times on a scratch database.

* route: a vehicle with N observations (beacon fixes every 5 s and camera reads, driving the
  A26/A16 corridor back and forth with pauses), timed from the store query
  (``GeoStore.route_track``) to the GeoJSON body with the default point detail (compact) — what
  ``GET /v1/vehicles/{plate}/route`` does besides HTTP; the bodies with full point detail and
  with trips only are timed too.
* convoy: N background sightings on the corridor's cameras at their own rates (bulk-loaded with
  COPY) around a convoy, then the convoy query for the target — what
  ``GET /v1/vehicles/{plate}/convoys`` does besides HTTP.

The scratch database is a fresh one on the server given (or a temporary embedded PostgreSQL)
and is dropped afterwards.  Figures are medians of several runs after one warm-up.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from geo.convoys import ConvoyRules, score_candidates
from geo.routes import POINT_DETAIL, RouteRules, route_from_track
from geo.scenarios import A26_A16_TO_SANGATTE, CAMERA_RATES_PER_H, cameras, corridor_traffic, drive
from lapi.store.scratch import scratch_database

BENCH_PLATE = "GV073KP"


async def _open_store(url: str):
    from lapi.cameras import Camera
    from lapi.store.db import Store

    store = Store(url, min_size=1, max_size=2)
    await store.open()
    for cam in cameras():
        await store.upsert_camera(Camera(**cam))
    return store


def _ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 2)


# route ---------------------------------------------------------------------------------------------

def route_observations(n: int, start: datetime) -> tuple[list[Any], list[tuple[str, str, datetime]]]:
    """About ``n`` observations: trips along the corridor (fixes every 5 s plus its six camera reads),
    alternately out and back, 45 minutes apart (each its own trip)."""
    from trackers.pings import Ping

    pings, reads = [], []
    t = start
    forward = True
    while len(pings) + len(reads) < n:
        route = A26_A16_TO_SANGATTE if forward else tuple(reversed(A26_A16_TO_SANGATTE))
        fixes, passes = drive(t, 100.0, 5.0, route)
        pings += [Ping("BENCH-B1", f.time, f.lat, f.lon, f.speed_kmh, f.heading) for f in fixes]
        reads += [(BENCH_PLATE, cam, at) for cam, at in passes.items()]
        t = fixes[-1].time + timedelta(minutes=45)
        forward = not forward
    extra = len(pings) + len(reads) - n
    return pings[:len(pings) - extra], reads


async def _bench_route(url: str, n: int, repeats: int) -> dict[str, Any]:
    from lapi.store.beacons import BeaconStore
    from lapi.store.geo import GeoStore

    store = await _open_store(url)
    try:
        start = datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc)
        pings, reads = route_observations(n, start)
        beacons = BeaconStore(store)
        await beacons.add_fitting("BENCH-B1", BENCH_PLATE, start - timedelta(days=1), None)
        await store.store_pings(pings)
        await GeoStore(store).bulk_load_sightings(reads)
        async with store.pool.connection() as conn:
            await conn.execute("VACUUM ANALYZE plate_reads")
            await conn.execute("VACUUM ANALYZE beacon_pings")
        end = max(pings[-1].fix_time, reads[-1][2]) + timedelta(minutes=1)
        geo = GeoStore(store)
        fetch, build, encode, total, cpu = [], [], [], [], []
        default = POINT_DETAIL[0]
        others: dict[str, list[float]] = {points: [] for points in POINT_DETAIL[1:]}
        sizes: dict[str, int] = {}
        for i in range(repeats + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            track, truncated = await geo.route_track(BENCH_PLATE, start, end, 100_000)
            t1 = time.perf_counter()
            route = route_from_track(track, RouteRules())
            t2 = time.perf_counter()
            body = route.geojson_text(default, plate_norm=BENCH_PLATE, truncated=truncated)
            t3, c3 = time.perf_counter(), time.process_time()
            for points, times in others.items():
                t4 = time.perf_counter()
                sizes[points] = len(route.geojson_text(points, plate_norm=BENCH_PLATE, truncated=truncated))
                times.append(time.perf_counter() - t4)
            if i:  # the first run warms caches
                fetch.append(t1 - t0)
                build.append(t2 - t1)
                encode.append(t3 - t2)
                total.append(t3 - t0)
                cpu.append(c3 - c0)
        json.loads(body)  # what was timed is a valid document
        return {"observations": len(track), "pings": len(pings), "sightings": len(reads), "trips": len(route.trips),
                "points": default, "geojson_bytes": len(body), "repeats": repeats, "fetch_ms": _ms(fetch),
                "build_ms": _ms(build), "geojson_ms": _ms(encode), "total_ms": _ms(total),
                "total_cpu_ms_this_process": _ms(cpu),
                **{f"geojson_{points}_ms": _ms(times[1:]) for points, times in others.items()},
                **{f"geojson_{points}_bytes": sizes[points] for points in others},
                "target_ms": 50}
    finally:
        await store.close()


def run_route_bench(observations: int = 10_000, repeats: int = 20, database_url: str | None = None) -> dict[str, Any]:
    with scratch_database(database_url) as url:
        return asyncio.run(_bench_route(url, observations, repeats))


# convoy --------------------------------------------------------------------------------------------

async def _bench_convoy(url: str, n: int, repeats: int, k: int, dt_s: float) -> dict[str, Any]:
    from lapi.store.geo import GeoStore

    store = await _open_store(url)
    try:
        per_hour = sum(CAMERA_RATES_PER_H.values())
        start = datetime(2026, 11, 13, 0, 0, tzinfo=timezone.utc)
        t0 = time.perf_counter()
        sc = corridor_traffic(start, hours=n / per_hour, seed=6, target_departure=timedelta(hours=n / per_hour / 2))
        generated = time.perf_counter() - t0
        geo = GeoStore(store)
        t0 = time.perf_counter()
        loaded = await geo.bulk_load_sightings((s.plate, s.camera_id, s.time) for s in sc.sightings)
        load_s = time.perf_counter() - t0
        async with store.pool.connection() as conn:
            await conn.execute("VACUUM ANALYZE plate_reads")
        rules = ConvoyRules(k=k, dt=timedelta(seconds=dt_s))
        times, ranked, data = [], [], None
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            data = await geo.convoy_data(sc.target, sc.start, sc.end, rules)
            ranked = score_candidates(data.passages, data.co_sightings, data.population, rules)
            if i:
                times.append(time.perf_counter() - t0)
        return {"sightings": loaded, "days": round((sc.end - sc.start).total_seconds() / 86400, 1),
                "cameras": len(CAMERA_RATES_PER_H), "generate_s": round(generated, 1), "copy_s": round(load_s, 1),
                "copy_rows_per_s": round(loaded / load_s), "k": k, "dt_s": dt_s, "repeats": repeats,
                "passages": len(data.passages), "co_sightings": len(data.co_sightings), "population": data.population,
                "candidates": len(ranked), "top": ranked[0].plate if ranked else None,
                "top_is_companion": bool(ranked) and ranked[0].plate == sc.companion,
                "query_ms": _ms(times), "target_ms": 2000}
    finally:
        await store.close()


def run_convoy_bench(sightings: int = 1_000_000, repeats: int = 5, database_url: str | None = None,
                     k: int = 3, dt_s: float = 120.0) -> dict[str, Any]:
    with scratch_database(database_url) as url:
        return asyncio.run(_bench_convoy(url, sightings, repeats, k, dt_s))
