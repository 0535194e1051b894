"""Bulk ingest of reads (issue 10): COPY in the frame writer's batches and in Store.store_frames,
against a real PostgreSQL; the rows are the ones the one-statement path writes, ids come back
after the commit, hits and retry keys keep working."""

from __future__ import annotations

import asyncio
import struct
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest

from lapi.cameras import Camera
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.bulk import COPY_MIN_READS, COPY_SLICE_FRAMES
from lapi.store.copy_format import SIGNATURE, TRAILER, encode_reads
from lapi.store.db import FrameSeen
from lapi.store.frames import Frame
from lapi.watchlists import parse_entry

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
_COMPARED = ("camera_id, plate_text, plate_norm, country, plate_format, confidence, char_confidences, box_x, box_y,"
             " box_w, box_h, detector_score, crop_jpeg, lat, lon, heading, read_at")


def plate_read(norm: str, text: str | None = None, crop: bytes = b"\xff\xd8jpeg", country: str | None = "FR") -> PlateRead:
    return PlateRead(text or norm, norm, 0.91, (0.9, 0.5, 0.25) + (1.0,) * (len(norm) - 3),
                     Detection(10, 20, 120, 30, 0.88), crop, country, "fr" if country else None)


async def rows(store, query: str, params=()) -> list[tuple]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall()


def bare_frame(camera_id: str, read_at: datetime, reads: list[PlateRead], position=(None, None, None)) -> Frame:
    frame = Frame.__new__(Frame)  # no event loop needed for the pure encoder
    frame.camera = Camera(id=camera_id, name="", lat=None, lon=None, heading=None, road="")
    frame.read_at, frame.reads, frame.position = read_at, reads, position
    return frame


def test_encoded_reads_follow_the_binary_copy_format():
    read = PlateRead("AB-123-CD", "AB123CD", 0.5, (0.25, 1.0), Detection(10, 20, 120, 30, 0.75), b"", None, "fr")
    data = encode_reads([bare_frame("c1", datetime(2000, 1, 1, 0, 0, 1, tzinfo=timezone.utc), [read], (None, 2.0, None))],
                        [[7]])
    assert SIGNATURE == b"PGCOPY\n\xff\r\n\x00" + bytes(8) and TRAILER == b"\xff\xff"
    expected = (struct.pack(">h", 18) + struct.pack(">iq", 8, 7) + struct.pack(">iq", 8, 1_000_000)
                + struct.pack(">i", 2) + b"c1" + struct.pack(">i", 9) + b"AB-123-CD" + struct.pack(">i", 7) + b"AB123CD"
                + struct.pack(">i", -1) + struct.pack(">i", 2) + b"fr" + struct.pack(">if", 4, 0.5)
                + struct.pack(">i5i", 36, 1, 0, 700, 2, 1) + struct.pack(">ifif", 4, 0.25, 4, 1.0)
                + struct.pack(">iiiiiiiiif", 4, 10, 4, 20, 4, 120, 4, 30, 4, 0.75)
                + struct.pack(">i", -1) + struct.pack(">i", -1) + struct.pack(">id", 8, 2.0) + struct.pack(">i", -1))
    assert data == expected
    assert encode_reads([], []) == b""


def test_a_value_that_does_not_fit_its_column_is_named():
    big = PlateRead("AB123CD", "AB123CD", 0.9, (0.9,) * 7, Detection(2**31, 0, 10, 10, 0.9), b"", "FR", "fr")
    with pytest.raises(ValueError, match="read 3 of camera c1 .* box: 32-bit integers"):
        encode_reads([bare_frame("c1", T0, [big])], [[3]])
    word = PlateRead("AB123CD", "AB123CD", 0.9, (0.9, "x"), Detection(1, 0, 10, 10, 0.9), b"", "FR", "fr")
    with pytest.raises(ValueError, match="char_confidences: numbers"):
        encode_reads([bare_frame("c1", T0, [word])], [[3]])
    with pytest.raises(ValueError, match="position .* must be numbers or None"):
        encode_reads([bare_frame("c1", T0, [plate_read("AB123CD")], ("50.1", 1.0, None))], [[3]])
    with pytest.raises(ValueError, match="zip"):  # ids and reads must pair up
        encode_reads([bare_frame("c1", T0, [plate_read("AB123CD")])], [[3, 4]])


