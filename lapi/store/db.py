"""The PostgreSQL store: one async connection pool, typed methods for each write and query.

Reads and their hits are written in one transaction, so a hit never exists without its read and a
read that matched is never stored without its hit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from lapi.cameras import Camera
from lapi.matching import Match, WatchEntry, match_read
from lapi.plates import normalise_plate
from lapi.reading.pipeline import PlateRead
from lapi.store.migrations import migrate
from lapi.store.partitions import DayPartitions
from lapi.store.pings import PingCopier
from trackers.pings import Ping


class NotFound(LookupError):
    """A referenced row does not exist (unknown camera, watchlist entry...)."""


class Conflict(ValueError):
    """The write collides with an existing row."""


@dataclass(frozen=True)
class StoredHit:
    id: int
    match: Match


@dataclass(frozen=True)
class StoredRead:
    id: int
    read_at: datetime
    read: PlateRead
    hits: list[StoredHit]


_WATCH_COLUMNS = "id, list_name, plate_norm, plate_text, category, reason, priority"


class Store:
    """Async access to the LAPI database."""

    def __init__(self, url: str, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        self.pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, open=False,
                                        kwargs={"autocommit": True})
        self.partitions = DayPartitions(timescale=False)
        self.copier = PingCopier()

    async def open(self) -> None:
        """Open the pool and bring the schema up to date."""
        await self.pool.open(wait=True, timeout=30)
        async with self.pool.connection() as conn:
            await migrate(conn)
            cur = await conn.execute("SELECT bool_or(timescale) FROM schema_migrations")
            self.partitions = DayPartitions(timescale=bool((await cur.fetchone())[0]))

    async def close(self) -> None:
        await self.pool.close()

    async def ping(self) -> bool:
        async with self.pool.connection() as conn:
            await conn.execute("SELECT 1")
        return True

    # cameras -------------------------------------------------------------------------------
    async def upsert_camera(self, cam: Camera) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO cameras (id, name, lat, lon, heading, road) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, lat = EXCLUDED.lat, lon = EXCLUDED.lon,"
                " heading = EXCLUDED.heading, road = EXCLUDED.road",
                (cam.id, cam.name, cam.lat, cam.lon, cam.heading, cam.road))

    async def get_camera(self, camera_id: str) -> Camera:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id, name, lat, lon, heading, road FROM cameras WHERE id = %s", (camera_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"unknown camera {camera_id!r}: register it first (POST /v1/cameras or [[cameras]] in the config)")
        return Camera(*row)

    async def list_cameras(self) -> list[Camera]:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id, name, lat, lon, heading, road FROM cameras ORDER BY id")
            return [Camera(*row) for row in await cur.fetchall()]

    # reads and hits --------------------------------------------------------------------------
    async def store_reads(self, camera_id: str, read_at: datetime, reads: list[PlateRead],
                          position: tuple[float | None, float | None, float | None] = (None, None, None)) -> list[StoredRead]:
        """Store a frame's reads, match them against the watchlist and record hits, atomically."""
        await self.get_camera(camera_id)
        if not reads:
            return []
        lat, lon, heading = position
        stored: list[StoredRead] = []
        async with self.pool.connection() as conn:
            await self.partitions.ensure(conn, "plate_reads", [read_at])
            async with conn.transaction():
                cur = await conn.execute(f"SELECT {_WATCH_COLUMNS} FROM watchlist_entries WHERE plate_norm = ANY(%s)",
                                         ([r.plate_norm for r in reads],))
                entries = [WatchEntry(*row) for row in await cur.fetchall()]
                for read in reads:
                    cur = await conn.execute(
                        "INSERT INTO plate_reads (read_at, camera_id, plate_text, plate_norm, country, plate_format,"
                        " confidence, char_confidences, box_x, box_y, box_w, box_h, detector_score, crop_jpeg, lat, lon,"
                        " heading) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                        (read_at, camera_id, read.text, read.plate_norm, read.country, read.format_name, read.confidence, list(read.char_confidences),
                         read.box.x, read.box.y, read.box.w, read.box.h, read.box.score, read.crop_jpeg or None,
                         lat, lon, heading))
                    read_id = (await cur.fetchone())[0]
                    hits = []
                    for m in match_read(read.plate_norm, entries):
                        cur = await conn.execute(
                            "INSERT INTO hits (read_id, read_at, camera_id, plate_norm, entry_id, list_name, match_type)"
                            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                            (read_id, read_at, camera_id, read.plate_norm, m.entry.id, m.entry.list_name, m.match_type))
                        hits.append(StoredHit((await cur.fetchone())[0], m))
                    stored.append(StoredRead(read_id, read_at, read, hits))
        return stored

    async def sightings(self, plate: str, start: datetime, end: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        """A vehicle's reads between two times, newest first (no crop bytes)."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT r.id, r.read_at, r.camera_id, r.plate_text, r.plate_norm, r.country, r.plate_format, r.confidence,"
                " r.box_x, r.box_y, r.box_w, r.box_h, coalesce(r.lat, c.lat) AS lat, coalesce(r.lon, c.lon) AS lon,"
                " EXISTS (SELECT 1 FROM hits h WHERE h.read_id = r.id AND h.read_at = r.read_at) AS hit"
                " FROM plate_reads r JOIN cameras c ON c.id = r.camera_id"
                " WHERE r.plate_norm = %s AND r.read_at >= %s AND r.read_at < %s"
                " ORDER BY r.read_at DESC LIMIT %s",
                (normalise_plate(plate), start, end, limit))
            return await cur.fetchall()

    async def read_crop(self, read_id: int) -> bytes | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT crop_jpeg FROM plate_reads WHERE id = %s", (read_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no read with id {read_id}")
        return row[0]

    # pings ---------------------------------------------------------------------------------
    async def store_pings(self, pings: list[Ping]) -> int:
        """Insert pings; a (beacon, fix time) already stored is skipped. Returns rows inserted."""
        if not pings:
            return 0
        async with self.pool.connection() as conn:
            await self.partitions.ensure(conn, "beacon_pings", [p.fix_time for p in pings])
            async with conn.transaction():
                return await self.copier.insert(conn, pings)

    async def pings(self, beacon_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT beacon_id, fix_time, lat, lon, speed_kmh, heading, altitude_m, accuracy_m, battery_pct"
                " FROM beacon_pings WHERE beacon_id = %s AND fix_time >= %s AND fix_time < %s ORDER BY fix_time",
                (beacon_id, start, end))
            return await cur.fetchall()

    # watchlist -----------------------------------------------------------------------------
    async def add_watch_entry(self, plate: str, list_name: str = "default", category: str = "", reason: str = "",
                              priority: int = 1, created_by: str = "") -> WatchEntry:
        norm = normalise_plate(plate)
        async with self.pool.connection() as conn:
            try:
                cur = await conn.execute(
                    "INSERT INTO watchlist_entries (list_name, plate_norm, plate_text, category, reason, priority, created_by)"
                    f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_WATCH_COLUMNS}",
                    (list_name, norm, plate.strip(), category, reason, priority, created_by))
            except errors.UniqueViolation:
                raise Conflict(f"{norm} is already on list {list_name!r}") from None
            return WatchEntry(*(await cur.fetchone()))

    async def list_watch_entries(self, list_name: str | None = None) -> list[WatchEntry]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_WATCH_COLUMNS} FROM watchlist_entries WHERE %s::text IS NULL OR list_name = %s ORDER BY id",
                (list_name, list_name))
            return [WatchEntry(*row) for row in await cur.fetchall()]

    async def remove_watch_entry(self, entry_id: int) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("DELETE FROM watchlist_entries WHERE id = %s", (entry_id,))
            if cur.rowcount == 0:
                raise NotFound(f"no watchlist entry with id {entry_id}")

    async def import_watch_entries(self, rows: list[dict[str, Any]], created_by: str = "") -> tuple[int, int]:
        """Insert validated rows in one transaction; returns (inserted, already present)."""
        inserted = 0
        async with self.pool.connection() as conn:
            async with conn.transaction():
                for row in rows:
                    cur = await conn.execute(
                        "INSERT INTO watchlist_entries (list_name, plate_norm, plate_text, category, reason, priority, created_by)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (list_name, plate_norm) DO NOTHING",
                        (row["list_name"], row["plate_norm"], row["plate_text"], row["category"], row["reason"],
                         row["priority"], created_by))
                    inserted += cur.rowcount
        return inserted, len(rows) - inserted


def parse_watchlist_csv(text: str, default_list: str = "default") -> list[dict[str, Any]]:
    """CSV with a header (``plate`` required; ``list``, ``category``, ``reason``, ``priority`` optional).

    Raises ValueError naming the line of the first bad row, so nothing is half-imported.
    """
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "plate" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ValueError("CSV needs a header row with a 'plate' column")
    rows = []
    for line_no, raw in enumerate(reader, start=2):
        rec = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        norm = normalise_plate(rec.get("plate", ""))
        if not 2 <= len(norm) <= 10:
            raise ValueError(f"line {line_no}: plate {rec.get('plate', '')!r} must have 2-10 letters/digits")
        try:
            priority = int(rec.get("priority") or 1)
        except ValueError:
            raise ValueError(f"line {line_no}: priority must be an integer 1-5") from None
        if not 1 <= priority <= 5:
            raise ValueError(f"line {line_no}: priority must be an integer 1-5")
        rows.append({"plate_norm": norm, "plate_text": rec["plate"], "list_name": rec.get("list") or default_list,
                     "category": rec.get("category", ""), "reason": rec.get("reason", ""), "priority": priority})
    if not rows:
        raise ValueError("CSV has no data rows")
    return rows
