"""The plate-day summary (lapi/store/plate_days.py): a history answers the same rows before and
after the summary, late reads are found before and after the next run, a marker committed after the
job's snapshot survives it, retention takes the summary with the reads, and a history scans only
the partitions of the plate's days (the point of it all), against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, timedelta, timezone

import psycopg

from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.retention import RetentionRules
from lapi.store.plate_days import (GRACE, SIGHTINGS, SIGHTINGS_SETTINGS, PlateDays, day_lock, due, mark_late_days,
                                   past_days)
from lapi.store.retention import RetentionJob

NOW = datetime.now(timezone.utc)
TODAY = NOW.date()


def read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(1, 2, 3, 4, 0.8), b"")


def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
    """A time ``days_ago`` UTC days before today (2 or more: closed for longer than GRACE at any hour)."""
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), timezone.utc).replace(
        hour=hour, minute=minute)


async def rows(store, sql: str, *params) -> list[tuple]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


# pure ------------------------------------------------------------------------------------------

def test_past_days_are_the_days_before_today_utc():
    now = datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc)
    times = [now, now - timedelta(minutes=45), now - timedelta(days=3), datetime(2026, 11, 23, 1, 0,
             tzinfo=timezone(timedelta(hours=2)))]  # 23:00 UTC on the 22nd
    assert past_days(times, now) == [date(2026, 11, 20), date(2026, 11, 22)]
    assert past_days([now], now) == []


def test_due_days_are_closed_for_the_grace_and_new_or_late():
    now = datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc)  # the 22nd closed 30 minutes ago
    days = [date(2026, 11, d) for d in (19, 20, 21, 22, 23)]
    summarised = {date(2026, 11, 19), date(2026, 11, 20)}
    assert GRACE == timedelta(hours=1)
    assert due(days, summarised, set(), now) == [date(2026, 11, 21)]
    assert due(days, summarised, {date(2026, 11, 19), date(2026, 11, 22)}, now) == [date(2026, 11, 19),
                                                                                   date(2026, 11, 21)]
    assert due(days, summarised, {date(2026, 11, 10)}, now) == [date(2026, 11, 21)]  # a day with no reads left
    later = now + timedelta(hours=1)
    assert due(days, summarised, {date(2026, 11, 22)}, later) == [date(2026, 11, 21), date(2026, 11, 22)]


# against PostgreSQL -------------------------------------------------------------------------------

async def _load(store) -> list[str]:
    """Reads over the last ten days (and today) for a few plates, some days only."""
    rng = random.Random(5)
    plates = [f"AB{i:03d}CD" for i in range(8)]
    frames = []
    for days_ago in range(10, -1, -1):
        for hour in (0, 7, 13, 23):
            if days_ago == 0 and hour > NOW.hour - 1:
                continue
            seen = [p for p in plates if rng.random() < 0.3]
            if seen:
                frames.append(("cam-1", at(days_ago, hour, rng.randrange(60)), [read(p) for p in seen]))
    await store.store_frames(frames)
    return plates


WINDOWS = [(at(12, 0), NOW + timedelta(hours=1)), (at(8, 7, 30), at(3, 13, 0)), (at(5, 0), at(4, 0)),
           (at(9, 23, 59), at(9, 23, 59)), (at(3, 0), at(6, 0))]  # the last two: empty windows


async def _histories(store, plates: list[str]) -> list:
    out = []
    for p in plates:
        for start, end in WINDOWS:
            out.append(await store.sightings(p, start, end))
            out.append(await store.sightings(p, start, end, limit=3))
            out.append(await store.sightings(p, start, end, hits_only=True))
    return out


async def test_history_is_the_same_before_and_after_the_summary(store):
    plates = await _load(store)
    before = await _histories(store, plates)
    assert sum(len(h) for h in before) > 100
    assert await rows(store, "SELECT count(*) FROM plate_day_late") != [(0,)]  # earlier days were marked
    result = await PlateDays(store).refresh(NOW)
    assert result["days"] == [(TODAY - timedelta(days=d)).isoformat() for d in range(10, 1, -1)] + (
        [(TODAY - timedelta(days=1)).isoformat()] if (NOW - GRACE).date() == TODAY else [])
    assert await rows(store, "SELECT count(*) FROM plate_day_late WHERE day < %s",
                      TODAY - timedelta(days=1)) == [(0,)]
    expected = await rows(store, "SELECT DISTINCT plate_norm, (read_at AT TIME ZONE 'UTC')::date FROM plate_reads"
                                 " WHERE read_at < %s ORDER BY 1, 2", at(1, 0))
    assert await rows(store, "SELECT plate_norm, day FROM plate_days WHERE day < %s ORDER BY 1, 2",
                      TODAY - timedelta(days=1)) == expected
    assert await _histories(store, plates) == before
    assert (await PlateDays(store).refresh(NOW))["days"] == []  # nothing new: nothing done


async def test_a_late_read_is_found_before_and_after_the_next_summary(store):
    await _load(store)
    jobs = PlateDays(store)
    await jobs.refresh(NOW)
    late_at = at(6, 12)
    assert await store.sightings("ZZ999ZZ", at(10, 0), NOW) == []
    await store.store_reads("cam-1", late_at, [read("ZZ999ZZ")])  # a reader back online
    # (only days closed for the grace are summarised: the clock passing midnight during the test
    # leaves a marker on the day just closed, so these checks look at the days they wrote)
    assert await rows(store, "SELECT count(*) FROM plate_day_late WHERE day = %s", late_at.date()) == [(1,)]
    found = await store.sightings("ZZ999ZZ", at(10, 0), NOW)
    assert [r["read_at"] for r in found] == [late_at]  # the marked day is scanned directly
    assert (await jobs.refresh(NOW))["days"] == [late_at.date().isoformat()]
    assert await rows(store, "SELECT count(*) FROM plate_day_late WHERE day = %s", late_at.date()) == [(0,)]
    assert await rows(store, "SELECT day FROM plate_days WHERE plate_norm = 'ZZ999ZZ'") == [(late_at.date(),)]
    assert [r["read_at"] for r in await store.sightings("ZZ999ZZ", at(10, 0), NOW)] == [late_at]


async def test_a_marker_committed_after_the_jobs_snapshot_survives_it(store, database_url):
    """The race the REPEATABLE READ summary closes: a writer's reads and marker commit while the job
    summarises that day; the job must neither see the reads nor delete the marker."""
    await _load(store)
    jobs = PlateDays(store)
    await jobs.refresh(NOW)
    day_at = at(4, 9)
    await store.store_reads("cam-1", day_at, [read("LA001TE")])  # a committed late read: the day is due
    async with await psycopg.AsyncConnection.connect(database_url) as writer:  # a transaction left open
        await writer.execute(
            "INSERT INTO plate_reads (read_at, camera_id, plate_text, plate_norm, confidence, box_x, box_y, box_w,"
            " box_h, detector_score) VALUES (%s, 'cam-1', 'LA002TE', 'LA002TE', 0.9, 0, 0, 10, 5, 0.9)",
            (day_at + timedelta(minutes=1),))
        await mark_late_days(writer, past_days([day_at], NOW))
        assert (await jobs.refresh(NOW))["days"] == [day_at.date().isoformat()]
        await writer.commit()
    # the writer's marker stays
    assert await rows(store, "SELECT count(*) FROM plate_day_late WHERE day = %s", day_at.date()) == [(1,)]
    assert await rows(store, "SELECT plate_norm FROM plate_days WHERE plate_norm LIKE 'LA%%' ORDER BY 1") == [
        ("LA001TE",)]
    assert len(await store.sightings("LA002TE", at(10, 0), NOW)) == 1  # found: its day is scanned directly
    await jobs.refresh(NOW)
    assert await rows(store, "SELECT plate_norm FROM plate_days WHERE plate_norm LIKE 'LA%%' ORDER BY 1") == [
        ("LA001TE",), ("LA002TE",)]
    assert await rows(store, "SELECT count(*) FROM plate_day_late WHERE day = %s", day_at.date()) == [(0,)]


async def test_retention_takes_the_summary_with_the_reads(store):
    old, kept = at(40, 10), at(3, 10)
    await store.store_frames([("cam-1", old, [read("OL001DD")]), ("cam-1", kept, [read("OL001DD")])])
    await PlateDays(store).refresh(NOW)
    assert await rows(store, "SELECT day FROM plate_days ORDER BY day") == [(old.date(),), (kept.date(),)]
    erased = await RetentionJob(store, RetentionRules(timedelta(days=15), timedelta(days=30))).run(NOW)
    assert erased["non_hit_reads"] == 1
    assert await rows(store, "SELECT day FROM plate_days") == [(kept.date(),)]
    assert await rows(store, "SELECT day FROM plate_day_summaries") == [(kept.date(),)]
    assert [r["read_at"] for r in await store.sightings("OL001DD", at(60, 0), NOW)] == [kept]


async def test_retention_waits_for_a_days_summary_in_progress(store, database_url):
    """The summary of a day and the erasure of its reads exclude each other (:func:`day_lock`): a
    summary written from reads erased meanwhile would keep their plates' day."""
    old = at(40, 10)
    await store.store_frames([("cam-1", old, [read("OL002DD")])])
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as summariser:
        await summariser.execute("SELECT pg_advisory_lock(%s, %s)", day_lock(old.date()))
        run = asyncio.create_task(RetentionJob(store, RetentionRules(timedelta(days=15), timedelta(days=30))).run(NOW))
        await asyncio.sleep(0.5)
        assert not run.done()
        await summariser.execute("SELECT pg_advisory_unlock(%s, %s)", day_lock(old.date()))
        erased = await asyncio.wait_for(run, 10)
    assert erased["non_hit_reads"] == 1


