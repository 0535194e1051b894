"""Bulk writing of reads with COPY, inside the caller's transaction.

A multi-row INSERT costs a parse and a parameter list per row; COPY streams rows and is several
times faster (``lapi bench store`` measures the ratio).  The rows go in COPY's binary format
(psycopg's ``set_types`` and ``write_row``): the server stores the values as sent, where the text
format had it parse every timestamp and every float of the per-character confidences (the A/B
is in docs/benchmarks.md).  COPY returns no ids, so the ids are drawn from the identity sequence
first (one round trip for the whole batch) and written with the rows: every caller still gets the
ids of its reads back, after the commit.

Only frames whose reads matched nothing go this way: a hit needs its outbox alert drawn under the
alert lock in the same statement (:func:`lapi.store.frames.frames_statement`), and the writer
runs that statement for the hit frames in the same transaction.  A frame's retry key goes in with
its reads; a key stored before fails the whole batch, which the writer then retries frame by frame.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper

if TYPE_CHECKING:
    from lapi.store.frames import Frame

COPY_MIN_READS = 32  # below this a batch's plain frames go with the one statement: COPY's set-up is not worth it

_COLUMNS = ("id, read_at, camera_id, plate_text, plate_norm, country, plate_format, confidence, char_confidences,"
            " box_x, box_y, box_w, box_h, detector_score, crop_jpeg, lat, lon, heading")
# the columns' types, for the binary format: each value is sent as the server stores it, nothing to parse
READ_TYPES = ("int8", "timestamptz", "text", "text", "text", "text", "text", "float4", "float4[]",
              "int4", "int4", "int4", "int4", "float4", "bytea", "float8", "float8", "float4")
_RESERVE = "SELECT array_agg(nextval(pg_get_serial_sequence('plate_reads', 'id'))) FROM generate_series(1, %s)"
_KEYS = ("INSERT INTO frame_keys (camera_id, frame_key, read_at, read_ids)"
         " SELECT k.camera_id, k.frame_key, k.read_at, string_to_array(k.ids, ',')::bigint[]"
         " FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[]) AS k (camera_id, frame_key, read_at, ids)")


_FLOAT4_OID = psycopg.postgres.types["float4"].oid
_FLOAT4_ARRAY_OID = psycopg.postgres.types["float4"].array_oid
_EMPTY_FLOAT4_ARRAY = struct.pack(">3i", 0, 0, _FLOAT4_OID)  # no dimensions, no nulls, element type
_float4_array_packers: dict[int, struct.Struct] = {}


class Float4ArrayDumper(Dumper):
    """A sequence of floats as a one-dimensional ``float4[]`` in PostgreSQL's binary array format,
    packed by one ``struct`` call.

    Why: psycopg's generic list dumper walks each list in Python (its dimensions, then one element
    dumper call per item).  On the COPY path it was nine tenths of the cost of encoding a read's row
    (2.6 us a row, 0.3 us without the per-character confidences; docs/benchmarks.md), paid by the
    writing process on every read.  Registered for no Python type, so only a COPY that declares a
    ``float4[]`` column with ``set_types`` uses it (:func:`copy_rows`).
    """

    format = pq.Format.BINARY
    oid = _FLOAT4_ARRAY_OID

    def dump(self, obj: Sequence[float]) -> bytes:
        n = len(obj)
        if not n:
            return _EMPTY_FLOAT4_ARRAY
        packer = _float4_array_packers.get(n)
        if packer is None:  # header: dimensions, has-nulls, element type, length, lower bound; then (size, value) pairs
            packer = _float4_array_packers[n] = struct.Struct(">5i" + "if" * n)
        items: list[float] = [4, 0.0] * n
        items[1::2] = obj
        try:
            return packer.pack(1, 0, _FLOAT4_OID, n, 1, *items)
        except struct.error as exc:
            raise psycopg.DataError(f"float4[] values must all be numbers: {exc}") from None


def plain(frame: Frame) -> bool:
    """A frame whose reads matched no watchlist entry: its reads can be copied."""
    return not any(frame.matches)


async def reserve_read_ids(conn: psycopg.AsyncConnection, n: int) -> list[int]:
    """``n`` fresh read ids, increasing (the sequence is shared with concurrent writers)."""
    cur = await conn.execute(_RESERVE, (n,))
    return sorted((await cur.fetchone())[0])


def frame_rows(frame: Frame, ids: Sequence[int]) -> list[tuple]:
    """The ``plate_reads`` rows of a frame's reads, with their ids, in the order of ``READ_TYPES``
    (pure: unit-tested)."""
    lat, lon, heading = frame.position
    rows = []
    for read_id, read in zip(ids, frame.reads):
        b = read.box
        rows.append((read_id, frame.read_at, frame.camera.id, read.text, read.plate_norm, read.country,
                     read.format_name, read.confidence, list(read.char_confidences), b.x, b.y, b.w, b.h, b.score,
                     read.crop_jpeg or None, lat, lon, heading))
    return rows


async def copy_rows(conn: psycopg.AsyncConnection, rows: Iterable[Sequence[object]]) -> None:
    """COPY rows of :func:`frame_rows` into ``plate_reads`` in the binary format."""
    cursor = conn.cursor()
    cursor.adapters.register_dumper(None, Float4ArrayDumper)  # this cursor's COPY only
    async with cursor.copy(f"COPY plate_reads ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(READ_TYPES)
        for row in rows:
            await copy.write_row(row)


async def copy_frames(conn: psycopg.AsyncConnection, frames: Sequence[Frame]) -> list[list[int]]:
    """COPY the reads of ``frames`` (plain ones, see :func:`plain`) and their keys; inside a
    transaction.  Returns each frame's read ids, in the order of its reads."""
    total = sum(len(f.reads) for f in frames)
    if total == 0:
        return [[] for _ in frames]
    ids = await reserve_read_ids(conn, total)
    per_frame: list[list[int]] = []
    at = 0
    for f in frames:
        per_frame.append(ids[at:at + len(f.reads)])
        at += len(f.reads)
    await copy_rows(conn, (row for f, mine in zip(frames, per_frame) for row in frame_rows(f, mine)))
    keyed = [(f, mine) for f, mine in zip(frames, per_frame) if f.key is not None]
    if keyed:
        await conn.execute(_KEYS, ([f.camera.id for f, _ in keyed], [f.key for f, _ in keyed],
                                   [f.read_at for f, _ in keyed], [",".join(map(str, mine)) for _, mine in keyed]))
    return per_frame
