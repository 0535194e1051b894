"""``lapi bench stakeout``: the stakeout query over N reads bulk-loaded into a scratch database.

N reads (default 10 million) of a population of N/20 vehicles, spread evenly over 60 cameras and
14 days, are loaded with COPY (:meth:`lapi.store.geo.GeoStore.bulk_load_sightings`; the secondary
indexes dropped during the load and rebuilt after, then VACUUM ANALYZE as autovacuum would), then three
places are staked out over 24 h each: one camera by name, a polygon around two cameras, a 1.5 km
circle around three; a few planted vehicles visit all three.  Figures: the query's median over
several runs after one warm-up, and whether the planted vehicles (and only vehicles seen at all
three) came back.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from lapi.cameras import Camera
from lapi.investigations.places import Place, parse_places, place_cameras
from lapi.investigations.stakeout import StakeoutQuery, stakeout
from lapi.store.scratch import scratch_database

CAMERAS = 60
DAYS = 14
PLANTED = ("ZZ001ZZ", "ZZ002ZZ", "ZZ003ZZ", "ZZ004ZZ", "ZZ005ZZ")
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
TARGET_MS = 1000.0


def bench_cameras() -> list[Camera]:
    """A 6 x 10 grid over the Calais hinterland, with two cameras side by side (place 2) and three
    within a kilometre (place 3)."""
    cams = [Camera(f"b-{i:02d}", "", 50.70 + (i // 10) * 0.05, 1.60 + (i % 10) * 0.07) for i in range(CAMERAS)]
    cams[11] = Camera("b-11", "", cams[10].lat + 0.004, cams[10].lon + 0.004)
    cams[21] = Camera("b-21", "", cams[20].lat + 0.005, cams[20].lon)
    cams[22] = Camera("b-22", "", cams[20].lat, cams[20].lon + 0.006)
    return cams


def bench_places(cams: list[Camera]) -> list[Place]:
    def day(d: int) -> dict[str, str]:
        return {"from": (START + timedelta(days=d)).isoformat(), "to": (START + timedelta(days=d + 1)).isoformat()}

    a, b = cams[10], cams[20]
    box = [[a.lon - 0.01, a.lat - 0.01], [a.lon + 0.02, a.lat - 0.01], [a.lon + 0.02, a.lat + 0.02],
           [a.lon - 0.01, a.lat + 0.02], [a.lon - 0.01, a.lat - 0.01]]
    return parse_places([
        {"name": "named camera", "cameras": ["b-00"], **day(3)},
        {"name": "polygon", "polygon": {"type": "Polygon", "coordinates": [box]}, **day(7)},
        {"name": "circle", "center": {"lat": b.lat, "lon": b.lon}, "radius_m": 1500, **day(10)}])


def _plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPQRSTVWXY"
    return (rng.choice(letters) + rng.choice(letters) + f"{rng.randrange(1000):03d}" + rng.choice(letters)
            + rng.choice(letters))


async def _load(store: Any, n: int, seed: int, chunk: int = 500_000) -> float:
    from lapi.store.geo import GeoStore

    rng = random.Random(seed)
    population = [_plate(rng) for _ in range(max(1000, n // 20))]
    cam_ids = [f"b-{i:02d}" for i in range(CAMERAS)]
    span = DAYS * 86400
    geo = GeoStore(store)
    t0 = time.perf_counter()
    async with store.pool.connection() as conn:  # load first, index after: the same schema in the end
        cur = await conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'plate_reads'"
                                 " AND indexname NOT LIKE '%%pkey'")
        indexes = await cur.fetchall()
        for name, _ in indexes:
            await conn.execute(f'DROP INDEX "{name}"')
    done = 0
    while done < n:
        k = min(chunk, n - done)
        rows = [(p, c, START + timedelta(seconds=s)) for p, c, s in
                zip(rng.choices(population, k=k), rng.choices(cam_ids, k=k), (rng.random() * span for _ in range(k)))]
        await geo.bulk_load_sightings(rows)
        done += k
    planted = []
    for i, plate in enumerate(PLANTED):
        for cam, d in (("b-00", 3), ("b-11", 7), ("b-22", 10)):
            planted.append((plate, cam, START + timedelta(days=d, hours=2 + i)))
    await geo.bulk_load_sightings(planted)
    async with store.pool.connection() as conn:
        for _, definition in indexes:  # pg_indexes says ON ONLY for a partitioned table's index: not its partitions'
            await conn.execute(definition.replace(" ON ONLY ", " ON ", 1))
        await conn.execute("VACUUM ANALYZE plate_reads")  # as autovacuum leaves a settled table
    return time.perf_counter() - t0


async def _run(url: str, n: int, repeats: int, seed: int) -> dict[str, Any]:
    from lapi.store.db import Store

    store = Store(url, min_size=1, max_size=2)
    await store.open()
    try:
        cams = bench_cameras()
        for cam in cams:
            await store.upsert_camera(cam)
        load_s = await _load(store, n, seed)
        places = bench_places(cams)
        query = StakeoutQuery(places, place_cameras(places, cams), len(places), limit=1000)
        times, rows = [], []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            rows = await stakeout(store, query)
            times.append(time.perf_counter() - t0)
        async with store.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM plate_reads")
            stored = (await cur.fetchone())[0]
            sql, params = query.sql()
            cur = await conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [r[0] for r in await cur.fetchall()]
    finally:
        await store.close()
    found = sorted(r["plate_norm"] for r in rows)
    median_ms = round(1000 * statistics.median(times[1:]), 1)
    return {"reads": stored, "cameras": CAMERAS, "days": DAYS, "vehicles": max(1000, n // 20),
            "load_s": round(load_s, 1), "load_rows_per_s": round(stored / load_s),
            "places": [{"name": p.name, "cameras": list(c)} for p, c in zip(places, query.cameras)],
            "query_ms_median": median_ms, "query_ms_all": [round(1000 * t, 1) for t in times[1:]],
            "first_run_ms": round(1000 * times[0], 1), "target_ms": TARGET_MS, "target_met": median_ms < TARGET_MS,
            "found": found, "planted_found": set(PLANTED) <= set(found), "plan_tail": plan[-3:]}


def run_stakeout_bench(n: int, repeats: int, database_url: str | None, seed: int = 12) -> dict[str, Any]:
    with scratch_database(database_url) as url:
        return asyncio.run(_run(url, n, repeats, seed))


def format_report(r: dict[str, Any]) -> str:
    return (f"stakeout of 3 places x 24 h over {r['reads']:,} reads ({r['cameras']} cameras, {r['days']} days, "
            f"{r['vehicles']:,} vehicles; COPY {r['load_s']} s, {r['load_rows_per_s']:,} rows/s): median "
            f"{r['query_ms_median']} ms (target {r['target_ms']:.0f} ms: {'met' if r['target_met'] else 'NOT met'}; "
            f"runs {r['query_ms_all']}, first {r['first_run_ms']} ms); {len(r['found'])} vehicles at all three, "
            f"planted ones found: {r['planted_found']}")
