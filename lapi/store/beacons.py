"""Beacons in the store: their state rows, fittings on vehicles, and a vehicle's merged track.

Pings and the beacon states they produce are written in one transaction (:meth:`write_batch`),
so the device is acknowledged only once both are durable and a restart resumes from what was
acknowledged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from lapi.plates import normalise_plate
from lapi.store.db import Conflict, NotFound, Store
from lapi.store.read_classes import HIT_READ
from trackers.pings import Ping
from trackers.state import BeaconState

_STATE_COLUMNS = ("id, protocol, last_seen, fix_time, lat, lon, speed_kmh, heading, altitude_m, accuracy_m,"
                  " battery_pct, moving, motion_since, anchor_time, anchor_lat, anchor_lon")
_FITTING_COLUMNS = "id, beacon_id, plate_norm, plate_text, fitted_from, fitted_to, note, created_at"
_BEACON_VIEW = (
    "SELECT b.id AS beacon_id, b.label, b.watched, b.silence_after_s, b.protocol, b.last_seen, b.fix_time,"
    " b.lat, b.lon, b.speed_kmh, b.heading, b.altitude_m, b.accuracy_m, b.battery_pct,"
    " CASE WHEN b.moving IS NULL THEN 'unknown' WHEN b.moving THEN 'moving' ELSE 'stopped' END AS motion,"
    " b.motion_since, b.silence_alerted_at, f.id AS fitting_id, f.plate_norm, f.plate_text,"
    " f.fitted_from, f.fitted_to"
    " FROM beacons b LEFT JOIN LATERAL (SELECT * FROM beacon_fittings f WHERE f.beacon_id = b.id"
    " AND f.fitted_from <= %(now)s AND (f.fitted_to IS NULL OR f.fitted_to > %(now)s)"
    " ORDER BY f.fitted_from DESC LIMIT 1) f ON true")


def _state_row(s: BeaconState) -> tuple:
    fix, anchor = s.last_fix, s.anchor
    return (s.beacon_id, s.protocol, s.last_seen,
            fix and fix.fix_time, fix and fix.lat, fix and fix.lon, fix and fix.speed_kmh, fix and fix.heading,
            fix and fix.altitude_m, fix and fix.accuracy_m, s.battery_pct, s.moving, s.state_since,
            anchor and anchor.fix_time, anchor and anchor.lat, anchor and anchor.lon)


def _state_from_row(r: tuple) -> BeaconState:
    (bid, protocol, last_seen, fix_time, lat, lon, speed, heading, alt, acc, battery, moving, since,
     a_time, a_lat, a_lon) = r
    fix = Ping(bid, fix_time, lat, lon, speed, heading, alt, acc, battery) if fix_time is not None else None
    anchor = Ping(bid, a_time, a_lat, a_lon) if a_time is not None else None
    return BeaconState(bid, last_seen, fix, battery, moving, since, anchor, protocol)


class BeaconStore:
    """Beacon tables of one :class:`~lapi.store.db.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def write_batch(self, groups: list[list[Ping]], states: list[BeaconState],
                          per_group: bool = True) -> tuple[list[int], list[str]]:
        """Store groups of pings and the updated beacon states atomically.

        Returns (pings newly inserted per group, or in total when ``per_group`` is false; beacons
        that were flagged silent and are heard again).  Two batches may commit in either order: a
        state row only moves forward in fix time, so the later state always wins.
        """
        store = self.store
        async with store.pool.connection() as conn:
            await store.partitions.ensure(conn, "beacon_pings", [p.fix_time for g in groups for p in g])
            async with conn.transaction():
                inserted = await store.copier.insert_groups(conn, groups, per_group)
                cur = conn.cursor()
                await cur.executemany(
                    f"INSERT INTO beacons ({_STATE_COLUMNS}) VALUES ({', '.join(['%s'] * 16)})"
                    " ON CONFLICT (id) DO UPDATE SET protocol = EXCLUDED.protocol,"
                    " last_seen = greatest(beacons.last_seen, EXCLUDED.last_seen), fix_time = EXCLUDED.fix_time,"
                    " lat = EXCLUDED.lat, lon = EXCLUDED.lon, speed_kmh = EXCLUDED.speed_kmh,"
                    " heading = EXCLUDED.heading, altitude_m = EXCLUDED.altitude_m,"
                    " accuracy_m = EXCLUDED.accuracy_m, battery_pct = EXCLUDED.battery_pct,"
                    " moving = EXCLUDED.moving, motion_since = EXCLUDED.motion_since,"
                    " anchor_time = EXCLUDED.anchor_time, anchor_lat = EXCLUDED.anchor_lat,"
                    " anchor_lon = EXCLUDED.anchor_lon"
                    " WHERE beacons.fix_time IS NULL OR EXCLUDED.fix_time >= beacons.fix_time",
                    [_state_row(s) for s in states])
                cur = await conn.execute(
                    "UPDATE beacons SET silence_alerted_at = NULL WHERE id = ANY(%s)"
                    " AND silence_alerted_at IS NOT NULL RETURNING id", ([s.beacon_id for s in states],))
                back = [row[0] for row in await cur.fetchall()]
        return inserted, back

    async def load_states(self) -> list[BeaconState]:
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_STATE_COLUMNS} FROM beacons")
            return [_state_from_row(r) for r in await cur.fetchall()]

    async def known_ids(self) -> set[str]:
        async with self.store.pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM beacons")
            return {r[0] for r in await cur.fetchall()}

    async def register(self, beacon_id: str, label: str | None = None, watched: bool | None = None,
                       silence_after_s: int | None = None) -> None:
        """Create the beacon if new; set the given (non-None) registry fields."""
        async with self.store.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO beacons (id, label, watched, silence_after_s)"
                " VALUES (%(id)s, coalesce(%(label)s, ''), coalesce(%(watched)s, false), %(silence)s)"
                " ON CONFLICT (id) DO UPDATE SET label = coalesce(%(label)s, beacons.label),"
                " watched = coalesce(%(watched)s, beacons.watched),"
                " silence_after_s = coalesce(%(silence)s, beacons.silence_after_s)",
                {"id": beacon_id, "label": label, "watched": watched, "silence": silence_after_s})

    async def list_beacons(self, now: datetime) -> list[dict[str, Any]]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_BEACON_VIEW + " ORDER BY b.id", {"now": now})
            return await cur.fetchall()

    async def get_beacon(self, beacon_id: str, now: datetime) -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(_BEACON_VIEW + " WHERE b.id = %(id)s", {"now": now, "id": beacon_id})
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"unknown beacon {beacon_id!r}")
        row["fittings"] = await self.list_fittings(beacon_id=beacon_id)
        return row

    # fittings ----------------------------------------------------------------------------------
    async def add_fitting(self, beacon_id: str, plate: str, start: datetime, end: datetime | None,
                          note: str = "") -> dict[str, Any]:
        """Record beacon X fitted on plate Y over [start, end); refuses an overlap for that beacon."""
        norm = normalise_plate(plate)
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                await conn.execute("INSERT INTO beacons (id) VALUES (%s) ON CONFLICT (id) DO NOTHING", (beacon_id,))
                await conn.execute("SELECT 1 FROM beacons WHERE id = %s FOR UPDATE", (beacon_id,))
                cur = await conn.execute(
                    "SELECT id, plate_norm, fitted_from, fitted_to FROM beacon_fittings WHERE beacon_id = %s"
                    " AND tstzrange(fitted_from, fitted_to) && tstzrange(%s, %s) LIMIT 1", (beacon_id, start, end))
                clash = await cur.fetchone()
                if clash is not None:
                    until = clash[3].isoformat() if clash[3] else "now (still fitted)"
                    raise Conflict(f"beacon {beacon_id} is already fitted on {clash[1]} from "
                                   f"{clash[2].isoformat()} to {until} (fitting {clash[0]}); end that one first")
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    "INSERT INTO beacon_fittings (beacon_id, plate_norm, plate_text, fitted_from, fitted_to, note)"
                    f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_FITTING_COLUMNS}",
                    (beacon_id, norm, plate.strip(), start, end, note))
                return await cur.fetchone()

    async def end_fitting(self, fitting_id: int, at: datetime) -> dict[str, Any]:
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {_FITTING_COLUMNS} FROM beacon_fittings WHERE id = %s", (fitting_id,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no fitting with id {fitting_id}")
            if row["fitted_to"] is not None and row["fitted_to"] <= at:
                raise Conflict(f"fitting {fitting_id} already ended at {row['fitted_to'].isoformat()}")
            if at <= row["fitted_from"]:
                raise Conflict(f"end {at.isoformat()} must be after the fitting's start {row['fitted_from'].isoformat()}")
            await cur.execute(f"UPDATE beacon_fittings SET fitted_to = %s WHERE id = %s RETURNING {_FITTING_COLUMNS}",
                              (at, fitting_id))
            return await cur.fetchone()

    async def list_fittings(self, beacon_id: str | None = None, plate: str | None = None) -> list[dict[str, Any]]:
        norm = normalise_plate(plate) if plate else None
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_FITTING_COLUMNS} FROM beacon_fittings WHERE (%(b)s::text IS NULL OR beacon_id = %(b)s)"
                " AND (%(p)s::text IS NULL OR plate_norm = %(p)s) ORDER BY fitted_from, id", {"b": beacon_id, "p": norm})
            return await cur.fetchall()

    # vehicle track -----------------------------------------------------------------------------
    async def track(self, plate: str, start: datetime, end: datetime, limit: int = 10000,
                    hits_only: bool = False) -> list[dict[str, Any]]:
        """Camera sightings of the plate and pings of the beacons fitted on it (only while fitted),
        merged in time order; ``hits_only``: only sightings that produced a hit (lapi/api/gating.py)."""
        norm = normalise_plate(plate)
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT * FROM ("
                " SELECT 'sighting' AS kind, r.read_at AS time, coalesce(r.lat, c.lat) AS lat,"
                "  coalesce(r.lon, c.lon) AS lon, r.camera_id, NULL::text AS beacon_id, r.id AS read_id,"
                "  r.plate_text, r.confidence, NULL::real AS speed_kmh, coalesce(r.heading, c.heading) AS heading"
                " FROM plate_reads r JOIN cameras c ON c.id = r.camera_id"
                f" WHERE r.plate_norm = %(p)s AND r.read_at >= %(s)s AND r.read_at < %(e)s AND (NOT %(h)s OR {HIT_READ})"
                " UNION ALL"
                " SELECT 'ping', p.fix_time, p.lat, p.lon, NULL, p.beacon_id, NULL, NULL, NULL, p.speed_kmh, p.heading"
                " FROM beacon_fittings f JOIN beacon_pings p ON p.beacon_id = f.beacon_id"
                "  AND p.fix_time >= greatest(f.fitted_from, %(s)s)"
                "  AND p.fix_time < least(coalesce(f.fitted_to, 'infinity'), %(e)s)"
                " WHERE f.plate_norm = %(p)s"
                ") t ORDER BY time, kind LIMIT %(n)s", {"p": norm, "s": start, "e": end, "n": limit, "h": hits_only})
            return await cur.fetchall()

    # silence -----------------------------------------------------------------------------------
    async def newly_silent(self, now: datetime, default_after_s: int) -> list[dict[str, Any]]:
        """Watched (or currently fitted) beacons unheard for longer than their silence threshold,
        not yet alerted; they are marked alerted in the same statement so each silence alerts once."""
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "WITH fitted AS (SELECT DISTINCT ON (beacon_id) beacon_id, plate_norm, plate_text FROM beacon_fittings"
                "  WHERE fitted_from <= %(now)s AND (fitted_to IS NULL OR fitted_to > %(now)s)"
                "  ORDER BY beacon_id, fitted_from DESC),"
                " silent AS (SELECT b.id FROM beacons b LEFT JOIN fitted f ON f.beacon_id = b.id"
                "  WHERE (b.watched OR f.beacon_id IS NOT NULL) AND b.silence_alerted_at IS NULL"
                "  AND coalesce(b.last_seen, b.created_at)"
                "      < %(now)s - make_interval(secs => coalesce(b.silence_after_s, %(after)s))"
                "  FOR UPDATE OF b SKIP LOCKED)"
                " UPDATE beacons b SET silence_alerted_at = %(now)s FROM silent LEFT JOIN fitted f ON f.beacon_id = silent.id"
                " WHERE b.id = silent.id RETURNING b.id AS beacon_id, b.label, b.last_seen, b.fix_time, b.lat, b.lon,"
                " b.battery_pct, coalesce(b.silence_after_s, %(after)s) AS silence_after_s, f.plate_norm, f.plate_text",
                {"now": now, "after": default_after_s})
            return await cur.fetchall()
