"""Reads as ``plate_reads`` rows in PostgreSQL's binary COPY format (pure: bytes out, no I/O).

Why not psycopg's ``Copy.write_row``: a row went through a tuple built per read and one dumper call
per field, inside the COPY: on a machine shared with the server the two took turns on the same
cores, and the server's time could not be told from the client's.  Here a read is one
``struct.pack`` whose layout is cached by the lengths of its variable fields (3.6 us a read, about
what tuple and dumpers cost together, docs/benchmarks.md), and the rows are bytes before they go:
the service encodes a batch in slices, the server storing one while the next is encoded; the
bench encodes whole batches first and times the COPY apart.

The format (PostgreSQL's documentation, "COPY", binary format): a signature and two zero words,
then per row the field count and, per field, its length in bytes (-1 for NULL) and its value as
the type's binary send function writes it, all big-endian; a -1 field count ends the data.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from lapi.store.frames import Frame

# the columns, in the order the rows carry them; every writer of this format names them so
COLUMNS = ("id, read_at, camera_id, plate_text, plate_norm, country, plate_format, confidence, char_confidences,"
           " box_x, box_y, box_w, box_h, detector_score, crop_jpeg, lat, lon, heading")
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # no flags, no header extension
TRAILER = b"\xff\xff"
_FIELDS = len(COLUMNS.split(","))
_FLOAT4_OID = psycopg.postgres.types["float4"].oid  # an array's element type, in its header
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # timestamptz counts microseconds from here
_US = timedelta(microseconds=1)
_NULL = struct.pack(">i", -1)
_FLOAT8 = struct.Struct(">id")
_FLOAT4 = struct.Struct(">if")
_CROP_LENGTH = struct.Struct(">i")
_MAX_LAYOUTS = 4096  # shapes seen in practice: a few hundred (camera id, plate and format lengths)
_layouts: dict[tuple[int, ...], struct.Struct] = {}


def _layout(camera: int, text: int, norm: int, country: int, fmt: int, confidences: int) -> struct.Struct:
    """The ``struct`` of a row up to its crop, for these byte lengths (-1: NULL)."""
    key = (camera, text, norm, country, fmt, confidences)
    layout = _layouts.get(key)
    if layout is None:
        if len(_layouts) >= _MAX_LAYOUTS:
            _layouts.clear()
        array = "i5i" + "if" * confidences if confidences else "i3i"  # one dimension; an empty array has none
        layout = _layouts[key] = struct.Struct(
            f">hiqiqi{camera}si{text}si{norm}s" + ("i" if country < 0 else f"i{country}s")
            + ("i" if fmt < 0 else f"i{fmt}s") + "if" + array + "iiiiiiiiif")
    return layout


def _position(frame: Frame) -> bytes:
    """The last three fields (lat, lon, heading): the frame's, the same for each of its reads."""
    lat, lon, heading = frame.position
    return ((_NULL if lat is None else _FLOAT8.pack(8, lat)) + (_NULL if lon is None else _FLOAT8.pack(8, lon))
            + (_NULL if heading is None else _FLOAT4.pack(4, heading)))


def encode_reads(frames: Sequence[Frame], ids: Sequence[Sequence[int]]) -> bytes:
    """The rows of the frames' reads (COPY data between :data:`SIGNATURE` and :data:`TRAILER`, which
    the stream sends once), ``ids[i]`` being frame ``i``'s read ids in the order of its reads.

    Raises ``ValueError`` naming the read and what its values must be when one does not fit its
    column's type (a box coordinate past 32 bits, a confidence or a position that is not a number).
    """
    out: list[bytes] = []
    append = out.append
    for frame, frame_ids in zip(frames, ids, strict=True):
        at = (frame.read_at - _PG_EPOCH) // _US  # needs an offset: Frame refuses a time without one
        camera = frame.camera.id.encode()
        try:
            tail = _position(frame)
        except struct.error as exc:
            raise ValueError(f"frame of camera {frame.camera.id} at {frame.read_at.isoformat()}: its position"
                             f" (lat, lon, heading) must be numbers or None: {exc}") from None
        for read_id, read in zip(frame_ids, frame.reads, strict=True):
            text, norm = read.text.encode(), read.plate_norm.encode()
            country = None if read.country is None else read.country.encode()
            fmt = None if read.format_name is None else read.format_name.encode()
            n = len(read.char_confidences)
            args: list = [_FIELDS, 8, read_id, 8, at, len(camera), camera, len(text), text, len(norm), norm]
            if country is None:
                args.append(-1)
            else:
                args += (len(country), country)
            if fmt is None:
                args.append(-1)
            else:
                args += (len(fmt), fmt)
            args += (4, read.confidence)
            if n:
                pairs: list = [4, 0.0] * n
                pairs[1::2] = read.char_confidences
                args += (20 + 8 * n, 1, 0, _FLOAT4_OID, n, 1)
                args += pairs
            else:
                args += (12, 0, 0, _FLOAT4_OID)
            box = read.box
            args += (4, box.x, 4, box.y, 4, box.w, 4, box.h, 4, box.score)
            layout = _layout(len(camera), len(text), len(norm), -1 if country is None else len(country),
                             -1 if fmt is None else len(fmt), n)
            try:
                append(layout.pack(*args))
            except struct.error as exc:
                raise ValueError(f"read {read_id} of camera {frame.camera.id} at {frame.read_at.isoformat()}:"
                                 f" a value does not fit its column (confidence, char_confidences: numbers;"
                                 f" box: 32-bit integers): {exc}") from None
            crop = read.crop_jpeg
            if crop:
                append(_CROP_LENGTH.pack(len(crop)))
                append(crop)
            else:  # no crop kept
                append(_NULL)
            append(tail)
    return b"".join(out)
