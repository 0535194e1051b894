"""Reads per camera per hour, the same answer on both engines (migration 0008).

Under TimescaleDB ``camera_hour_counts`` is a continuous aggregate with real-time aggregation:
the extension materializes complete hours on its policy and computes the newest ones when asked.
On plain PostgreSQL it is a summary table that :meth:`CameraHours.refresh` fills from a watermark
(every complete hour before ``camera_hour_refresh.refreshed_to`` is in it), and the query adds the
hours after the watermark from the reads themselves: the same rows as TimescaleDB gives.  Counts
hold no plate and are kept when retention erases the reads they count.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from lapi.store.periodic import run_periodically

if TYPE_CHECKING:
    from lapi.store.db import Store

LATE = timedelta(hours=2)  # each refresh counts again the hours this far before the watermark (late reads)
MAX_HOURS = 10_000         # rows one query may return

_FILTER = " AND (%(cams)s::text[] IS NULL OR camera_id = ANY(%(cams)s))"
QUERY_TIMESCALE = ("SELECT camera_id, hour, reads FROM camera_hour_counts WHERE hour >= %(s)s AND hour < %(e)s"
                   f"{_FILTER} ORDER BY hour, camera_id LIMIT %(n)s")
QUERY_PLAIN = (
    "WITH w AS (SELECT refreshed_to FROM camera_hour_refresh)"
    " SELECT camera_id, hour, reads FROM ("
    "  SELECT camera_id, hour, reads FROM camera_hour_counts, w"
    f"  WHERE hour >= %(s)s AND hour < %(e)s AND hour < w.refreshed_to{_FILTER}"
    "  UNION ALL"
    "  SELECT camera_id, date_trunc('hour', read_at, 'UTC') AS hour, count(*) AS reads FROM plate_reads, w"
    "  WHERE read_at >= greatest(w.refreshed_to, date_trunc('hour', %(s)s::timestamptz, 'UTC')) AND read_at < %(e)s"
    f"{_FILTER} GROUP BY 1, 2) x"
    " ORDER BY hour, camera_id LIMIT %(n)s")
REFRESH = (
    "INSERT INTO camera_hour_counts (camera_id, hour, reads)"
    " SELECT camera_id, date_trunc('hour', read_at, 'UTC'), count(*) FROM plate_reads"
    " WHERE read_at >= %(s)s AND read_at < %(e)s GROUP BY 1, 2"
    " ON CONFLICT (camera_id, hour) DO UPDATE SET reads = EXCLUDED.reads")


def hour_floor(t: datetime) -> datetime:
    t = t.astimezone(timezone.utc)
    return t.replace(minute=0, second=0, microsecond=0)


class CameraHours:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def counts(self, start: datetime, end: datetime, cameras: list[str] | None = None,
                     limit: int = MAX_HOURS) -> list[dict[str, Any]]:
        """(camera, hour, reads) for the hours starting in [start, end), oldest first."""
        query = QUERY_TIMESCALE if self.store.partitions.timescale else QUERY_PLAIN
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(query, {"s": start, "e": end, "cams": cameras or None, "n": limit})
            return [{"camera_id": c, "hour": h, "reads": n} for c, h, n in await cur.fetchall()]

    async def refresh(self, now: datetime | None = None) -> int:
        """Plain PostgreSQL: count the complete hours since the watermark (less :data:`LATE`) into the
        summary table and move the watermark; returns the rows written.  A no-op under TimescaleDB."""
        if self.store.partitions.timescale:
            return 0
        end = hour_floor(now or datetime.now(timezone.utc))
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                cur = await conn.execute("SELECT refreshed_to FROM camera_hour_refresh FOR UPDATE")
                (mark,) = await cur.fetchone()
                if mark is None:  # never refreshed: from the first read
                    cur = await conn.execute("SELECT min(read_at) FROM plate_reads")
                    first = (await cur.fetchone())[0]
                    start = hour_floor(first) if first is not None else end
                else:
                    start = mark - LATE
                if start >= end:
                    return 0
                cur = await conn.execute(REFRESH, {"s": start, "e": end})
                written = cur.rowcount
                await conn.execute("UPDATE camera_hour_refresh SET refreshed_to = greatest(refreshed_to, %s::timestamptz)",
                                   (end,))
        return written

    async def run_periodically(self, every: timedelta) -> None:
        """The service's refresh task (runs until cancelled)."""
        await run_periodically(self.refresh, every, "camera hour counts refresh")
