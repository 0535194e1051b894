"""Versioned schema migrations, applied at start-up.

Each ``migrations/NNNN_name.sql`` runs once, in order, in its own transaction, recorded in
``schema_migrations``.  An advisory lock makes several ``lapi serve`` processes starting together
apply them exactly once.

Time-series tables are written in plain PostgreSQL (``PARTITION BY RANGE (col)``, day partitions
made on demand by :mod:`lapi.store.partitions`).  When the TimescaleDB extension is available the
same DDL is rendered for it instead: the partition clause is dropped and the table becomes a
hypertable with one-day chunks.  Where the two engines need different DDL (migration 0008), a
line ``-- [plain]`` or ``-- [timescale]`` starts statements for that engine only and ``-- [both]``
ends them.  :func:`render_migration` is pure so both forms are unit-tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

_LOCK_KEY = 0x1A9100  # advisory lock id for "LAPI migrations"
_PARTITIONED = re.compile(r"CREATE TABLE (\w+) \(([^;]*?)\n\) PARTITION BY RANGE \((\w+)\);")
_SECTION = re.compile(r"^-- \[(plain|timescale|both)\]\s*$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """All migrations shipped in the package, by version."""
    found = []
    for entry in resources.files("lapi.store").joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


def partitioned_tables(sql: str) -> list[tuple[str, str]]:
    """(table, time column) for each day-partitioned table the SQL creates."""
    return [(m.group(1), m.group(3)) for m in _PARTITIONED.finditer(sql)]


def engine_sections(sql: str, timescale: bool) -> str:
    """``sql`` without the lines of the other engine's ``-- [plain]`` / ``-- [timescale]`` sections."""
    keep, out = True, []
    for line in sql.splitlines(keepends=True):
        marker = _SECTION.match(line)
        if marker:
            keep = marker.group(1) in ("both", "timescale" if timescale else "plain")
        elif keep:
            out.append(line)
    return "".join(out)


def render_migration(sql: str, timescale: bool) -> str:
    """The SQL to execute: unchanged for PostgreSQL, hypertables for TimescaleDB; either way only
    the engine's own sections."""
    sql = engine_sections(sql, timescale)
    if not timescale:
        return sql

    def to_hypertable(m: re.Match) -> str:
        table, body, column = m.group(1), m.group(2), m.group(3)
        return (f"CREATE TABLE {table} ({body}\n);\n"
                f"SELECT create_hypertable('{table}', by_range('{column}', INTERVAL '1 day'));")

    return _PARTITIONED.sub(to_hypertable, sql)


async def timescale_available(conn: psycopg.AsyncConnection) -> bool:
    cur = await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    return await cur.fetchone() is not None


async def migrate(conn: psycopg.AsyncConnection, use_timescale: bool | None = None) -> list[int]:
    """Apply pending migrations; returns the versions applied now.

    ``use_timescale=None`` means: use TimescaleDB when the server offers it.
    """
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), timescale boolean NOT NULL)")
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        if use_timescale is None:
            cur = await conn.execute("SELECT bool_or(timescale) FROM schema_migrations")
            previous = (await cur.fetchone())[0]
            use_timescale = previous if previous is not None else await timescale_available(conn)
        if use_timescale:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        for migration in load_migrations():
            if migration.version in done:
                continue
            await conn.execute(render_migration(migration.sql, use_timescale))
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, timescale) VALUES (%s, %s, %s)",
                (migration.version, migration.name, use_timescale))
            applied_now.append(migration.version)
    return applied_now
