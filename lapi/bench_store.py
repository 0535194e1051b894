"""``lapi bench store``: national-size read history on one PostgreSQL node.

Loads N synthetic reads into a scratch database (:mod:`lapi.store.scratch`) through the bulk path
(:mod:`lapi.store.bulk`: ids reserved from the sequence, binary COPY, one transaction per batch),
then measures:

* ingest: COPY rows/s (database time: id reservation, then ``writers`` connections streaming
  COPY batches at once, each committed; encoding the reads in COPY's binary format is the writing
  process's work, timed apart and also counted in a second rate), against the naive way on
  the same server: one INSERT per read, each its own transaction, on a sample; and the service's
  whole bulk path (``Store.store_frames``: camera lookup, watchlist matching, COPY) on a sample,
  per Python process;
* plate history: ``Store.sightings`` (what ``GET /v1/vehicles/{plate}/sightings`` runs) over a
  90-day window for plates drawn as investigators would meet them, p50/p99, once the plate-day
  summary (lapi/store/plate_days.py) has caught up with the load, and again without it;
* convoy query: ``GeoStore.convoy_data`` plus scoring for a frequent plate over 7 days;
* size: plate_reads (heap, indexes, TOAST) per million reads, and the whole database.

The distributions (pure, in :func:`synthetic_reads`): cameras with log-normal traffic (a few busy
motorway sites, many quiet ones), a day/night profile, reads in time order as a live network
sends them; N/200 commuters make 30 % of the reads (60 each over 90 days at N = 10 million) and
N/2 other vehicles the rest (most seen once or twice); 90 % French SIV plates, 6 % older FNI, 4 %
Belgian.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from lapi.benchstats import percentile
from lapi.store.scratch import scratch_database

HOURLY_PROFILE = (0.25, 0.15, 0.1, 0.1, 0.15, 0.35, 0.8, 1.4, 1.6, 1.2, 1.0, 1.0,
                  1.1, 1.1, 1.0, 1.1, 1.3, 1.6, 1.5, 1.1, 0.8, 0.6, 0.45, 0.35)  # relative traffic, UTC hour
_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # SIV letters (no I, O, U)
HISTORY_DAYS = 90
CONVOY_DAYS = 7
COMMUTER_SHARE = 0.3
TARGETS = {"ingest_rows_per_s": 100_000, "history_p99_ms": 20.0}


@dataclass(frozen=True)
class Network:
    """Cameras and their share of the traffic; plates drawn from a skewed population."""

    camera_ids: list[str]
    camera_share: np.ndarray   # sums to 1
    commuters: int             # vehicles 0..commuters-1: seen often (30 % of the reads)
    population: int            # distinct vehicles, commuters included

    def vehicles(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Vehicle indices of ``count`` reads: 30 % by a commuter, the rest by anyone of the others."""
        others = self.population - self.commuters
        return np.where(rng.random(count) < COMMUTER_SHARE, rng.integers(0, self.commuters, count),
                        self.commuters + rng.integers(0, others, count))


