"""The PostgreSQL store: one async connection pool, typed methods for each write and query.

Reads, their hits and the hits' outbox alerts are written in one transaction (one statement,
:mod:`lapi.store.frames`), so a hit never exists without its read or its alert, and a read that
matched is never stored without its hit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from lapi.alerts import AlertFilter
from lapi.cameras import Camera
from lapi.matching import DEFAULT_MAX_COST, Match, WatchEntry
from lapi.plates import normalise_plate
from lapi.reading.pipeline import PlateRead
from lapi.store.errors import Conflict, NotFound
from lapi.store.frames import ALERT_LOCK, Frame, FrameWriter  # noqa: F401 - ALERT_LOCK kept importable
from lapi.store.migrations import migrate
from lapi.store.notify import NotifyListener
from lapi.store.partitions import DayPartitions
from lapi.store.pings import PingCopier
from lapi.store.plate_days import SIGHTINGS, SIGHTINGS_SETTINGS
from lapi.store.read_classes import HIT_READ
from lapi.store.watchlists import WatchlistStore, index_entry
from lapi.watchlists import parse_watchlist_csv  # noqa: F401 - kept importable from here
from trackers.pings import Ping

CAMERA_CACHE_S = 30.0
HIT_STATUSES = ("new", "confirmed", "rejected")


class FrameSeen(Exception):
    """A frame key this camera already used: the frame was stored before (a retry)."""

    def __init__(self, camera_id: str, key: str) -> None:
        super().__init__(f"frame {key!r} of camera {camera_id!r} was already stored")
        self.camera_id, self.key = camera_id, key


@dataclass(frozen=True)
class StoredHit:
    id: int
    match: Match
    alert_id: int = 0
    alert: dict[str, Any] = field(default_factory=dict)  # as consumers receive it, alert_id included


@dataclass(frozen=True)
class StoredRead:
    id: int
    read_at: datetime
    read: PlateRead
    hits: list[StoredHit]


_HIT_COLUMNS = ("h.id, h.read_id, h.read_at, h.camera_id, h.plate_norm, h.entry_id, h.list_name, h.match_type,"
                " h.cost::float8 AS cost, h.read_confidence, h.pattern, h.category, h.priority, h.status, h.decided_by,"
                " h.decided_at, h.decision_reason, h.created_at, h.retroactive, r.plate_text, o.id AS alert_id")
_HIT_FROM = (" FROM hits h LEFT JOIN plate_reads r ON r.id = h.read_id AND r.read_at = h.read_at"
             " LEFT JOIN alert_outbox o ON o.hit_id = h.id")


def alert_message(alert_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox row as consumers receive it."""
    return {"type": payload.get("type", "hit"), "alert_id": alert_id, **payload}