async def test_markers_of_days_without_reads_are_dropped(store):
    async with store.pool.connection() as conn:
        await mark_late_days(conn, [TODAY - timedelta(days=50)])
    await PlateDays(store).refresh(NOW)
    assert await rows(store, "SELECT count(*) FROM plate_day_late") == [(0,)]


async def test_a_history_scans_only_the_partitions_of_its_days(store):
    frames = [("cam-1", at(d, 10), [read("EX001PL" if d in (3, 7) else "OT001HR")]) for d in range(2, 12)]
    await store.store_frames(frames)
    await PlateDays(store).refresh(NOW)
    params = {"p": "EX001PL", "s": at(30, 0), "e": at(1, 0), "hits": False, "n": 1000}
    async with store.pool.connection() as conn, conn.transaction():
        # a server that would JIT-compile anything (as a large database's costs make it): the
        # history's own settings must still turn it off
        for knob in ("jit_above_cost", "jit_inline_above_cost", "jit_optimize_above_cost"):
            await conn.execute(f"SET LOCAL {knob} = 0")
        for setting in SIGHTINGS_SETTINGS:
            await conn.execute(setting)
        cur = await conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {SIGHTINGS}", params)
        plan = [line for (line,) in await cur.fetchall()]
    scans = [line for line in plan if "Index Scan" in line and "plate_reads_p" in line]
    executed = [line for line in scans if "never executed" not in line]
    assert len(scans) == 10 and len(executed) == 2, "\n".join(plan)
    assert not any("JIT" in line for line in plan), "\n".join(plan)
    found = await store.sightings("EX001PL", at(30, 0), at(1, 0))
    assert [r["read_at"] for r in found] == [at(3, 10), at(7, 10)]