def network(n_reads: int, cameras: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    share = rng.lognormal(0.0, 1.0, cameras)
    commuters = max(100, n_reads // 200)
    return Network([f"cam-{i:04d}" for i in range(cameras)], share / share.sum(), commuters,
                   commuters + max(1000, n_reads // 2))


def plate_of(index: int) -> tuple[str, str]:
    """(printed text, normalised) for vehicle ``index``: a stable, spread-out plate per vehicle."""
    h = (index * 2_654_435_761) % 4_294_967_291
    kind = h % 50
    if kind < 3:  # FNI "1234 AB 59"
        digits, a, b, dept = h // 50 % 9000 + 1000, _LETTERS[h // 450_000 % 23], _LETTERS[h // 10_350_000 % 23], h % 95 + 1
        return f"{digits} {a}{b} {dept:02d}", f"{digits}{a}{b}{dept:02d}"
    if kind < 5:  # Belgian "1-ABC-234"
        letters = "".join(_LETTERS[h // 23 ** k % 23] for k in range(1, 4))
        return f"1-{letters}-{h // 100 % 1000:03d}", f"1{letters}{h // 100 % 1000:03d}"
    h //= 50
    left = _LETTERS[h % 23] + _LETTERS[h // 23 % 23]
    right = _LETTERS[h // 529 % 23] + _LETTERS[h // 12_167 % 23]
    num = h // 279_841 % 999 + 1
    return f"{left}-{num:03d}-{right}", f"{left}{num:03d}{right}"


def synthetic_reads(net: Network, n: int, start: datetime, days: int, seed: int,
                    batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of (epoch seconds, camera index, vehicle index, confidence), in time order."""
    rng = np.random.default_rng(seed + 1)
    hours = np.array(HOURLY_PROFILE)
    per_day = np.full(days, n // days)
    per_day[: n % days] += 1
    t0 = start.timestamp()
    buf = [np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)]
    for day, count in enumerate(per_day):
        hour = rng.choice(24, size=count, p=hours / hours.sum())
        t = np.sort(t0 + day * 86400 + hour * 3600 + rng.random(count) * 3600)
        cams = rng.choice(len(net.camera_ids), size=count, p=net.camera_share)
        vehicles = net.vehicles(rng, count)
        conf = 0.6 + 0.4 * rng.beta(5, 1.5, count)
        buf = [np.concatenate([b, x]) for b, x in zip(buf, (t, cams, vehicles, conf))]
        while len(buf[0]) >= batch:
            yield buf[0][:batch], buf[1][:batch], buf[2][:batch], buf[3][:batch]
            buf = [b[batch:] for b in buf]
    if len(buf[0]):
        yield buf[0], buf[1], buf[2], buf[3]


def _frames(net: Network, cams: dict, t: np.ndarray, c: np.ndarray, v: np.ndarray, conf: np.ndarray) -> list:
    """One Frame per read (what a fixed camera sends), matched against nothing (bulk rows)."""
    from lapi.reading.detector import Detection
    from lapi.reading.pipeline import PlateRead
    from lapi.store.frames import Frame

    frames = []
    box = Detection(412, 630, 142, 31, 0.93)
    for ts, ci, vi, cf in zip(t.tolist(), c.tolist(), v.tolist(), conf.tolist()):
        text, norm = plate_of(vi)
        read = PlateRead(text, norm, cf, (cf,) * len(norm), box, b"", "FR", "fr_siv")
        frames.append(Frame(cams[net.camera_ids[ci]], datetime.fromtimestamp(ts, timezone.utc), [read], [[]],
                            (None, None, None)))
    return frames


def _pct(samples: list[float], q: float) -> float:
    """Milliseconds at rank ``q`` of samples in seconds."""
    return round(1000 * percentile(samples, q), 2)


async def _load(store: Any, net: Network, n: int, start: datetime, days: int, seed: int, batch: int,
                writers: int, progress: Any) -> dict[str, float]:
    """Load the reads in chunks: each chunk's batches are built and encoded in COPY's binary format
    first (timed apart: the writing process's work), then streamed by ``writers`` connections at
    once, one COPY transaction per batch (timed: the database's work).

    Why concurrent writers: one COPY stream keeps one server process busy; a deployment ingests
    from several reader processes at once, and the database's capacity is what this measures.
    Why the encoding apart: those processes encode on their own machines (the stateless part that
    scales out, docs/scaling.md); on a bench machine they share the server's cores, so both the
    database's rate and the rate with the encoding counted in are reported.
    """
    from lapi.store.bulk import copy_encoded, reserve_read_ids
    from lapi.store.copy_format import encode_reads

    cams = {cid: await store.get_camera(cid) for cid in net.camera_ids}
    db_s = encode_s = generate_s = 0.0
    loaded = 0
    chunk_batches = max(writers, 1_000_000 // batch)
    t0 = time.perf_counter()
    batches = synthetic_reads(net, n, start, days, seed, batch)
    while True:
        chunk: list[bytes] = []
        chunk_rows = 0
        async with store.pool.connection() as conn:
            for t, c, v, conf in batches:
                g0 = time.perf_counter()
                frames = _frames(net, cams, t, c, v, conf)
                g1 = time.perf_counter()
                await store.partitions.ensure(conn, "plate_reads", [f.read_at for f in frames])
                d0 = time.perf_counter()
                ids = await reserve_read_ids(conn, len(frames))
                f0 = time.perf_counter()
                chunk.append(encode_reads(frames, [[i] for i in ids]))
                f1 = time.perf_counter()
                generate_s += g1 - g0
                encode_s += f1 - f0
                db_s += f0 - d0
                chunk_rows += len(frames)
                if len(chunk) == chunk_batches:
                    break
        if not chunk:
            break

        async def writer() -> None:
            async with store.pool.connection() as conn:
                while chunk:
                    data = chunk.pop()
                    async with conn.transaction():
                        await copy_encoded(conn, [data])

        d0 = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        db_s += time.perf_counter() - d0
        loaded += chunk_rows
        if progress and loaded // 1_000_000 != (loaded - chunk_rows) // 1_000_000:
            progress(f"{loaded:,} reads loaded, {loaded / db_s:,.0f} rows/s into PostgreSQL so far")
    return {"loaded": loaded, "copy_db_s": db_s, "encode_s": encode_s, "generate_s": generate_s,
            "load_wall_s": time.perf_counter() - t0}


async def _naive_inserts(store: Any, net: Network, n: int, start: datetime, seed: int) -> float:
    """Rows/s of one INSERT per read, each its own transaction (autocommit), same columns."""
    cams = {cid: await store.get_camera(cid) for cid in net.camera_ids}
    t, c, v, conf = next(synthetic_reads(net, n, start, 1, seed + 7, n))
    frames = _frames(net, cams, t, c, v, conf)
    async with store.pool.connection() as conn:
        await store.partitions.ensure(conn, "plate_reads", [f.read_at for f in frames])
        t0 = time.perf_counter()
        for f in frames:
            r = f.reads[0]
            await conn.execute(
                "INSERT INTO plate_reads (read_at, camera_id, plate_text, plate_norm, country, plate_format, confidence,"
                " char_confidences, box_x, box_y, box_w, box_h, detector_score) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (f.read_at, f.camera.id, r.text, r.plate_norm, r.country, r.format_name, r.confidence,
                 list(r.char_confidences), r.box.x, r.box.y, r.box.w, r.box.h, r.box.score))
        return n / (time.perf_counter() - t0)


async def _store_frames_rate(store: Any, net: Network, n: int, start: datetime, seed: int) -> float:
    """Reads/s of the service's bulk path (Store.store_frames), batches of 10,000 frames."""
    t, c, v, conf = next(synthetic_reads(net, n, start, 1, seed + 11, n))
    from lapi.reading.detector import Detection
    from lapi.reading.pipeline import PlateRead

    box = Detection(412, 630, 142, 31, 0.93)
    items = []
    for ts, ci, vi, cf in zip(t.tolist(), c.tolist(), v.tolist(), conf.tolist()):
        text, norm = plate_of(vi)
        items.append((net.camera_ids[ci], datetime.fromtimestamp(ts, timezone.utc),
                      [PlateRead(text, norm, cf, (cf,) * len(norm), box, b"", "FR", "fr_siv")]))
    t0 = time.perf_counter()
    for i in range(0, len(items), 10_000):
        await store.store_frames(items[i:i + 10_000])
    return n / (time.perf_counter() - t0)


async def _history(store: Any, net: Network, end: datetime, queries: int, seed: int) -> dict[str, Any]:
    """Plate history over 90 days: half the plates drawn as reads are (frequent vehicles more often),
    half uniformly from the population (most seen a few times)."""
    rng = np.random.default_rng(seed + 3)
    by_read = net.vehicles(rng, queries // 2).tolist()
    uniform = rng.integers(0, net.population, queries - queries // 2).tolist()
    plates = [plate_of(i)[1] for i in by_read + uniform]
    start = end - timedelta(days=HISTORY_DAYS)
    for p in plates[:5]:  # warm the plan cache and the connection
        await store.sightings(p, start, end, limit=1000)
    times, rows = [], []
    for p in plates:
        t0 = time.perf_counter()
        found = await store.sightings(p, start, end, limit=1000)
        times.append(time.perf_counter() - t0)
        rows.append(len(found))
    half = len(by_read)  # the two draws apart: frequent vehicles' histories span many days, the others' few
    return {"history_queries": len(plates), "history_p50_ms": _pct(times, 0.5), "history_p99_ms": _pct(times, 0.99),
            "history_max_ms": round(1000 * max(times), 2), "history_rows_mean": round(statistics.mean(rows), 1),
            "history_rows_max": max(rows),
            "history_by_read_p50_ms": _pct(times[:half], 0.5), "history_by_read_p99_ms": _pct(times[:half], 0.99),
            "history_uniform_p50_ms": _pct(times[half:], 0.5), "history_uniform_p99_ms": _pct(times[half:], 0.99)}


async def _history_after_checkpoint(store: Any, net: Network, end: datetime, queries: int,
                                    seed: int) -> dict[str, Any]:
    """Plate history again, for other plates, once a CHECKPOINT has written out what the load and its
    VACUUM left dirty.

    Why: a 50 M run's cold p99 went from ~13 to 74 ms while its median held, and one explanation
    was cold reads queueing behind the write-back of the 17 GB just loaded.  A national network
    writes ~1,100 reads/s at its peak, a hundredth of this load's rate, so the two figures side by
    side tell a steady system's history from one right after a bulk import (on a Zen 4 VM the tail
    stayed after the checkpoint: it was cold reads, not write-back; docs/benchmarks.md).
    """
    t0 = time.perf_counter()
    async with store.pool.connection() as conn:
        try:
            await conn.execute("CHECKPOINT")
        except Exception as exc:  # noqa: BLE001 - not a superuser nor in pg_checkpoint
            await conn.rollback()
            return {"history_after_checkpoint_p50_ms": None, "history_after_checkpoint_p99_ms": None,
                    "history_after_checkpoint_skipped": f"CHECKPOINT refused: {str(exc).splitlines()[0]}"}
    checkpoint_s = time.perf_counter() - t0
    settled = await _history(store, net, end, queries, seed + 200)  # other plates than the other runs'
    return {"checkpoint_after_load_s": round(checkpoint_s, 1),
            "history_after_checkpoint_p50_ms": settled["history_p50_ms"],
            "history_after_checkpoint_p99_ms": settled["history_p99_ms"],
            "history_after_checkpoint_max_ms": settled["history_max_ms"]}


async def _history_with_index_in_memory(store: Any, net: Network, end: datetime, queries: int,
                                        seed: int) -> dict[str, Any]:
    """Plate history again, for other plates, once the plate index of every day is in the OS page cache.

    Why: at 50 million reads the database nearly fills this machine's memory, and the cold history
    is disk reads (docs/scaling.md).  This models a node sized so that the (plate, time) index
    stays in memory while table pages still come from disk; ``pg_prewarm`` (contrib) reads the
    index files, and where it cannot be installed the figures are None with the reason.
    """
    async with store.pool.connection() as conn:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except Exception as exc:  # noqa: BLE001 - a server without contrib, or not a superuser
            await conn.rollback()
            return {"history_index_in_memory_p50_ms": None, "history_index_in_memory_p99_ms": None,
                    "history_index_in_memory_skipped": f"pg_prewarm unavailable: {str(exc).splitlines()[0]}"}
        cur = await conn.execute(
            "SELECT coalesce(sum(pg_prewarm(inhrelid, 'read')), 0), coalesce(sum(pg_relation_size(inhrelid)), 0)"
            " FROM pg_inherits WHERE inhparent = 'plate_reads_plate_time'::regclass")
        _, index_bytes = await cur.fetchone()
    warm = await _history(store, net, end, queries, seed + 100)  # other plates than the cold run's
    return {"history_index_in_memory_p50_ms": warm["history_p50_ms"],
            "history_index_in_memory_p99_ms": warm["history_p99_ms"],
            "history_index_in_memory_max_ms": warm["history_max_ms"],
            "plate_index_bytes": int(index_bytes)}


async def _summarise(store: Any, reads: int, progress: Any) -> dict[str, Any]:
    """Build the plate-day summary of the loaded days (lapi/store/plate_days.py), as the service's job
    would, day by day; its time and size.  A live network summarises one day a day; this is the
    catch-up after a bulk import."""
    from lapi.store.plate_days import PlateDays

    if progress:
        progress("plate-day summary of every loaded day")
    t0 = time.perf_counter()
    done = await PlateDays(store).refresh()
    build_s = time.perf_counter() - t0
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*), pg_total_relation_size('plate_days') FROM plate_days")
        rows, size = await cur.fetchone()
    return {"plate_days_days": len(done["days"]), "plate_days_build_s": round(build_s, 1),
            "plate_days_s_per_day": round(build_s / max(1, len(done["days"])), 2),
            "plate_days_rows": int(rows), "plate_days_bytes": int(size),
            "plate_days_bytes_per_read": round(size / reads, 1)}


async def _history_without_summary(store: Any, net: Network, end: datetime, queries: int,
                                   seed: int) -> dict[str, Any]:
    """Plate history again, for other plates, with the summary set aside: every day of the window is
    scanned, as before the summary existed (the comparison its design rests on)."""
    async with store.pool.connection() as conn:
        cur = await conn.execute("DELETE FROM plate_day_summaries RETURNING day, summarised_at")
        kept = await cur.fetchall()
    try:
        bare = await _history(store, net, end, queries, seed + 300)
    finally:
        async with store.pool.connection() as conn:
            cur = conn.cursor()
            await cur.executemany("INSERT INTO plate_day_summaries (day, summarised_at) VALUES (%s, %s)", kept)
    return {"history_without_summary_p50_ms": bare["history_p50_ms"],
            "history_without_summary_p99_ms": bare["history_p99_ms"],
            "history_without_summary_max_ms": bare["history_max_ms"]}


async def _convoy(store: Any, end: datetime, repeats: int = 5) -> dict[str, Any]:
    from geo.convoys import ConvoyRules, score_candidates
    from lapi.store.geo import GeoStore

    start = end - timedelta(days=CONVOY_DAYS)
    async with store.pool.connection() as conn:  # the vehicle seen most in the window: the heaviest convoy query
        cur = await conn.execute("SELECT plate_norm FROM plate_reads WHERE read_at >= %s AND read_at < %s"
                                 " GROUP BY plate_norm ORDER BY count(*) DESC LIMIT 1", (start, end))
        plate = (await cur.fetchone())[0]
    geo, rules = GeoStore(store), ConvoyRules()
    times = []
    data = None
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        data = await geo.convoy_data(plate, start, end, rules)
        score_candidates(data.passages, data.co_sightings, data.population, rules)
        if i:
            times.append(time.perf_counter() - t0)
    return {"convoy_plate_passages": len(data.passages), "convoy_co_sightings": len(data.co_sightings),
            "convoy_ms": round(1000 * statistics.median(times), 1)}


async def _sizes(store: Any, n: int) -> dict[str, Any]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(pg_table_size(c.oid)), 0), coalesce(sum(pg_indexes_size(c.oid)), 0),"
            " pg_database_size(current_database()) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'plate_reads'::regclass")
        table, indexes, database = (int(x) for x in await cur.fetchone())
    per_read = (table + indexes) / n
    return {"reads_table_bytes": int(table), "reads_index_bytes": int(indexes), "database_bytes": int(database),
            "bytes_per_read": round(per_read, 1), "gb_per_million_reads": round(per_read * 1e6 / 1e9, 3)}


async def _bench(url: str, n: int, days: int, cameras: int, batch: int, writers: int, insert_n: int,
                 frames_n: int, queries: int, seed: int, progress: Any) -> dict[str, Any]:
    from lapi.cameras import Camera
    from lapi.store.db import Store

    net = network(n, cameras, seed)
    store = Store(url, min_size=1, max_size=writers + 1)
    await store.open()
    try:
        for i, cid in enumerate(net.camera_ids):
            await store.upsert_camera(Camera(id=cid, name=f"bench camera {i}", lat=43.0 + (i * 7 % 60) / 10,
                                             lon=-1.0 + (i * 13 % 80) / 10, heading=float(i * 37 % 360), road=""))
        end = datetime(2026, 11, 23, tzinfo=timezone.utc)
        start = end - timedelta(days=days)
        load = await _load(store, net, n, start, days, seed, batch, writers, progress)
        if progress:
            progress(f"loaded {n:,} reads; per-row INSERT sample of {insert_n:,}")
        insert_rate = await _naive_inserts(store, net, insert_n, end, seed)
        frames_rate = await _store_frames_rate(store, net, frames_n, end + timedelta(days=1), seed)
        if progress:
            progress("VACUUM ANALYZE, then queries")
        async with store.pool.connection() as conn:
            await conn.execute("VACUUM ANALYZE plate_reads")
        copy_rate = load["loaded"] / load["copy_db_s"]
        return {"reads": load["loaded"], "days": days, "cameras": cameras, "vehicles": net.population,
                "batch": batch, "writers": writers, "copy_rows_per_s": round(copy_rate),
                "copy_with_encoding_rows_per_s": round(load["loaded"] / (load["copy_db_s"] + load["encode_s"])),
                "encoding_rows_per_s": round(load["loaded"] / load["encode_s"]),
                "generate_s": round(load["generate_s"], 1), "load_wall_s": round(load["load_wall_s"], 1),
                "insert_sample": insert_n, "insert_rows_per_s": round(insert_rate),
                "copy_vs_insert": round(copy_rate / insert_rate, 1),
                "store_frames_sample": frames_n, "store_frames_reads_per_s": round(frames_rate),
                **await _summarise(store, load["loaded"] + insert_n + frames_n, progress),
                **await _history(store, net, end, queries, seed),
                **await _history_after_checkpoint(store, net, end, queries, seed), **await _convoy(store, end),
                **await _history_without_summary(store, net, end, queries, seed),
                **await _history_with_index_in_memory(store, net, end, queries, seed),
                **await _sizes(store, load["loaded"] + insert_n + frames_n),
                "targets": TARGETS}
    finally:
        await store.close()


def bench_store(n: int = 10_000_000, days: int = HISTORY_DAYS, cameras: int = 400, batch: int = 50_000,
                writers: int = 2, insert_n: int = 20_000, frames_n: int = 50_000, queries: int = 400, seed: int = 10,
                database_url: str | None = None, progress: Any = None) -> dict[str, Any]:
    """Run the bench on a scratch database on ``database_url``'s server (else an embedded one)."""
    if n < 1000 or days < 1 or cameras < 1 or batch < 1 or insert_n < 1 or frames_n < 1 or queries < 2:
        raise ValueError("--n must be >= 1000; --days, --cameras, --batch, --insert-n, --frames-n >= 1; --queries >= 2")
    if not 1 <= writers <= 16:
        raise ValueError("--writers must be between 1 and 16")
    with scratch_database(database_url) as url:
        return asyncio.run(_bench(url, n, days, cameras, batch, writers, insert_n, frames_n, queries, seed, progress))


def format_report(r: dict[str, Any]) -> str:
    return "\n".join([
        f"{r['reads']:,} reads over {r['days']} days, {r['cameras']} cameras, {r['vehicles']:,} vehicles",
        f"ingest: COPY {r['copy_rows_per_s']:,} rows/s with {r['writers']} writer(s) (database time; "
        f"{r['copy_with_encoding_rows_per_s']:,} with encoding the rows in this process, which alone runs at "
        f"{r['encoding_rows_per_s']:,} rows/s) vs per-row INSERT {r['insert_rows_per_s']:,} rows/s: x{r['copy_vs_insert']} "
        f"(target >= {TARGETS['ingest_rows_per_s']:,} rows/s)",
        f"service bulk path (Store.store_frames, one process): {r['store_frames_reads_per_s']:,} reads/s",
        f"plate history, {HISTORY_DAYS} days: p50 {r['history_p50_ms']} ms, p99 {r['history_p99_ms']} ms, max "
        f"{r['history_max_ms']} ms over {r['history_queries']} plates ({r['history_rows_mean']} rows on average, "
        f"up to {r['history_rows_max']}) (target p99 <= {TARGETS['history_p99_ms']} ms); plates drawn as reads are: "
        f"p50 {r['history_by_read_p50_ms']} / p99 {r['history_by_read_p99_ms']} ms, drawn uniformly: "
        f"p50 {r['history_uniform_p50_ms']} / p99 {r['history_uniform_p99_ms']} ms",
        _after_checkpoint_line(r),
        f"plate history without the plate-day summary (every day of the window scanned, as before it; other "
        f"plates): p50 {r['history_without_summary_p50_ms']} ms, p99 {r['history_without_summary_p99_ms']} ms, "
        f"max {r['history_without_summary_max_ms']} ms",
        _index_in_memory_line(r),
        f"convoy query, {CONVOY_DAYS} days, most-read plate ({r['convoy_plate_passages']} passages, "
        f"{r['convoy_co_sightings']} co-sightings): {r['convoy_ms']} ms",
        f"size: {r['bytes_per_read']} bytes/read in plate_reads with indexes = {r['gb_per_million_reads']} GB per "
        f"million reads (no crops); database {r['database_bytes'] / 1e9:.2f} GB",
        f"plate-day summary: {r['plate_days_days']} days in {r['plate_days_build_s']} s "
        f"({r['plate_days_s_per_day']} s a day), {r['plate_days_rows']:,} rows, "
        f"{r['plate_days_bytes_per_read']} bytes/read",
    ])


def _after_checkpoint_line(r: dict[str, Any]) -> str:
    return _second_history_line(r, "after_checkpoint", "plate history after a CHECKPOINT",
                                lambda: f"{r['checkpoint_after_load_s']} s, written out the load; other plates, still cold")


def _index_in_memory_line(r: dict[str, Any]) -> str:
    return _second_history_line(r, "index_in_memory", "plate history with the plate index in memory",
                                lambda: f"{r['plate_index_bytes'] / 1e9:.2f} GB read into the page cache first; "
                                        "other plates")


def _second_history_line(r: dict[str, Any], key: str, title: str, detail: Callable[[], str]) -> str:
    """A history figure measured again under other conditions (``history_<key>_*``), or why it was not."""
    if r.get(f"history_{key}_p99_ms") is None:
        return f"{title}: not measured ({r.get(f'history_{key}_skipped')})"
    return (f"{title} ({detail()}): p50 {r[f'history_{key}_p50_ms']} ms, p99 {r[f'history_{key}_p99_ms']} ms, "
            f"max {r[f'history_{key}_max_ms']} ms")