async def test_encoded_reads_come_back_from_the_server_as_given(store):
    from lapi.store.bulk import copy_encoded

    await store.upsert_camera(Camera(id="cam-2", name="", lat=None, lon=None, heading=None, road=""))
    paris = timezone(timedelta(hours=1))
    reads = [plate_read("AB123CD", text="AB\t123\\CD\u00e9"),
             plate_read("GV073KP", crop=b"", country=None),
             PlateRead("X1", "X1", 0.25, (), Detection(-5, 0, 1, 1, 1e-9), b"\x00" * 3000, "BE", "be")]
    frames = [bare_frame("cam-2", datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=paris), reads[:2], (50.1, -1.5, 359.5)),
              bare_frame("cam-1", T0, reads[2:], (None, None, None))]
    async with store.pool.connection() as conn:
        await store.partitions.ensure(conn, "plate_reads", [f.read_at for f in frames])
        async with conn.transaction():
            await copy_encoded(conn, [encode_reads(frames[:1], [[11, 12]]), encode_reads(frames[1:], [[13]])])
    f32 = lambda x: None if x is None else float(np.float32(x))  # noqa: E731  (float4 columns, as stored)
    got = {}
    for r in await rows(store, f"SELECT id, {_COMPARED} FROM plate_reads"):
        got[r[0]] = (*r[1:6], f32(r[6]), [f32(c) for c in r[7]], *r[8:12], f32(r[12]), *r[13:16], f32(r[16]), r[17])
    for read_id, frame, read in ((11, frames[0], reads[0]), (12, frames[0], reads[1]), (13, frames[1], reads[2])):
        b = read.box
        assert got[read_id] == (frame.camera.id, read.text, read.plate_norm, read.country, read.format_name,
                                f32(read.confidence), [f32(c) for c in read.char_confidences], b.x, b.y, b.w, b.h,
                                f32(b.score), read.crop_jpeg or None, frame.position[0], frame.position[1],
                                f32(frame.position[2]), frame.read_at)


async def test_a_frame_without_utc_offset_is_refused():
    cam = Camera(id="cam-1", name="", lat=None, lon=None, heading=None, road="")
    with pytest.raises(ValueError, match="UTC offset"):
        Frame(cam, datetime(2026, 11, 20, 8, 0), [plate_read("AB123CD")], [[]], (None, None, None))


async def test_copied_rows_equal_the_rows_the_statement_writes(store):
    odd = plate_read("AB123CD", text="AB\t123\\CD\u00e9")  # tab, backslash, non-ASCII: stored as given
    reads = [odd] + [plate_read(f"ZZ{i:03d}ZZ") for i in range(COPY_MIN_READS)]
    alone = await store.store_reads("cam-1", T0, reads[:2], position=(50.1, 1.9, None))  # one statement
    cam = await store.get_camera("cam-1")
    copied = await store.frames.execute([Frame(cam, T0 + timedelta(seconds=1), reads, [[] for _ in reads],
                                               (50.1, 1.9, None))])
    assert store.frames.copied_reads == len(reads)
    assert len(copied[0]) == len(reads) and [s.read for s in copied[0]] == reads
    ids = [s.id for s in copied[0]]
    assert ids == sorted(ids) and ids[0] > alone[-1].id
    by_id = {r[0]: r[1:] for r in await rows(store, f"SELECT id, {_COMPARED} FROM plate_reads")}
    for a, c in ((alone[0], copied[0][0]), (alone[1], copied[0][1])):
        assert by_id[a.id][:-1] == by_id[c.id][:-1]  # same columns, only the time differs
    assert by_id[ids[0]][1] == "AB\t123\\CD\u00e9"
    assert len(by_id) == 2 + len(reads)


