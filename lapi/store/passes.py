"""Vehicle passes in the store (migration 0005): a tracked camera's frame reads, stored for audit
under their pass, and the pass itself, matched and alerted once.

One transaction per frame: new passes, the frame's reads (with their pass id), every touched
pass's running consensus, and the watchlist hits and outbox alerts of passes whose consensus was
just (re)decided.  A pass's hit is updated in place when the consensus changes; consumers learn of
it from a *revision* alert (an outbox row with ``revises_hit_id``, see the migration), and the
pipeline's in-memory view of the pass is only changed once the transaction has committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from lapi.alerts import hit_alert_payload
from lapi.cameras import Camera
from lapi.consensus import Consensus
from lapi.matching import Match
from lapi.plates import normalise_plate
from lapi.store.errors import NotFound
from lapi.store.plate_days import mark_late_days, past_days

if TYPE_CHECKING:
    from lapi.reading.pipeline import PlateRead
    from lapi.store.db import Store

ALERT_LOCK = 1741058  # the outbox's advisory lock (migration 0003): alert ids commit in increasing order
_READ_COLUMNS = ("read_at, camera_id, plate_text, plate_norm, country, plate_format, confidence, char_confidences,"
                 " box_x, box_y, box_w, box_h, detector_score, crop_jpeg, lat, lon, heading, pass_id")
_READ_ROW = "(" + ", ".join(["%s"] * 18) + ")"
PASS_COLUMNS = ("id, camera_id, first_seen, last_seen, plate_text, plate_norm, country, plate_format, confidence,"
                " char_confidences, frames, direction, bearing, best_read_id, best_read_at, status, matched_norm,"
                " matched_at, created_at, updated_at, closed_at")


def to_time(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


@dataclass
class PassHit:
    """A hit of a pass on one watchlist entry, as last alerted."""

    hit_id: int
    alert_id: int       # the hit's first alert: what revisions refer to
    match: Match
    revision: int = 1
    withdrawn: bool = False


@dataclass
class PassRecord:
    """What the store has of one open pass (kept by the camera's pipeline between frames)."""

    pass_id: int | None = None
    read_refs: list[tuple[int, datetime]] = field(default_factory=list)  # stored read per observation
    matched_norm: str | None = None
    hits: dict[int, PassHit] = field(default_factory=dict)  # entry id -> hit


@dataclass(frozen=True)
class PassWrite:
    """One pass to bring up to date in this frame's transaction."""

    record: PassRecord
    consensus: Consensus
    close: bool = False      # the track has ended
    match: bool = False      # (re)match its consensus against the watchlists now


@dataclass(frozen=True)
class StoredFrame:
    read_ids: list[int]                # in the order of the frame's reads
    pass_ids: list[int]                # each read's pass
    alerts: list[dict[str, Any]]       # alerts committed by this frame (new hits and revisions)


def pass_payload(camera: Camera, pass_id: int, c: Consensus, hit_id: int, read_id: int, read_at: datetime,
                 m: Match, revision: int, state: str, revises_alert_id: int | None) -> dict[str, Any]:
    """A pass hit's alert: a hit alert of the consensus plate, plus the pass and its revision."""
    payload = hit_alert_payload(camera, hit_id, read_id, read_at, c, m)
    payload.update({"pass_id": pass_id, "revision": revision, "state": state, "frames": c.frames,
                    "first_seen": to_time(c.first_seen).isoformat(), "last_seen": to_time(c.last_seen).isoformat(),
                    "direction": c.direction, "bearing": c.bearing})
    if revises_alert_id is not None:
        payload["revises_alert_id"] = revises_alert_id
    return payload


class PassStore:
    """Pass writes and queries over a :class:`~lapi.store.db.Store`'s pool and watchlist index."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def close_stale(self, camera_id: str) -> int:
        """Close the passes a previous run left open on this camera (their tracks are gone)."""
        async with self.store.pool.connection() as conn:
            cur = await conn.execute("UPDATE passes SET status = 'closed', closed_at = now(), updated_at = now()"
                                     " WHERE camera_id = %s AND status = 'open'", (camera_id,))
            return cur.rowcount

    async def write_frame(self, camera: Camera, read_at: datetime, reads: list[PlateRead], owners: list[PassRecord],
                          writes: list[PassWrite],
                          position: tuple[float | None, float | None, float | None] = (None, None, None),
                          key: str | None = None) -> StoredFrame:
        """Store a tracked camera's frame: ``reads[i]`` belongs to the pass of ``owners[i]``; every
        pass in ``writes`` gets its consensus, and is matched and alerted when ``match`` says so.
        ``key``: the camera's frame key, recorded in the same transaction as the reads."""
        store = self.store
        new_ids: dict[int, int] = {}       # id(record) -> pass id given now
        new_refs: dict[int, list[tuple[int, datetime]]] = {}
        committed: list[tuple[PassRecord, str, dict[int, PassHit]]] = []
        alerts: list[dict[str, Any]] = []
        async with store.pool.connection() as conn:
            if reads:
                await store.partitions.ensure(conn, "plate_reads", [read_at])
            async with conn.transaction():
                for w in writes:
                    if w.record.pass_id is None and id(w.record) not in new_ids:
                        cur = await conn.execute(
                            "INSERT INTO passes (camera_id, first_seen, last_seen, plate_text, plate_norm, frames,"
                            " confidence) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                            (camera.id, to_time(w.consensus.first_seen), to_time(w.consensus.last_seen),
                             w.consensus.text, w.consensus.plate_norm, w.consensus.frames, w.consensus.confidence))
                        new_ids[id(w.record)] = (await cur.fetchone())[0]

                def pass_id(record: PassRecord) -> int:
                    return record.pass_id if record.pass_id is not None else new_ids[id(record)]

                read_ids: list[int] = []
                if reads:
                    await mark_late_days(conn, past_days([read_at], datetime.now(timezone.utc)))
                    lat, lon, heading = position
                    params: list[Any] = []
                    for read, owner in zip(reads, owners):
                        params += [read_at, camera.id, read.text, read.plate_norm, read.country, read.format_name,
                                   read.confidence, list(read.char_confidences), read.box.x, read.box.y, read.box.w,
                                   read.box.h, read.box.score, read.crop_jpeg or None, lat, lon, heading, pass_id(owner)]
                    cur = await conn.execute(f"INSERT INTO plate_reads ({_READ_COLUMNS}) VALUES"
                                             f" {', '.join([_READ_ROW] * len(reads))} RETURNING id", params)
                    read_ids = sorted(row[0] for row in await cur.fetchall())  # identity: in VALUES order
                    for owner, rid in zip(owners, read_ids):
                        new_refs.setdefault(id(owner), []).append((rid, read_at))
                    if key is not None:
                        await conn.execute("INSERT INTO frame_keys (camera_id, frame_key, read_at, read_ids)"
                                           " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                                           (camera.id, key, read_at, read_ids))

                locked = False
                for w in writes:
                    c, rec = w.consensus, w.record
                    refs = rec.read_refs + new_refs.get(id(rec), [])
                    best_id, best_at = refs[c.best_index] if c.best_index < len(refs) else (None, None)
                    await conn.execute(
                        "UPDATE passes SET last_seen = %s, plate_text = %s, plate_norm = %s, country = %s,"
                        " plate_format = %s, confidence = %s, char_confidences = %s, frames = %s, direction = %s,"
                        " bearing = %s, best_read_id = %s, best_read_at = %s, updated_at = now(),"
                        " status = CASE WHEN %s THEN 'closed' ELSE status END,"
                        " closed_at = CASE WHEN %s THEN coalesce(closed_at, now()) ELSE closed_at END WHERE id = %s",
                        (to_time(c.last_seen), c.text, c.plate_norm, c.country, c.format_name, c.confidence,
                         list(c.char_confidences), c.frames, c.direction, c.bearing, best_id, best_at,
                         w.close, w.close, pass_id(rec)))
                    if not w.match or best_id is None:
                        continue
                    matches = store.watchlists.match(c.plate_norm, to_time(c.first_seen))
                    hits = {k: PassHit(h.hit_id, h.alert_id, h.match, h.revision, h.withdrawn) for k, h in rec.hits.items()}
                    outbox: list[tuple[int | None, int | None, Match, dict[str, Any]]] = []  # hit, revised hit, match, payload
                    for m in matches:
                        e = m.entry
                        known = hits.get(e.id)
                        if known is None:
                            cur = await conn.execute(
                                "INSERT INTO hits (read_id, read_at, camera_id, plate_norm, entry_id, list_name,"
                                " match_type, cost, read_confidence, pattern, category, priority, pass_id)"
                                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                                (best_id, best_at, camera.id, c.plate_norm, e.id, e.list_name, m.match_type, m.cost,
                                 c.confidence, e.plate_norm, e.category, e.priority, pass_id(rec)))
                            hit_id = (await cur.fetchone())[0]
                            hits[e.id] = PassHit(hit_id, 0, m)
                            outbox.append((hit_id, None, m, pass_payload(camera, pass_id(rec), c, hit_id, best_id,
                                                                          best_at, m, 1, "new", None)))
                        else:
                            await conn.execute(
                                "UPDATE hits SET read_id = %s, read_at = %s, plate_norm = %s, match_type = %s, cost = %s,"
                                " read_confidence = %s, withdrawn_at = NULL WHERE id = %s",
                                (best_id, best_at, c.plate_norm, m.match_type, m.cost, c.confidence, known.hit_id))
                            known.revision += 1
                            known.match, known.withdrawn = m, False
                            outbox.append((None, known.hit_id, m, pass_payload(
                                camera, pass_id(rec), c, known.hit_id, best_id, best_at, m, known.revision, "updated",
                                known.alert_id)))
                    matched = {m.entry.id for m in matches}
                    for entry_id, known in hits.items():
                        if entry_id in matched or known.withdrawn:
                            continue
                        await conn.execute("UPDATE hits SET withdrawn_at = now() WHERE id = %s", (known.hit_id,))
                        known.revision += 1
                        known.withdrawn = True
                        outbox.append((None, known.hit_id, known.match, pass_payload(
                            camera, pass_id(rec), c, known.hit_id, best_id, best_at, known.match, known.revision,
                            "withdrawn", known.alert_id)))
                    await conn.execute("UPDATE passes SET matched_norm = %s, matched_at = now() WHERE id = %s",
                                       (c.plate_norm, pass_id(rec)))
                    for hit_id, revises, m, payload in outbox:
                        if not locked:  # taken just before the first outbox id is drawn, held to commit
                            await conn.execute("SELECT pg_advisory_xact_lock(%s), pg_notify('lapi_alerts', %s)",
                                               (ALERT_LOCK, getattr(store, "notify_token", "")))
                            locked = True
                        e = m.entry
                        payload["crop_url"] = f"/v1/reads/{best_id}/crop"
                        cur = await conn.execute(
                            "INSERT INTO alert_outbox (hit_id, revises_hit_id, list_name, category, camera_id, priority,"
                            " payload) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                            (hit_id, revises, e.list_name, e.category, camera.id, e.priority, Jsonb(payload)))
                        alert_id = (await cur.fetchone())[0]
                        if hit_id is not None:
                            hits[e.id].alert_id = alert_id
                        alerts.append({"type": payload.get("type", "hit"), "alert_id": alert_id, **payload})
                    committed.append((rec, c.plate_norm, hits))
        # committed: now the pipeline's view may change
        for w in writes:
            if w.record.pass_id is None:
                w.record.pass_id = new_ids[id(w.record)]
        for owner in {id(o): o for o in owners}.values():
            owner.read_refs.extend(new_refs.get(id(owner), []))
        for rec, norm, hits in committed:
            rec.matched_norm, rec.hits = norm, hits
        if alerts:
            store._alerts_committed(alerts)
        return StoredFrame(read_ids, [o.pass_id for o in owners], alerts)

    # queries -----------------------------------------------------------------------------------
    async def passes(self, camera_id: str | None = None, plate: str | None = None, start: datetime | None = None,
                     end: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Passes, newest first, filtered by camera, plate and first-seen time."""
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {PASS_COLUMNS} FROM passes WHERE (%(cam)s::text IS NULL OR camera_id = %(cam)s)"
                " AND (%(plate)s::text IS NULL OR plate_norm = %(plate)s)"
                " AND (%(start)s::timestamptz IS NULL OR first_seen >= %(start)s)"
                " AND (%(end)s::timestamptz IS NULL OR first_seen < %(end)s) ORDER BY first_seen DESC, id DESC"
                " LIMIT %(limit)s",
                {"cam": camera_id, "plate": normalise_plate(plate) if plate else None, "start": start, "end": end,
                 "limit": limit})
            return await cur.fetchall()

    async def get_pass(self, pass_id: int) -> dict[str, Any]:
        """One pass with its frame reads (audit) and its hits, each with its alerts."""
        async with self.store.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {PASS_COLUMNS} FROM passes WHERE id = %s", (pass_id,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no pass with id {pass_id}")
            await cur.execute(
                "SELECT id, read_at, plate_text, plate_norm, country, plate_format, confidence, box_x, box_y, box_w,"
                " box_h FROM plate_reads WHERE pass_id = %s AND camera_id = %s AND read_at >= %s AND read_at <= %s"
                " ORDER BY read_at, id", (pass_id, row["camera_id"], row["first_seen"], row["last_seen"]))
            row["reads"] = await cur.fetchall()
            await cur.execute(
                "SELECT h.id, h.entry_id, h.list_name, h.match_type, h.cost::float8 AS cost, h.plate_norm, h.status,"
                " h.withdrawn_at, array(SELECT o.id FROM alert_outbox o WHERE o.hit_id = h.id OR o.revises_hit_id = h.id"
                " ORDER BY o.id) AS alert_ids FROM hits h WHERE h.pass_id = %s ORDER BY h.id", (pass_id,))
            row["hits"] = await cur.fetchall()
        return row
