"""The days each plate was read on, so that a plate history visits only those days' partitions.

Why: reads are partitioned by UTC day, and PostgreSQL has no index across partitions.  A 90-day
history descended the (plate, time) index of all 90 days, most of them to find nothing; at 50
million reads those indexes do not all stay in memory, and the cold descents made the history's
p99 (docs/scaling.md).  ``plate_days`` holds one (plate, day) row per plate and day it was read
on, in one B-tree: a history looks its plate up there once, then scans the partitions of those
days only (a LATERAL join; PostgreSQL prunes the other partitions at run time).

How it stays exact:

* A day is summarised (:meth:`PlateDays.refresh`) once it has been closed for :data:`GRACE`;
  ``plate_day_summaries`` lists the summarised days.  A history scans every other day of its
  window directly, as before (today, yesterday until the job has run).
* A reader that sends a read of an earlier day (a mobile reader back online, a retried upload)
  also writes a marker row for that day in ``plate_day_late``, in the same transaction
  (:func:`past_days`, :func:`mark_late_days`); a history scans a marked day directly.  The job
  summarises the day again and deletes the markers, in one REPEATABLE READ transaction: a marker
  committed after the job's snapshot is invisible to its DELETE and stays, as do the reads it
  marks for the next run.  Markers are inserted, never upserted, so writers never wait on each
  other or on the job.
* Retention erasing reads of a day drops that day's summary in the same transaction
  (lapi/store/retention.py): the summary never keeps a plate's day after its reads are gone.
  The two never work on one day at once (:func:`day_lock`).

The ingest path pays nothing for live reads (today's); the summary costs one row per plate and
day (78 bytes per read with its indexes at 50 million synthetic reads, mostly one-off vehicles;
lapi bench store reports it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection

from lapi.retention import day_bounds
from lapi.store.partitions import reading_days
from lapi.store.periodic import job_lock, run_periodically
from lapi.store.read_classes import HIT_READ

if TYPE_CHECKING:
    from lapi.store.db import Store

log = logging.getLogger(__name__)

GRACE = timedelta(hours=1)   # a day is summarised this long after it closes: its last batches are in
JOB_LOCK = 0x1A9107          # advisory lock: one summary run at a time, across processes

_FIRST_DAY = "(%(s)s::timestamptz AT TIME ZONE 'UTC')::date"
_LAST_DAY = "((%(e)s::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond')::date"
# The days of [s, e) a history must scan: those the plate was read on, and those not summarised
# (or marked late), whose reads the summary cannot vouch for.
_SCANNED_DAYS = (
    f"SELECT day FROM plate_days WHERE plate_norm = %(p)s AND day BETWEEN {_FIRST_DAY} AND {_LAST_DAY}"
    " UNION"
    f" SELECT d::date FROM generate_series({_FIRST_DAY}::timestamp, {_LAST_DAY}::timestamp, interval '1 day') d"
    " WHERE NOT EXISTS (SELECT 1 FROM plate_day_summaries s WHERE s.day = d::date)"
    " OR EXISTS (SELECT 1 FROM plate_day_late l WHERE l.day = d::date)")
# one day's bounds inside the window, for the LATERAL scan of that day's partition
_DAY_START = "greatest(%(s)s, days.day::timestamp AT TIME ZONE 'UTC')"
_DAY_END = "least(%(e)s, (days.day + 1)::timestamp AT TIME ZONE 'UTC')"

# A plate's reads in [s, e), newest first, at most n; hits only when %(hits)s (what
# GET /v1/vehicles/{plate}/sightings answers).
SIGHTINGS = (
    f"WITH days AS ({_SCANNED_DAYS})"
    " SELECT r.id, r.read_at, r.camera_id, r.plate_text, r.plate_norm, r.country, r.plate_format, r.confidence,"
    " r.box_x, r.box_y, r.box_w, r.box_h, coalesce(r.lat, c.lat) AS lat, coalesce(r.lon, c.lon) AS lon,"
    " EXISTS (SELECT 1 FROM hits h WHERE h.read_id = r.id AND h.read_at = r.read_at) AS hit"
    " FROM days CROSS JOIN LATERAL ("
    "  SELECT r.id, r.read_at, r.camera_id, r.plate_text, r.plate_norm, r.country, r.plate_format, r.confidence,"
    "  r.box_x, r.box_y, r.box_w, r.box_h, r.lat, r.lon FROM plate_reads r"
    f"  WHERE r.plate_norm = %(p)s AND r.read_at >= {_DAY_START} AND r.read_at < {_DAY_END}"
    f"  AND (NOT %(hits)s OR {HIT_READ}) ORDER BY r.read_at DESC LIMIT %(n)s) r"
    " JOIN cameras c ON c.id = r.camera_id"
    " ORDER BY r.read_at DESC LIMIT %(n)s")

# For the history's transaction.  One generic plan for every plate and window: planning anew costs
# ~0.1 ms per day partition of the window, more than running it.  No JIT: the plan's cost counts every
# partition it may visit, so on a large database PostgreSQL compiled it at every call, for seconds
# (3.7 s a history at 50 M reads for a query that runs in 1.5 ms; docs/benchmarks.md).
SIGHTINGS_SETTINGS = ("SET LOCAL plan_cache_mode = force_generic_plan", "SET LOCAL jit = off")

_SUMMARISE = ("INSERT INTO plate_days (plate_norm, day) SELECT DISTINCT plate_norm, %(d)s::date FROM plate_reads"
              " WHERE read_at >= %(s)s AND read_at < %(e)s ON CONFLICT DO NOTHING")


def past_days(times: Iterable[datetime], now: datetime) -> list[date]:
    """The UTC days of ``times`` before ``now``'s UTC day: reads a summary may already cover."""
    today = now.astimezone(timezone.utc).date()
    return sorted({d for d in (t.astimezone(timezone.utc).date() for t in times) if d < today})


