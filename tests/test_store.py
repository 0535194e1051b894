"""The store against a real PostgreSQL: migrations, partitions, reads with hits, pings, watchlist."""

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.db import Conflict, NotFound, parse_watchlist_csv
from lapi.store.migrations import load_migrations, migrate, partitioned_tables, render_migration
from trackers.pings import Ping

T0 = datetime(2026, 11, 20, 23, 59, 30, tzinfo=timezone.utc)


def plate_read(text: str) -> PlateRead:
    return PlateRead(text, text, 0.93, (0.9,) * len(text), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8jpeg")


def test_timescale_rendering_makes_hypertables():
    sql = load_migrations()[0].sql
    assert partitioned_tables(sql) == [("plate_reads", "read_at"), ("beacon_pings", "fix_time")]
    ts = render_migration(sql, timescale=True)
    assert "PARTITION BY" not in ts
    assert "SELECT create_hypertable('plate_reads', by_range('read_at', INTERVAL '1 day'));" in ts
    assert "SELECT create_hypertable('beacon_pings', by_range('fix_time', INTERVAL '1 day'));" in ts
    assert render_migration(sql, timescale=False) == sql


async def test_migrations_apply_once(database_url):
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await migrate(conn, use_timescale=False) == [m.version for m in load_migrations()]
        assert await migrate(conn) == []
        cur = await conn.execute("SELECT relkind FROM pg_class WHERE relname = 'plate_reads'")
        assert (await cur.fetchone())[0] == "p"  # partitioned table


async def test_reads_are_stored_in_day_partitions_with_hits(store):
    entry = await store.add_watch_entry("AB-123-CD", category="stolen", reason="vol 2026/118", priority=3)
    stored = await store.store_reads("cam-1", T0, [plate_read("AB123CD"), plate_read("ZZ999ZZ")])
    assert [len(s.hits) for s in stored] == [1, 0]
    assert stored[0].hits[0].match.entry == entry
    stored2 = await store.store_reads("cam-1", T0 + timedelta(minutes=1), [plate_read("AB123CD")])  # next day
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT tableoid::regclass::text, count(*) FROM plate_reads GROUP BY 1 ORDER BY 1")
        assert await cur.fetchall() == [("plate_reads_p20261120", 2), ("plate_reads_p20261121", 1)]
        cur = await conn.execute("SELECT read_id, entry_id, match_type FROM hits ORDER BY id")
        assert await cur.fetchall() == [(stored[0].id, entry.id, "exact"), (stored2[0].id, entry.id, "exact")]
    rows = await store.sightings("ab 123 cd", T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [r["hit"] for r in rows] == [True, True]
    assert rows[0]["read_at"] > rows[1]["read_at"] and rows[0]["lat"] == 50.95
    assert await store.read_crop(stored[0].id) == b"\xff\xd8jpeg"


async def test_unknown_camera_is_refused(store):
    with pytest.raises(NotFound, match="unknown camera 'nope'"):
        await store.store_reads("nope", T0, [plate_read("AB123CD")])


async def test_pings_deduplicated_and_ordered_by_fix_time(store):
    pings = [Ping("b1", T0 + timedelta(seconds=s), 50.0 + s / 1000, 1.8) for s in (30, 0, 60)]
    assert await store.store_pings(pings) == 3
    assert await store.store_pings(pings[:2] + [Ping("b1", T0 + timedelta(seconds=90), 50.1, 1.8)]) == 1
    rows = await store.pings("b1", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [r["fix_time"] for r in rows] == sorted(r["fix_time"] for r in rows) and len(rows) == 4


async def test_watchlist_crud_and_csv_import(store):
    e = await store.add_watch_entry("GV-073-KP")
    with pytest.raises(Conflict):
        await store.add_watch_entry("gv073kp")
    rows = parse_watchlist_csv("plate,list,category,priority\nAA-001-AA,fraud,smuggling,4\ngv-073-kp,,,\n")
    assert await store.import_watch_entries(rows) == (1, 1)
    assert {x.plate_norm for x in await store.list_watch_entries()} == {"GV073KP", "AA001AA"}
    assert [x.list_name for x in await store.list_watch_entries("fraud")] == ["fraud"]
    await store.remove_watch_entry(e.id)
    with pytest.raises(NotFound):
        await store.remove_watch_entry(e.id)


@pytest.mark.parametrize("text,message", [
    ("plaque\nAB123CD\n", "header"),
    ("plate\n", "no data rows"),
    ("plate\nA\n", "line 2"),
    ("plate,priority\nAB123CD,9\n", "line 2: priority"),
])
def test_bad_watchlist_csv(text, message):
    with pytest.raises(ValueError, match=message):
        parse_watchlist_csv(text)
