"""Day partitions for the time-series tables on plain PostgreSQL.

A row whose day has no partition would be rejected, so writers call :meth:`DayPartitions.ensure`
for the days they are about to write.  Known days are cached per process; creation is idempotent
(``IF NOT EXISTS`` under an advisory lock), so several processes may race safely.
Under TimescaleDB chunks are created by the extension and this is a no-op.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import psycopg
from psycopg import sql

from lapi.store.timescale import CHUNKS

_READS_PARTITION = re.compile(r"^plate_reads_p(\d{8})$")


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def partition_ddl(table: str, day: date) -> sql.Composed:
    """CREATE TABLE IF NOT EXISTS for one UTC day of ``table``."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return sql.SQL("CREATE TABLE IF NOT EXISTS {part} PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})").format(
        part=sql.Identifier(partition_name(table, day)), table=sql.Identifier(table),
        lo=sql.Literal(start.isoformat()), hi=sql.Literal((start + timedelta(days=1)).isoformat()))


class DayPartitions:
    """Creates missing day partitions, remembering the ones already made."""

    def __init__(self, timescale: bool) -> None:
        self.timescale = timescale
        self._known: set[tuple[str, date]] = set()

    async def ensure(self, conn: psycopg.AsyncConnection, table: str, times: list[datetime]) -> None:
        if self.timescale:
            return
        days = {t.astimezone(timezone.utc).date() for t in times}
        missing = sorted(d for d in days if (table, d) not in self._known)
        if not missing:
            return
        # its own transaction: a partition made once is kept even if the caller's insert fails
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
            for day in missing:
                await conn.execute(partition_ddl(table, day))
        self._known.update((table, d) for d in missing)

    def forget(self, table: str, day: date) -> None:
        """A partition was dropped (retention): make it again if a row of that day ever comes."""
        self._known.discard((table, day))


async def reading_days(conn: psycopg.AsyncConnection, timescale: bool) -> list[tuple[date, str]]:
    """(UTC day, partition or chunk name) of every day that holds reads, oldest first."""
    if timescale:  # one-day chunks, aligned on UTC midnight
        cur = await conn.execute(CHUNKS, ("plate_reads",))
        return [(start.astimezone(timezone.utc).date(), f"{schema}.{name}")
                for schema, name, start in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'plate_reads' ORDER BY c.relname")
    found = []
    for (name,) in await cur.fetchall():
        match = _READS_PARTITION.match(name)
        if match:
            found.append((datetime.strptime(match.group(1), "%Y%m%d").date(), name))
    return found
