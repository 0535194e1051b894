"""Bulk ingest of reads (issue 10): COPY in the frame writer's batches and in Store.store_frames,
against a real PostgreSQL; the rows are the ones the one-statement path writes, ids come back
after the commit, hits and retry keys keep working."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from lapi.cameras import Camera
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.bulk import COPY_MIN_READS, READ_TYPES, Float4ArrayDumper, frame_rows
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


def test_frame_rows_one_row_per_read_with_its_id_in_the_binary_types_order():
    cam = Camera(id="cam-1", name="", lat=None, lon=None, heading=None, road="")
    frame = Frame.__new__(Frame)  # no event loop needed for the pure row builder
    frame.camera, frame.read_at, frame.position = cam, T0, (50.5, None, 90.0)
    frame.reads = [plate_read("AB123CD"), plate_read("GV073KP", crop=b"", country=None)]
    first, second = frame_rows(frame, [7, 8])
    assert len(first) == len(READ_TYPES) == 18
    assert first[:5] == (7, T0, "cam-1", "AB123CD", "AB123CD")
    assert first[8] == [0.9, 0.5, 0.25, 1.0, 1.0, 1.0, 1.0]  # a list: psycopg dumps arrays from lists
    assert first[9:13] == (10, 20, 120, 30) and first[14] == b"\xff\xd8jpeg" and first[15:] == (50.5, None, 90.0)
    assert second[0] == 8 and second[5] is None and second[6] is None and second[14] is None


@pytest.mark.parametrize("values", [[], [0.5], [0.9123, 0.99, 0.87, 0.95, 0.99, 0.97, 0.93],
                                    [1.0, float("nan"), 1e-9, -0.0]])
def test_the_confidences_dumper_writes_the_bytes_of_psycopgs_own_float4_array_dumper(values):
    from psycopg import adapt, pq

    oid = psycopg.postgres.types["float4"].array_oid
    stock = adapt.Transformer(adapt.AdaptersMap(psycopg.adapters))
    stock.set_dumper_types([oid], pq.Format.BINARY)
    expected = bytes(stock.dump_sequence([values], [pq.Format.BINARY])[0])
    assert bytes(Float4ArrayDumper(list).dump(values)) == expected


def test_the_confidences_dumper_names_a_value_that_is_not_a_number():
    with pytest.raises(psycopg.DataError, match="float4"):
        Float4ArrayDumper(list).dump([0.5, "x"])


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
    frames = [("cam-1", T0 + timedelta(minutes=i), [plate_read("GV073KP" if i % 50 == 0 else f"AA{i:03d}AA")])
              for i in range(500)]
    stored = await store.store_frames(frames)
    assert [len(f) for f in stored] == [1] * 500
    assert sum(len(f[0].hits) for f in stored) == 10
    with psycopg.connect(store.url) as conn:  # another connection sees all of it: committed
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM plate_reads").fetchone() == (500, 500)
        assert conn.execute("SELECT count(*) FROM hits").fetchone() == (10,)
        assert conn.execute("SELECT count(*) FROM alert_outbox").fetchone() == (10,)


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
