"""Bulk writing of reads with COPY, inside the caller's transaction.

A multi-row INSERT costs a parse and a parameter list per row; COPY streams rows (in the text
format, built here in one pass) and is several times faster (``lapi bench store`` measures the
ratio).  COPY returns no ids, so the ids are drawn from the identity sequence first (one round trip for the whole batch)
and written with the rows: every caller still gets the ids of its reads back, after the commit.

Only frames whose reads matched nothing go this way: a hit needs its outbox alert drawn under the
alert lock in the same statement (:func:`lapi.store.frames.frames_statement`), and the writer
runs that statement for the hit frames in the same transaction.  A frame's retry key goes in with
its reads; a key stored before fails the whole batch, which the writer then retries frame by frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from lapi.store.frames import Frame

COPY_MIN_READS = 32  # below this a batch's plain frames go with the one statement: COPY's set-up is not worth it

_COLUMNS = ("id, read_at, camera_id, plate_text, plate_norm, country, plate_format, confidence, char_confidences,"
            " box_x, box_y, box_w, box_h, detector_score, crop_jpeg, lat, lon, heading")
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


def copy_text(value: object) -> str:
    """A value in COPY's text format (tab-separated; NULL is ``\\N``)."""
    if value is None:
        return "\\N"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def frame_lines(frame: Frame, ids: Sequence[int]) -> str:
    """The COPY text lines of a frame's reads, with their ids (pure: unit-tested)."""
    lat, lon, heading = frame.position
    head = f"\t{frame.read_at.isoformat()}\t{copy_text(frame.camera.id)}\t"
    tail = f"\t{copy_text(lat)}\t{copy_text(lon)}\t{copy_text(heading)}\n"
    lines = []
    for read_id, read in zip(ids, frame.reads):
        b = read.box
        lines.append(f"{read_id}{head}{copy_text(read.text)}\t{copy_text(read.plate_norm)}\t{copy_text(read.country)}"
                     f"\t{copy_text(read.format_name)}\t{float(read.confidence)!r}\t{{{','.join(repr(float(c)) for c in read.char_confidences)}}}"
                     f"\t{b.x}\t{b.y}\t{b.w}\t{b.h}\t{float(b.score)!r}\t{copy_text(read.crop_jpeg or None)}{tail}")
    return "".join(lines)


async def copy_lines(conn: psycopg.AsyncConnection, lines: Iterable[str], piece: int = 1 << 20) -> None:
    """COPY text lines of :func:`frame_lines` into ``plate_reads``, sent in pieces of about ``piece`` characters."""
    async with conn.cursor().copy(f"COPY plate_reads ({_COLUMNS}) FROM STDIN") as copy:
        buf: list[str] = []
        size = 0
        for text in lines:
            buf.append(text)
            size += len(text)
            if size >= piece:
                await copy.write("".join(buf))
                buf, size = [], 0
        if buf:
            await copy.write("".join(buf))


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
    await copy_lines(conn, (frame_lines(f, mine) for f, mine in zip(frames, per_frame)))
    keyed = [(f, mine) for f, mine in zip(frames, per_frame) if f.key is not None]
    if keyed:
        await conn.execute(_KEYS, ([f.camera.id for f, _ in keyed], [f.key for f, _ in keyed],
                                   [f.read_at for f, _ in keyed], [",".join(map(str, mine)) for _, mine in keyed]))
    return per_frame