async def test_a_burst_of_frames_is_copied_with_keys_and_hits_intact(store):
    await store.watchlists.add_entry(parse_entry({"plate": "AB123CD", "list": "douane"}), "alice")
    plain = [store.store_reads("cam-1", T0 + timedelta(seconds=i), [plate_read(f"ZZ{i:03d}ZZ"), plate_read(f"YY{i:03d}YY")],
                               key=f"f-{i}") for i in range(60)]
    hits = [store.store_reads("cam-1", T0 + timedelta(seconds=100 + i), [plate_read("AB123CD")], key=f"h-{i}")
            for i in range(5)]
    before = store.frames.batches
    results = await asyncio.gather(*plain, *hits)
    assert store.frames.batches - before < 20  # queued frames went together ...
    assert store.frames.copied_reads >= 100  # ... and their plain reads through COPY
    stored = {r[0]: r[1] for r in await rows(store, "SELECT id, plate_norm FROM plate_reads")}
    assert len(stored) == 125
    for result in results:  # every caller got the ids of its own reads
        assert all(stored[s.id] == s.read.plate_norm for s in result)
    assert all(len(r[0].hits) == 1 for r in results[60:]) and not any(s.hits for r in results[:60] for s in r)
    keys = dict(await rows(store, "SELECT frame_key, read_ids FROM frame_keys"))
    assert len(keys) == 65
    assert all(keys[f"f-{i}"] == [s.id for s in results[i]] for i in range(60))
    alerts = await store.alerts_after(0)
    assert sorted(a["read_id"] for a in alerts) == sorted(r[0].id for r in results[60:])
    # a retry of a copied frame stores nothing and is told so; in a burst, only it fails
    again = [store.store_reads("cam-1", T0 + timedelta(seconds=500 + i), [plate_read(f"XX{i:03d}XX")], key=f"n-{i}")
             for i in range(40)]
    out = await asyncio.gather(store.store_reads("cam-1", T0, [plate_read("ZZ000ZZ")], key="f-0"), *again,
                               return_exceptions=True)
    assert isinstance(out[0], FrameSeen) and all(isinstance(o, list) for o in out[1:])
    assert (await rows(store, "SELECT count(*) FROM plate_reads"))[0][0] == 165
    replay = await store.frame_replay("cam-1", "f-3")
    assert [r["id"] for r in replay["reads"]] == [s.id for s in results[3]]


async def test_store_frames_acknowledges_after_commit_and_matches(store):
    await store.watchlists.add_entry(parse_entry({"plate": "GV073KP"}), "alice")
    n = 2 * COPY_SLICE_FRAMES + 500  # the copied reads go in three encoded slices
    frames = [("cam-1", T0 + timedelta(seconds=i), [plate_read("GV073KP" if i % 50 == 0 else f"AA{i:04d}AA")])
              for i in range(n)]
    stored = await store.store_frames(frames)
    assert [len(f) for f in stored] == [1] * n
    assert sum(len(f[0].hits) for f in stored) == n // 50
    with psycopg.connect(store.url) as conn:  # another connection sees all of it: committed
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM plate_reads").fetchone() == (n, n)
        assert conn.execute("SELECT count(*) FROM hits").fetchone() == (n // 50,)
        assert conn.execute("SELECT count(*) FROM alert_outbox").fetchone() == (n // 50,)
        kept = dict(conn.execute("SELECT id, plate_norm FROM plate_reads").fetchall())
    assert all(kept[f[0].id] == f[0].read.plate_norm for f in stored)  # every caller's id is its own read


async def test_store_frames_fails_whole_on_an_unknown_camera(store):
    from lapi.store.errors import NotFound

    with pytest.raises(NotFound, match="unknown camera"):
        await store.store_frames([("cam-1", T0, [plate_read("AB123CD")]), ("nope", T0, [plate_read("AB123CD")])])
    assert await rows(store, "SELECT count(*) FROM plate_reads") == [(0,)]


async def test_store_frames_with_more_hits_than_one_statement_takes(store):
    from lapi.store.frames import MAX_BATCH_READS

    await store.watchlists.add_entry(parse_entry({"plate": "GV073KP"}), "alice")
    n = 5 * MAX_BATCH_READS + 100  # six statements in one transaction; in one, too many parameters
    frames = [("cam-1", T0 + timedelta(seconds=i), [plate_read("GV073KP")]) for i in range(n)]
    stored = await store.store_frames(frames + [("cam-1", T0, [plate_read(f"QQ{i:03d}QQ")]) for i in range(40)])
    alert_ids = [f[0].hits[0].alert_id for f in stored[:n]]
    assert alert_ids == sorted(alert_ids) and len(set(alert_ids)) == n
    assert all(f[0].hits == [] for f in stored[n:]) and store.frames.copied_reads == 40
    assert await rows(store, "SELECT count(*), count(DISTINCT read_id) FROM hits") == [(n, n)]
    assert [a["alert_id"] for a in await store.alerts_after(0, limit=5000)] == alert_ids