class Store:
    """Async access to the LAPI database."""

    def __init__(self, url: str, min_size: int = 1, max_size: int = 8, *, listen: bool = False,
                 default_max_cost: float = DEFAULT_MAX_COST) -> None:
        """``listen``: follow other processes' watchlist changes and alerts (LISTEN/NOTIFY)."""
        self.url = url
        self.pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, open=False,
                                        kwargs={"autocommit": True})
        self.partitions = DayPartitions(timescale=False)
        self.copier = PingCopier()
        self.watchlists = WatchlistStore(self, default_max_cost)
        self.listen = listen
        self._listener: NotifyListener | None = None
        self._alert_listeners: list[Callable[[list[dict[str, Any]] | None], None]] = []
        self._sync_task: asyncio.Task | None = None
        self._cameras: dict[str, tuple[float, Camera]] = {}  # id -> (valid until, camera)
        self.notify_token = uuid.uuid4().hex  # payload of this process's lapi_alerts notifications
        self.frames = FrameWriter(self)

    async def open(self) -> None:
        """Open the pool, bring the schema up to date and load the watchlist index."""
        await self.pool.open(wait=True, timeout=30)
        async with self.pool.connection() as conn:
            await migrate(conn)
            cur = await conn.execute("SELECT bool_or(timescale) FROM schema_migrations")
            self.partitions = DayPartitions(timescale=bool((await cur.fetchone())[0]))
        await self.watchlists.load()
        if self.listen:
            self._listener = NotifyListener(self.url, {"lapi_watchlist": self._watchlist_announced,
                                                       "lapi_alerts": self._alerts_announced})
            self._listener.start()

    async def close(self) -> None:
        await self.frames.close()
        if self._listener is not None:
            await self._listener.stop()
        if self._sync_task is not None:
            await asyncio.gather(self._sync_task, return_exceptions=True)
        await self.pool.close()

    def _alerts_announced(self, payload: str | None) -> None:
        if payload != self.notify_token:  # this process's own commits were reported already
            self._alerts_committed(None)

    def _watchlist_announced(self, payload: str | None = None) -> None:
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self.watchlists.sync(), name="lapi-watchlist-sync")
        else:  # a sync is running: run one more after it, for what it may have started too early to see
            previous = self._sync_task

            async def again() -> None:
                await asyncio.gather(previous, return_exceptions=True)
                await self.watchlists.sync()

            self._sync_task = asyncio.create_task(again(), name="lapi-watchlist-sync")

    # alert listeners -------------------------------------------------------------------------
    def on_alerts(self, callback: Callable[[list[dict[str, Any]] | None], None]) -> None:
        """Call ``callback`` (must not block) whenever alerts were committed: with the alerts when
        this process committed them, with None when another process did (``listen``) or it is not
        known which; it then reads the outbox from its last alert id."""
        self._alert_listeners.append(callback)

    def off_alerts(self, callback: Callable[[list[dict[str, Any]] | None], None]) -> None:
        if callback in self._alert_listeners:
            self._alert_listeners.remove(callback)

    def _alerts_committed(self, alerts: list[dict[str, Any]] | None = None) -> None:
        for callback in list(self._alert_listeners):
            callback(alerts)

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
        self._cameras.pop(cam.id, None)

    async def get_camera(self, camera_id: str) -> Camera:
        """The camera, from a cache kept :data:`CAMERA_CACHE_S` (every frame needs it; another
        process's change to a camera shows within that time)."""
        cached = self._cameras.get(camera_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id, name, lat, lon, heading, road FROM cameras WHERE id = %s", (camera_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"unknown camera {camera_id!r}: register it first (POST /v1/cameras or [[cameras]] in the config)")
        self._cameras[camera_id] = (now + CAMERA_CACHE_S, Camera(*row))
        return self._cameras[camera_id][1]

    async def list_cameras(self) -> list[Camera]:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id, name, lat, lon, heading, road FROM cameras ORDER BY id")
            return [Camera(*row) for row in await cur.fetchall()]

    # reads and hits --------------------------------------------------------------------------
    async def store_reads(self, camera_id: str, read_at: datetime, reads: list[PlateRead],
                          position: tuple[float | None, float | None, float | None] = (None, None, None),
                          key: str | None = None) -> list[StoredRead]:
        """Store a frame's reads, match them against the watchlists in force at ``read_at`` and
        record each hit with its outbox alert, atomically (see :mod:`lapi.store.frames`).  ``key``:
        the camera's frame key, stored in the same statement; a key already stored raises
        :class:`FrameSeen` (nothing is stored twice: see :meth:`frame_replay`)."""
        camera = await self.get_camera(camera_id)
        if not reads:
            return []
        matches = [self.watchlists.match(read.plate_norm, read_at) for read in reads]
        try:
            stored = await self.frames.write(Frame(camera, read_at, list(reads), matches, position, key))
        except psycopg.errors.UniqueViolation as err:
            if err.diag.table_name == "frame_keys":
                raise FrameSeen(camera_id, key or "") from None
            raise
        from lapi.investigations.candidates import store_candidates

        await store_candidates(self, stored)  # what else each read may say, for candidate search (issue 12)
        return stored

    async def store_frames(self, frames: list[tuple[str, datetime, list[PlateRead]]]) -> list[list[StoredRead]]:
        """Many frames' reads at once (imports, benches): matched as by :meth:`store_reads` and written
        in one transaction (COPY for the reads that matched nothing), returned once committed."""
        batch = []
        for camera_id, read_at, reads in frames:
            camera = await self.get_camera(camera_id)
            matches = [self.watchlists.match(read.plate_norm, read_at) for read in reads]
            batch.append(Frame(camera, read_at, list(reads), matches, (None, None, None)))
        return await self.frames.execute(batch) if batch else []

    async def frame_replay(self, camera_id: str, key: str) -> dict[str, Any] | None:
        """What a keyed frame stored, as :func:`frame_answer` gives it back; None for a new key."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT read_at, read_ids FROM frame_keys WHERE camera_id = %s AND frame_key = %s",
                                     (camera_id, key))
            row = await cur.fetchone()
            if row is None:
                return None
            read_at, read_ids = row
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT id, plate_text AS text, plate_norm, country, plate_format, confidence, char_confidences,"
                " json_build_object('x', box_x, 'y', box_y, 'w', box_w, 'h', box_h) AS box, detector_score,"
                " pass_id FROM plate_reads WHERE read_at = %s AND id = ANY(%s) ORDER BY id", (read_at, read_ids))
            reads = await cur.fetchall()
            await cur.execute(
                "SELECT h.read_id, h.id AS hit_id, o.id AS alert_id, o.payload FROM hits h"
                " LEFT JOIN alert_outbox o ON o.hit_id = h.id WHERE h.read_at = %s AND h.read_id = ANY(%s)"
                " ORDER BY h.id", (read_at, read_ids))
            hits = await cur.fetchall()
        for read in reads:
            read["hits"] = [h["hit_id"] for h in hits if h["read_id"] == read["id"]]
        return {"camera_id": camera_id, "captured_at": read_at, "reads": reads,
                "hits": [alert_message(h["alert_id"], h["payload"]) for h in hits if h["alert_id"] is not None]}

    # alerts and hits ---------------------------------------------------------------------------
    async def last_alert_id(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(id), 0) FROM alert_outbox")
            return (await cur.fetchone())[0]

    async def alerts_after(self, after_id: int, flt: AlertFilter | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Outbox alerts with an id above ``after_id``, in id order (the order they committed in)."""
        flt = flt or AlertFilter()
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, payload FROM alert_outbox WHERE id > %(after)s"
                " AND (%(lists)s::text[] IS NULL OR list_name = ANY(%(lists)s))"
                " AND (%(cats)s::text[] IS NULL OR category = ANY(%(cats)s))"
                " AND (%(cams)s::text[] IS NULL OR camera_id = ANY(%(cams)s))"
                " AND priority >= %(prio)s ORDER BY id LIMIT %(limit)s",
                {"after": after_id, "lists": sorted(flt.lists) or None, "cats": sorted(flt.categories) or None,
                 "cams": sorted(flt.cameras) or None, "prio": flt.min_priority, "limit": limit})
            return [alert_message(i, p) for i, p in await cur.fetchall()]

    async def hits(self, status: str | None = None, list_name: str | None = None, limit: int = 100,
                   before_id: int | None = None) -> list[dict[str, Any]]:
        """Hits, newest first, with their read's text and alert id."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_HIT_COLUMNS}{_HIT_FROM} WHERE (%(status)s::text IS NULL OR h.status = %(status)s)"
                " AND (%(list)s::text IS NULL OR h.list_name = %(list)s)"
                " AND (%(before)s::bigint IS NULL OR h.id < %(before)s) ORDER BY h.id DESC LIMIT %(limit)s",
                {"status": status, "list": list_name, "before": before_id, "limit": limit})
            return await cur.fetchall()

    async def get_hit(self, hit_id: int) -> dict[str, Any]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {_HIT_COLUMNS}{_HIT_FROM} WHERE h.id = %s", (hit_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no hit with id {hit_id}")
        return row

    async def decide_hit(self, hit_id: int, status: str, decided_by: str, reason: str) -> dict[str, Any]:
        """An analyst's decision on a new hit: confirmed or rejected, by whom and why (once)."""
        if status not in ("confirmed", "rejected"):
            raise ValueError(f"status: must be confirmed or rejected, got {status!r}")
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE hits SET status = %s, decided_by = %s, decided_at = now(), decision_reason = %s"
                " WHERE id = %s AND status = 'new' RETURNING id", (status, decided_by, reason, hit_id))
            updated = await cur.fetchone()
        hit = await self.get_hit(hit_id)
        if updated is None:
            raise Conflict(f"hit {hit_id} was already {hit['status']} by {hit['decided_by']} "
                           f"at {hit['decided_at'].isoformat()}")
        return hit

    async def sightings(self, plate: str, start: datetime, end: datetime, limit: int = 1000,
                        hits_only: bool = False) -> list[dict[str, Any]]:
        """A vehicle's reads between two times, newest first (no crop bytes); ``hits_only``: only
        reads that produced a hit (a query made for no procedure, see lapi/api/gating.py).  Only the
        days the plate was read on are scanned, and the days not summarised yet
        (lapi/store/plate_days.py)."""
        async with self.pool.connection() as conn, conn.transaction():
            for setting in SIGHTINGS_SETTINGS:
                await conn.execute(setting)
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(SIGHTINGS, {"p": normalise_plate(plate), "s": start, "e": end, "hits": hits_only,
                                          "n": limit}, prepare=True)
            return await cur.fetchall()

    async def read_crop(self, read_id: int) -> bytes | None:
        return (await self.read_crop_and_class(read_id))[0]

    async def read_crop_and_class(self, read_id: int) -> tuple[bytes | None, bool]:
        """A read's crop and whether it is a hit read."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT crop_jpeg, {HIT_READ} FROM plate_reads r WHERE id = %s", (read_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no read with id {read_id}")
        return row[0], row[1]

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

    # watchlist (the fuller API is self.watchlists) --------------------------------------------
    async def add_watch_entry(self, plate: str, list_name: str = "default", category: str = "", reason: str = "",
                              priority: int = 1, created_by: str = "") -> WatchEntry:
        from lapi.watchlists import parse_entry

        fields = parse_entry({"plate": plate, "list": list_name, "category": category, "reason": reason,
                              "priority": priority})
        return index_entry(await self.watchlists.add_entry(fields, created_by))

    async def list_watch_entries(self, list_name: str | None = None) -> list[WatchEntry]:
        return [index_entry(row) for row in await self.watchlists.entries(list_name)]

    async def remove_watch_entry(self, entry_id: int, removed_by: str = "") -> None:
        await self.watchlists.remove_entry(entry_id, removed_by)

    async def import_watch_entries(self, rows: list[dict[str, Any]], created_by: str = "") -> tuple[int, int]:
        """Insert validated rows (:func:`lapi.watchlists.parse_watchlist_csv`) in one transaction;
        returns (inserted, already present)."""
        return await self.watchlists.import_entries(rows, created_by)