async def mark_late_days(conn: AsyncConnection, days: list[date]) -> None:
    """Inside the writer's transaction: mark earlier days (:func:`past_days`) it writes reads of."""
    if days:
        await conn.execute("INSERT INTO plate_day_late (day) SELECT unnest(%s::date[])", (days,))


def due(days_with_reads: Iterable[date], summarised: set[date], late: set[date], now: datetime) -> list[date]:
    """Days to summarise now: holding reads, closed for :data:`GRACE`, and never summarised or marked
    late; oldest first."""
    closed = (now - GRACE).astimezone(timezone.utc).date()  # days before this one have closed long enough
    return sorted(d for d in days_with_reads if d < closed and (d not in summarised or d in late))


def day_lock(day: date) -> tuple[int, int]:
    """The advisory lock (two keys) under which a day is summarised or has reads erased: retention
    must not delete a day's summary while the job is writing it from reads about to go."""
    return JOB_LOCK, day.toordinal()


class PlateDays:
    """Fills ``plate_days`` from the reads of closed days; the history query reads it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def refresh(self, now: datetime | None = None) -> dict[str, Any]:
        """Summarise every due day (see :func:`due`); returns the days done and the rows added."""
        now = now or datetime.now(timezone.utc)
        done: list[str] = []
        rows = 0
        async with self.store.pool.connection() as conn, job_lock(conn, JOB_LOCK, wait=False) as held:
            if not held:
                return {"skipped": "another summary run is in progress"}
            days = [d for d, _ in await reading_days(conn, self.store.partitions.timescale)]
            cur = await conn.execute("SELECT day FROM plate_day_summaries")
            summarised = {d for (d,) in await cur.fetchall()}
            cur = await conn.execute("SELECT DISTINCT day FROM plate_day_late")
            late = {d for (d,) in await cur.fetchall()}
            # markers of days with no reads left (dropped by retention) vouch for nothing
            await conn.execute("DELETE FROM plate_day_late WHERE day <> ALL(%s::date[])", (days,))
            todo = due(days, summarised, late, now)
            for i, day in enumerate(todo, 1):
                t0 = time.perf_counter()
                added = await self._summarise(conn, day)
                rows += added
                done.append(day.isoformat())
                log.info("plate days: %s summarised (%d new plate-days, %.1f s), %d of %d",
                         day, added, time.perf_counter() - t0, i, len(todo))
        return {"days": done, "rows": rows}

    @staticmethod
    async def _summarise(conn: AsyncConnection, day: date) -> int:
        start, end = day_bounds(day)
        # the day's lock before the snapshot: a snapshot taken while waiting would miss what
        # retention erased meanwhile, and write it back into the summary
        async with job_lock(conn, *day_lock(day)), conn.transaction():
            # one snapshot for the reads and the markers: a marker it cannot see marks reads it did not see
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = await conn.execute(_SUMMARISE, {"d": day, "s": start, "e": end})
            added = cur.rowcount
            await conn.execute("DELETE FROM plate_day_late WHERE day = %s", (day,))
            await conn.execute("INSERT INTO plate_day_summaries (day) VALUES (%s)"
                               " ON CONFLICT (day) DO UPDATE SET summarised_at = now()", (day,))
        return added

    async def run_periodically(self, every: timedelta) -> None:
        """The service's summary task (runs until cancelled)."""
        await run_periodically(self.refresh, every, "plate days summary")


async def forget_day(conn: AsyncConnection, day: date) -> None:
    """Inside retention's transaction, under :func:`day_lock`: the day's summary goes with its erased
    reads; the next run summarises what is left of the day."""
    await conn.execute("DELETE FROM plate_days WHERE day = %s", (day,))
    await conn.execute("DELETE FROM plate_day_summaries WHERE day = %s", (day,))
