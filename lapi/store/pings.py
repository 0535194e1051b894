"""Bulk ping insertion: COPY into a per-session staging table, then one INSERT .. ON CONFLICT.

COPY is the fast path into PostgreSQL but cannot skip duplicates; staging first lets a
(beacon, fix time) already stored be skipped in the same statement.  Pings come in groups (one
per device packet or HTTP request, coalesced into one transaction by the ingest writer) and the
statement reports how many of each group were new, so every sender gets its own answer.
Runs inside the caller's transaction.
"""

from __future__ import annotations

import psycopg

from trackers.pings import Ping

_COLUMNS = "beacon_id, fix_time, lat, lon, speed_kmh, heading, altitude_m, accuracy_m, battery_pct"
_STAGE_DDL = ("CREATE TEMP TABLE IF NOT EXISTS ping_stage (grp integer, beacon_id text, fix_time timestamptz,"
              " lat double precision, lon double precision, speed_kmh real, heading real, altitude_m real,"
              " accuracy_m real, battery_pct real) ON COMMIT DELETE ROWS")
# the staging rows are deleted by the statement itself (so a second call in one transaction
# counts right) and ON COMMIT DELETE ROWS truncates the table (temp tables are never vacuumed);
# a row duplicated across groups is credited to the first group
_MOVE_COUNTED = (f"WITH staged AS (DELETE FROM ping_stage RETURNING grp, {_COLUMNS}),"
         f" ins AS (INSERT INTO beacon_pings ({_COLUMNS}) SELECT {_COLUMNS} FROM staged"
         "  ON CONFLICT (beacon_id, fix_time) DO NOTHING RETURNING beacon_id, fix_time)"
         " SELECT g.grp, count(*) FROM ins JOIN (SELECT DISTINCT ON (beacon_id, fix_time) grp, beacon_id, fix_time"
         "  FROM staged ORDER BY beacon_id, fix_time, grp) g USING (beacon_id, fix_time) GROUP BY g.grp")
_STAGE_TYPES = ["int4", "text", "timestamptz", "float8", "float8", "float4", "float4", "float4", "float4", "float4"]
_MOVE = (f"WITH staged AS (DELETE FROM ping_stage RETURNING {_COLUMNS})"
         f" INSERT INTO beacon_pings ({_COLUMNS}) SELECT {_COLUMNS} FROM staged ON CONFLICT (beacon_id, fix_time) DO NOTHING")


class PingCopier:
    """Remembers which server sessions already have the staging table."""

    def __init__(self) -> None:
        self._staged: set[int] = set()

    async def insert_groups(self, conn: psycopg.AsyncConnection, groups: list[list[Ping]],
                            per_group: bool = True) -> list[int]:
        """Insert every group's pings (inside a transaction); returns how many of each group were new.

        With ``per_group=False`` the new rows are only counted in total (returned as the only
        element): cheaper, for senders that are told nothing but "received".
        """
        if not any(groups):
            return [0] * len(groups) if per_group else [0]
        pid = conn.info.backend_pid
        if pid not in self._staged:
            await conn.execute(_STAGE_DDL)
            self._staged.add(pid)
        cur = conn.cursor()
        # binary COPY: ~0.6 µs a row against ~4 µs in text (no datetime/float formatting)
        async with cur.copy(f"COPY ping_stage (grp, {_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_STAGE_TYPES)
            for grp, pings in enumerate(groups):
                for p in pings:
                    await copy.write_row((grp, p.beacon_id, p.fix_time, p.lat, p.lon, p.speed_kmh, p.heading,
                                          p.altitude_m, p.accuracy_m, p.battery_pct))
        if not per_group:
            await cur.execute(_MOVE)
            return [cur.rowcount]
        await cur.execute(_MOVE_COUNTED)
        counts = [0] * len(groups)
        for grp, n in await cur.fetchall():
            counts[grp] = n
        return counts

    async def insert(self, conn: psycopg.AsyncConnection, pings: list[Ping]) -> int:
        """Insert ``pings`` (inside a transaction); returns how many were new."""
        return (await self.insert_groups(conn, [pings]))[0]
