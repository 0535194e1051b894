"""The TimescaleDB path's policies, set at start-up from the configuration (migration 0008 made
the hypertables compressible and the continuous aggregate).

Policies are background jobs of the extension; an existing one is not changed by adding it again,
so each start removes and re-adds them in one transaction: a changed ``store.compress_after``
takes effect at the next start.  Retention is not a TimescaleDB policy: a policy would drop a
chunk whole, hit reads (kept a month) and reads held for a procedure with it.  The LAPI retention
job (lapi/store/retention.py) decides per day and drops whole chunks with ``drop_chunks`` when
nothing in them may be kept, deleting rows otherwise.  The statements are pure (unit-tested:
TimescaleDB is not installed where the tests run).
"""

from __future__ import annotations

from datetime import timedelta

import psycopg

AGGREGATE_START_OFFSET = timedelta(days=3)   # the continuous aggregate re-reads the last 3 days (late reads) ...
AGGREGATE_END_OFFSET = timedelta(hours=1)    # ... up to the last complete hour (the rest is real-time aggregation)
AGGREGATE_EVERY = timedelta(minutes=30)


def interval(d: timedelta) -> str:
    """A PostgreSQL interval literal for ``d`` (whole seconds)."""
    return f"INTERVAL '{int(d.total_seconds())} seconds'"


def policy_statements(compress_after: timedelta) -> list[str]:
    """Compression of reads and pings older than ``compress_after``; the hourly aggregate's refresh."""
    out = []
    for table in ("plate_reads", "beacon_pings"):
        out += [f"SELECT remove_compression_policy('{table}', if_exists => true)",
                f"SELECT add_compression_policy('{table}', compress_after => {interval(compress_after)})"]
    out += ["SELECT remove_continuous_aggregate_policy('camera_hour_counts', if_exists => true)",
            "SELECT add_continuous_aggregate_policy('camera_hour_counts',"
            f" start_offset => {interval(AGGREGATE_START_OFFSET)}, end_offset => {interval(AGGREGATE_END_OFFSET)},"
            f" schedule_interval => {interval(AGGREGATE_EVERY)})"]
    return out


async def apply_policies(conn: psycopg.AsyncConnection, compress_after: timedelta) -> None:
    """Set the policies (TimescaleDB path only), in one transaction."""
    async with conn.transaction():
        for statement in policy_statements(compress_after):
            await conn.execute(statement)


def drop_chunk_statement(table: str) -> str:
    """Drop the chunks of ``table`` that lie wholly in [%(s)s, %(e)s) (one day's chunk here)."""
    return f"SELECT drop_chunks('{table}', older_than => %(e)s::timestamptz, newer_than => %(s)s::timestamptz)"


CHUNKS = ("SELECT chunk_schema, chunk_name, range_start FROM timescaledb_information.chunks"
          " WHERE hypertable_name = %s ORDER BY range_start")
