"""Bulk writing of reads with COPY, inside the caller's transaction.

A multi-row INSERT costs a parse and a parameter list per row; COPY streams rows and is several
times faster (``lapi bench store`` measures the ratio).  The rows go in COPY's binary format
(:mod:`lapi.store.copy_format`): the server stores the values as sent, where the text format had
it parse every timestamp and every float of the per-character confidences (the A/B is in
docs/benchmarks.md).  COPY returns no ids, so the ids are drawn from the identity sequence
first (one round trip for the whole batch) and written with the rows: every caller still gets the
ids of its reads back, after the commit.

Only frames whose reads matched nothing go this way: a hit needs its outbox alert drawn under the
alert lock in the same statement (:func:`lapi.store.frames.frames_statement`), and the writer
runs that statement for the hit frames in the same transaction.  A frame's retry key goes in with
its reads; a key stored before fails the whole batch, which the writer then retries frame by frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import psycopg

from lapi.store.copy_format import COLUMNS, SIGNATURE, TRAILER, encode_reads

if TYPE_CHECKING:
    from lapi.store.frames import Frame

COPY_MIN_READS = 32  # below this a batch's plain frames go with the one statement: COPY's set-up is not worth it
COPY_SLICE_FRAMES = 1000  # frames encoded at a time: the server stores a slice while the next is encoded

_RESERVE = "SELECT array_agg(nextval(pg_get_serial_sequence('plate_reads', 'id'))) FROM generate_series(1, %s)"
_KEYS = ("INSERT INTO frame_keys (camera_id, frame_key, read_at, read_ids)"
         " SELECT k.camera_id, k.frame_key, k.read_at, string_to_array(k.ids, ',')::bigint[]"
         " FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[]) AS k (camera_id, frame_key, read_at, ids)")


def plain(frame: Frame) -> bool:
    """A frame whose reads matched no watchlist entry: its reads can be copied."""
    return not any(frame.matches)


async def reserve_read_ids(conn: psycopg.AsyncConnection, n: int) -> list[int]:
    """``n`` fresh read ids, increasing (the sequence is shared with concurrent writers)."""
    cur = await conn.execute(_RESERVE, (n,))
    return sorted((await cur.fetchone())[0])


async def copy_encoded(conn: psycopg.AsyncConnection, rows: Iterable[bytes]) -> None:
    """COPY rows encoded by :func:`lapi.store.copy_format.encode_reads` into ``plate_reads``, each
    piece sent as soon as it is drawn from ``rows`` (a generator encodes the next one meanwhile)."""
    async with conn.cursor().copy(f"COPY plate_reads ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(SIGNATURE)
        for piece in rows:
            await copy.write(piece)
        await copy.write(TRAILER)


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
    slices = range(0, len(frames), COPY_SLICE_FRAMES)
    await copy_encoded(conn, (encode_reads(frames[i:i + COPY_SLICE_FRAMES], per_frame[i:i + COPY_SLICE_FRAMES])
                              for i in slices))
    keyed = [(f, mine) for f, mine in zip(frames, per_frame) if f.key is not None]
    if keyed:
        await conn.execute(_KEYS, ([f.camera.id for f, _ in keyed], [f.key for f, _ in keyed],
                                   [f.read_at for f, _ in keyed], [",".join(map(str, mine)) for _, mine in keyed]))
    return per_frame
