"""Writing frames: reads, their hits and the hits' outbox alerts, in one statement per batch.

Alert ids must commit in increasing order (consumers resume from "every alert above N"), so the
statement takes an advisory lock just before the outbox rows get their ids and keeps it to its
commit.  Hit-bearing commits are therefore serialised, each waiting for its WAL flush.  To keep
that from capping the rate, one writer task per process takes every frame queued while the
previous statement ran and writes them together: a burst of frames shares one commit (group
commit).  An idle service writes each frame at once, alone.  When a batch fails, its frames are
written one by one, so only a bad frame's caller sees the error.  In a batch with many reads
that matched nothing, those are copied (:mod:`lapi.store.bulk`) in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from lapi.alerts import hit_alert_payload
from lapi.cameras import Camera
from lapi.matching import Match
from lapi.store.bulk import COPY_MIN_READS, copy_frames, plain
from lapi.store.plate_days import mark_late_days, past_days

if TYPE_CHECKING:
    from lapi.reading.pipeline import PlateRead
    from lapi.store.db import Store, StoredRead

log = logging.getLogger(__name__)

ALERT_LOCK = 1741058  # advisory lock: alert ids commit in increasing order (migration 0003)
MAX_BATCH_READS = 500  # 17 parameters a read, 10 a hit: well under PostgreSQL's 65,535

_READ_COLUMNS = ("read_at, camera_id, plate_text, plate_norm, country, plate_format, confidence, char_confidences,"
                 " box_x, box_y, box_w, box_h, detector_score, crop_jpeg, lat, lon, heading")
_READ_ROW = "(" + ", ".join(["%s"] * 17) + ")"
_HIT_ROW = "(%s::int, %s::int, %s::bigint, %s::text, %s::text, %s::numeric, %s::text, %s::text, %s::smallint, %s::jsonb)"
_KEY_ROW = "(%s::text, %s::text, %s::timestamptz, %s::int, %s::int)"


@dataclass
class Frame:
    camera: Camera
    read_at: datetime
    reads: list[PlateRead]
    matches: list[list[Match]]  # per read, best first
    position: tuple[float | None, float | None, float | None]
    key: str | None = None  # the camera's frame key: stored with the reads, unique per camera (migration 0006)
    result: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def __post_init__(self) -> None:
        # a time without offset would be stored in whatever zone the session has (and binary COPY refuses it)
        if self.read_at.utcoffset() is None:
            raise ValueError(f"a frame's read_at needs a UTC offset: {self.read_at.isoformat()}")


def frames_statement(frames: list[Frame], token: str) -> tuple[str, list[Any]]:
    """One statement storing the frames' reads, their hits and the hits' outbox alerts.

    Rows returned: ``('read', read id, None, None, None)`` for every read, then ``('alert', None,
    hit id, alert id, payload)``.  Read ids increase in the order of the frames and their reads,
    hit ids in the order of the frames, reads and matches (best first): the caller maps them back
    by sorting.  ``token`` is the NOTIFY payload that lets this process skip its own notifications.
    """
    params: list[Any] = []
    hit_rows: list[list[Any]] = []
    key_rows: list[list[Any]] = []
    ord_ = 0
    for f in frames:
        if f.key is not None:
            key_rows.append([f.camera.id, f.key, f.read_at, ord_, ord_ + len(f.reads)])
        lat, lon, heading = f.position
        for read, found in zip(f.reads, f.matches):
            params += [f.read_at, f.camera.id, read.text, read.plate_norm, read.country, read.format_name,
                       read.confidence, list(read.char_confidences), read.box.x, read.box.y, read.box.w, read.box.h,
                       read.box.score, read.crop_jpeg or None, lat, lon, heading]
            for rank, m in enumerate(found):
                e = m.entry
                payload = hit_alert_payload(f.camera, 0, 0, f.read_at, read, m)  # ids set by the statement
                hit_rows.append([ord_, rank, e.id, e.list_name, m.match_type, m.cost, e.plate_norm, e.category,
                                 e.priority, Jsonb(payload)])
            ord_ += 1
    reads_sql = (f"INSERT INTO plate_reads ({_READ_COLUMNS}) VALUES {', '.join([_READ_ROW] * ord_)}"
                 " RETURNING id, read_at, camera_id, plate_norm, confidence")
    keys_sql = ""
    if key_rows:  # each keyed frame's key with its read ids; a key seen before fails the statement
        keys_sql = (f" kv (camera_id, frame_key, read_at, lo, hi) AS (VALUES {', '.join([_KEY_ROW] * len(key_rows))}),"
                    " k AS (INSERT INTO frame_keys (camera_id, frame_key, read_at, read_ids)"
                    "  SELECT kv.camera_id, kv.frame_key, kv.read_at,"
                    "   ARRAY(SELECT id FROM ro WHERE ord >= kv.lo AND ord < kv.hi ORDER BY id) FROM kv),")
        for row in key_rows:
            params += row
    if not hit_rows and not key_rows:
        return (f"WITH r AS ({reads_sql}) SELECT 'read', id, NULL::bigint, NULL::bigint, NULL::jsonb FROM r"
                " ORDER BY id"), params
    if not hit_rows:
        return (f"WITH r AS ({reads_sql}), ro AS (SELECT r.*, (row_number() OVER (ORDER BY id) - 1)::int AS ord FROM r),"
                f"{keys_sql.rstrip(',')} SELECT 'read', id, NULL::bigint, NULL::bigint, NULL::jsonb FROM ro ORDER BY id"), params
    for row in hit_rows:
        params += row
    params += [ALERT_LOCK, token]
    sql = (
        f"WITH r AS ({reads_sql}),"
        " ro AS (SELECT r.*, (row_number() OVER (ORDER BY id) - 1)::int AS ord FROM r),"
        f"{keys_sql}"
        " hv (ord, rank, entry_id, list_name, match_type, cost, pattern, category, priority, payload) AS"
        f" (VALUES {', '.join([_HIT_ROW] * len(hit_rows))}),"
        " h AS (INSERT INTO hits (read_id, read_at, camera_id, plate_norm, entry_id, list_name, match_type, cost,"
        "  read_confidence, pattern, category, priority)"
        "  SELECT ro.id, ro.read_at, ro.camera_id, ro.plate_norm, hv.entry_id, hv.list_name, hv.match_type, hv.cost,"
        "   ro.confidence, hv.pattern, hv.category, hv.priority"
        "  FROM hv JOIN ro USING (ord) ORDER BY hv.ord, hv.rank"
        "  RETURNING id, read_id, camera_id, entry_id),"
        # the lock before any outbox id is drawn: the join cannot yield a row before lk is evaluated
        " lk AS (SELECT pg_advisory_xact_lock(%s) AS locked, pg_notify('lapi_alerts', %s) AS notified),"
        " o AS (INSERT INTO alert_outbox (hit_id, list_name, category, camera_id, priority, payload)"
        "  SELECT h.id, hv.list_name, hv.category, h.camera_id, hv.priority, hv.payload || jsonb_build_object("
        "   'hit_id', h.id, 'read_id', h.read_id, 'crop_url', '/v1/reads/' || h.read_id || '/crop')"
        "  FROM h JOIN ro ON ro.id = h.read_id JOIN hv ON hv.ord = ro.ord AND hv.entry_id = h.entry_id"
        "  CROSS JOIN lk ORDER BY h.id RETURNING id, hit_id, payload)"
        " SELECT 'read', id, NULL::bigint, NULL::bigint, NULL::jsonb FROM ro"
        " UNION ALL SELECT 'alert', NULL, hit_id, id, payload FROM o")
    return sql, params


class FrameWriter:
    """The one task of a :class:`Store` that writes frames, batching those that queue up."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.batches = 0  # statements written (for benches)
        self.frames = 0
        self.copied_reads = 0  # of those, reads written with COPY

    async def write(self, frame: Frame) -> list[StoredRead]:
        self._queue.append(frame)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="lapi-frame-writer")
        return await frame.result

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            while self._queue and not self._task.done():
                await asyncio.sleep(0.01)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, reads = [], 0
                while self._queue and (not batch or reads + len(self._queue[0].reads) <= MAX_BATCH_READS):
                    frame = self._queue.popleft()
                    if frame.result.cancelled():
                        continue  # its caller gave up before it was written
                    batch.append(frame)
                    reads += len(frame.reads)
                if batch:
                    await self._write_batch(batch)

    async def _write_batch(self, batch: list[Frame]) -> None:
        try:
            results = await self.execute(batch)
        except Exception as err:  # noqa: BLE001 - handed to the callers
            if len(batch) == 1:
                _settle(batch[0], error=err)
                return
            for frame in batch:  # find the bad frame: the others must still be stored
                try:
                    (result,) = await self.execute([frame])
                except Exception as one_err:  # noqa: BLE001
                    _settle(frame, error=one_err)
                else:
                    _settle(frame, result)
            return
        for frame, result in zip(batch, results):
            _settle(frame, result)

    async def execute(self, batch: list[Frame]) -> list[list[StoredRead]]:
        """Write ``batch`` in one transaction and return each frame's stored reads once committed.

        The reads of frames that matched nothing are copied (:mod:`lapi.store.bulk`) when there are
        enough of them; the rest go in the one statement of :func:`frames_statement`.  Also the bulk
        path for callers holding many frames at once (imports, ``lapi bench store``)."""
        from lapi.store.db import StoredRead

        store = self.store
        copied = [f for f in batch if plain(f)]
        if sum(len(f.reads) for f in copied) < COPY_MIN_READS:
            copied = []
        rest = [f for f in batch if not (copied and plain(f))]
        statements = _chunks(rest)  # each within PostgreSQL's parameter limit
        copied_ids: list[list[int]] = []
        results: list[list[StoredRead]] = []
        late = past_days((f.read_at for f in batch if f.reads), datetime.now(timezone.utc))
        async with store.pool.connection() as conn:
            await store.partitions.ensure(conn, "plate_reads", [f.read_at for f in batch])
            async with conn.transaction() if copied or len(statements) > 1 or late else nullcontext():
                if late:  # reads of an earlier day: its plate summary no longer covers it
                    await mark_late_days(conn, late)
                if copied:
                    copied_ids = await copy_frames(conn, copied)
                for part in statements:
                    sql, params = frames_statement(part, store.notify_token)
                    cur = await conn.execute(sql, params)
                    results += self._stored(part, await cur.fetchall())
        self.batches += 1
        self.frames += len(batch)
        self.copied_reads += sum(len(ids) for ids in copied_ids)
        by_frame = {id(f): r for f, r in zip(rest, results)}
        by_frame.update({id(f): [StoredRead(i, f.read_at, read, []) for i, read in zip(ids, f.reads)]
                         for f, ids in zip(copied, copied_ids)})
        alerts = [h.alert for result in results for r in result for h in r.hits]
        if alerts:
            store._alerts_committed(alerts)
        return [by_frame[id(f)] for f in batch]

    @staticmethod
    def _stored(frames: list[Frame], rows: list[tuple]) -> list[list[StoredRead]]:
        """Each frame's stored reads and hits from the rows of :func:`frames_statement`."""
        from lapi.store.db import StoredHit, StoredRead, alert_message

        read_ids = iter(sorted(row[1] for row in rows if row[0] == "read"))
        alerts = {row[2]: (row[3], row[4]) for row in rows if row[0] == "alert"}  # hit id -> (alert id, payload)
        hit_ids = iter(sorted(alerts))
        results = []
        for f in frames:
            stored = []
            for read, found in zip(f.reads, f.matches):
                hits = []
                for m, hit_id in zip(found, hit_ids):
                    alert_id, payload = alerts[hit_id]
                    hits.append(StoredHit(hit_id, m, alert_id, alert_message(alert_id, payload)))
                stored.append(StoredRead(next(read_ids), f.read_at, read, hits))
            results.append(stored)
        return results


def _chunks(frames: list[Frame]) -> list[list[Frame]]:
    """``frames`` in runs of at most :data:`MAX_BATCH_READS` reads (a frame is never split)."""
    out: list[list[Frame]] = []
    reads = 0
    for f in frames:
        if not out or (reads + len(f.reads) > MAX_BATCH_READS and out[-1]):
            out.append([])
            reads = 0
        out[-1].append(f)
        reads += len(f.reads)
    return out


def _settle(frame: Frame, result: Any = None, error: BaseException | None = None) -> None:
    if frame.result.done():
        return
    if error is not None:
        frame.result.set_exception(error)
    else:
        frame.result.set_result(result)
