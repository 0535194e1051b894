"""The two storage engines of issue 10 (migration 0008): the TimescaleDB DDL and policies as
generated text (the extension is not installed here), the plain-PostgreSQL path against a real
server: BRIN on time, the hourly summary with its watermark, GET /v1/traffic/hourly, retention."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aiohttp
import psycopg
import pytest

from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.camera_hours import CameraHours
from lapi.store.migrations import engine_sections, load_migrations, render_migration
from lapi.store.timescale import drop_chunk_statement, policy_statements

NOW = datetime(2026, 11, 23, 10, 20, tzinfo=timezone.utc)


def migration(version: int) -> str:
    return next(m.sql for m in load_migrations() if m.version == version)


def read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(1, 2, 3, 4, 0.8), b"")


def test_0008_renders_one_form_per_engine():
    sql = migration(8)
    plain, ts = render_migration(sql, False), render_migration(sql, True)
    for text in (plain, ts):
        assert "DROP CONSTRAINT IF EXISTS plate_reads_camera_id_fkey" in text
    assert "USING brin (read_at)" in plain and "CREATE TABLE camera_hour_counts" in plain
    assert "camera_hour_refresh" in plain and "time_bucket" not in plain and "timescaledb.compress" not in plain
    assert "USING brin" not in ts and "camera_hour_refresh" not in ts
    assert "CREATE MATERIALIZED VIEW camera_hour_counts" in ts and "timescaledb.continuous" in ts
    assert "time_bucket(INTERVAL '1 hour', read_at)" in ts and "WITH NO DATA" in ts
    assert "timescaledb.compress_segmentby = 'camera_id'" in ts
    assert "timescaledb.compress_orderby = 'plate_norm, read_at DESC, id'" in ts
    assert "timescaledb.compress_segmentby = 'beacon_id'" in ts
    # earlier migrations have no sections: plain is unchanged, TimescaleDB still gets hypertables
    first = migration(1)
    assert engine_sections(first, True) == engine_sections(first, False) == first
    assert "create_hypertable('plate_reads', by_range('read_at', INTERVAL '1 day'))" in render_migration(first, True)


def test_0009_byte_order_keys_on_plain_postgresql_only():
    sql = migration(9)
    plain, ts = render_migration(sql, False), render_migration(sql, True)
    assert 'ALTER COLUMN plate_norm TYPE text COLLATE "C"' in plain and 'ALTER TABLE cameras ALTER COLUMN id' in plain
    # TimescaleDB cannot change a column of a compressed hypertable or of the continuous aggregate
    assert "ALTER" not in "".join(line for line in ts.splitlines() if not line.startswith("--"))


def test_0010_plate_days_are_plain_tables_on_both_engines():
    """The summary is one B-tree across all days: never a hypertable nor day-partitioned, or a
    history would descend one index per day again (lapi/store/plate_days.py)."""
    sql = migration(10)
    assert render_migration(sql, False) == render_migration(sql, True) == sql
    for table in ("plate_days", "plate_day_summaries", "plate_day_late"):
        assert f"CREATE TABLE {table} (" in sql
    assert "PARTITION BY" not in sql and "create_hypertable" not in render_migration(sql, True)
    assert "PRIMARY KEY (plate_norm, day)" in sql


def test_sections_switch_and_come_back():
    sql = "A;\n-- [plain]\nB;\n-- [timescale]\nC;\n-- [both]\nD;\n"
    assert engine_sections(sql, False) == "A;\nB;\nD;\n"
    assert engine_sections(sql, True) == "A;\nC;\nD;\n"


def test_timescale_policies_follow_the_configured_age():
    statements = policy_statements(timedelta(days=2))
    assert statements[:2] == ["SELECT remove_compression_policy('plate_reads', if_exists => true)",
                              "SELECT add_compression_policy('plate_reads', compress_after => INTERVAL '172800 seconds')"]
    assert "SELECT add_compression_policy('beacon_pings', compress_after => INTERVAL '172800 seconds')" in statements
    assert statements[-2] == "SELECT remove_continuous_aggregate_policy('camera_hour_counts', if_exists => true)"
    assert ("add_continuous_aggregate_policy('camera_hour_counts', start_offset => INTERVAL '259200 seconds',"
            " end_offset => INTERVAL '3600 seconds', schedule_interval => INTERVAL '1800 seconds')") in statements[-1]
    assert "INTERVAL '43200 seconds'" in policy_statements(timedelta(hours=12))[1]
    assert drop_chunk_statement("plate_reads") == ("SELECT drop_chunks('plate_reads', older_than => %(e)s::timestamptz,"
                                                   " newer_than => %(s)s::timestamptz)")


async def test_plain_path_has_brin_on_time_and_no_camera_trigger(store):
    await store.store_reads("cam-1", NOW, [read("AB123CD")])
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'plate_reads_time_brin'")
        assert "USING brin (read_at)" in (await cur.fetchone())[0]
        cur = await conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'plate_reads_p%%'"
                                 " AND indexdef LIKE '%%USING brin%%'")
        assert (await cur.fetchone())[0] == 1  # the day partition got its BRIN
        cur = await conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'plate_reads_camera_id_fkey'")
        assert (await cur.fetchone())[0] == 0


async def _byte_ordered_partition_indexes(conn) -> int:
    """Indexes of plate_reads' day partitions whose first key column compares in the "C" collation."""
    cur = await conn.execute(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_collation co ON co.oid = i.indcollation[0]"
        " WHERE c.relname LIKE 'plate_reads_p%%' AND co.collname = 'C'")
    return (await cur.fetchone())[0]


async def test_plain_path_compares_plates_and_cameras_byte_by_byte_in_every_day_partition(store):
    await store.store_reads("cam-1", NOW, [read("AB123CD")])
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT c.relname, a.attname, co.collname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_collation co ON co.oid = a.attcollation"
            " WHERE (c.relname = 'plate_reads' OR c.relname LIKE 'plate_reads_p%%') AND c.relkind IN ('r', 'p')"
            " AND a.attname IN ('plate_norm', 'camera_id', 'plate_text')")
        found = await cur.fetchall()
        assert {rel for rel, _, _ in found} >= {"plate_reads"} and len({rel for rel, _, _ in found}) >= 2
        assert {(col, coll) for _, col, coll in found} == {("plate_norm", "C"), ("camera_id", "C"),
                                                          ("plate_text", "default")}
        # the day partition's plate index orders by bytes too, and a history still finds the read
        assert await _byte_ordered_partition_indexes(conn) == 2  # plate + time, camera + time
    found = await store.sightings("AB123CD", NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert [s["plate_norm"] for s in found] == ["AB123CD"]


async def test_0009_upgrades_a_version_8_database_that_holds_reads_and_fitted_beacons(database_url, monkeypatch):
    """A database made before migration 0009 (the real migrations 1-8, as an older release ran them)
    keeps its reads and its beacon fittings, and its day partitions and their indexes turn to "C"."""
    from lapi.cameras import Camera
    from lapi.store import migrations
    from lapi.store.db import Store

    now = datetime.now(timezone.utc)  # today's reads: an older release's writer marks no late day
    shipped = migrations.load_migrations()
    monkeypatch.setattr(migrations, "load_migrations", lambda: [m for m in shipped if m.version < 9])
    old = Store(database_url, max_size=2)
    await old.open()
    await old.upsert_camera(Camera(id="cam-1", name="", lat=50.95, lon=1.85, heading=90.0, road="A16"))
    await old.store_reads("cam-1", now, [read("AB123CD"), read("GV073KP")])
    async with old.pool.connection() as conn:
        await conn.execute("INSERT INTO beacons (id) VALUES ('bcn-1')")
        await conn.execute("INSERT INTO beacon_fittings (beacon_id, plate_norm, plate_text, fitted_from)"
                           " VALUES ('bcn-1', 'AB123CD', 'AB-123-CD', %s)", (now - timedelta(days=1),))
    await old.close()
    monkeypatch.undo()

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await migrations.migrate(conn) == [9, 10]
        assert await _byte_ordered_partition_indexes(conn) == 2
        cur = await conn.execute("SELECT b.id, f.plate_norm FROM beacons b"
                                 " JOIN beacon_fittings f ON f.beacon_id = b.id")
        assert await cur.fetchall() == [("bcn-1", "AB123CD")]
    store = Store(database_url, max_size=2)
    await store.open()
    try:
        window = (now - timedelta(days=1), now + timedelta(days=1))
        assert [s["plate_norm"] for s in await store.sightings("GV073KP", *window)] == ["GV073KP"]
        await store.store_reads("cam-1", now + timedelta(seconds=1), [read("GV073KP")])
        assert len(await store.sightings("GV073KP", *window)) == 2
    finally:
        await store.close()


async def _direct_counts(store, start, end) -> list[dict]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT camera_id, date_trunc('hour', read_at, 'UTC'), count(*) FROM plate_reads"
            " WHERE read_at >= %s AND read_at < %s GROUP BY 1, 2 ORDER BY 2, 1", (start, end))
        return [{"camera_id": c, "hour": h, "reads": n} for c, h, n in await cur.fetchall()]


async def test_hourly_counts_summary_then_live_and_kept_after_erasure(store):
    from lapi.cameras import Camera

    await store.upsert_camera(Camera(id="cam-2", name="", lat=50.0, lon=1.0, heading=0.0, road=""))
    frames = [(("cam-1", "cam-2")[i % 3 == 0], NOW - timedelta(minutes=7 * i), [read(f"ZZ{i:03d}ZZ")])
              for i in range(60)]  # about 7 hours back from NOW
    await store.store_frames(frames)
    hours = CameraHours(store)
    start, end = NOW - timedelta(hours=8), NOW + timedelta(hours=1)
    expected = await _direct_counts(store, start, end)
    assert len(expected) > 10
    assert await hours.counts(start, end) == expected  # nothing refreshed yet: every hour counted live
    assert await hours.refresh(NOW) > 0
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT refreshed_to FROM camera_hour_refresh")
        assert (await cur.fetchone())[0] == NOW.replace(minute=0)
        cur = await conn.execute("SELECT count(*), max(hour) FROM camera_hour_counts")
        n, newest = await cur.fetchone()
        assert n > 10 and newest < NOW.replace(minute=0)  # complete hours only
    assert await hours.counts(start, end) == expected  # summary + live: the same rows
    assert await hours.counts(start, end, ["cam-2"]) == [r for r in expected if r["camera_id"] == "cam-2"]
    # a late read in a refreshed hour is counted at the next refresh; the reads' erasure keeps the counts
    await store.store_frames([("cam-1", NOW - timedelta(minutes=61), [read("LATE01")])])
    await hours.refresh(NOW + timedelta(minutes=5))
    with_late = await _direct_counts(store, start, end)
    assert await hours.counts(start, end) == with_late
    async with store.pool.connection() as conn:
        await conn.execute("DELETE FROM plate_reads WHERE read_at < %s", (NOW.replace(minute=0),))
    kept = await hours.counts(start, end)
    assert [r for r in kept if r["hour"] < NOW.replace(minute=0)] == [r for r in with_late
                                                                       if r["hour"] < NOW.replace(minute=0)]


async def test_traffic_endpoint(service, store):
    await store.store_reads("cam-1", NOW - timedelta(minutes=30), [read("AB123CD"), read("GV073KP")])
    await store.store_reads("cam-1", NOW, [read("AB123CD")])
    url = f"{service}/v1/traffic/hourly"
    span = {"from": (NOW - timedelta(hours=2)).isoformat(), "to": (NOW + timedelta(hours=1)).isoformat()}
    async with aiohttp.ClientSession() as http:
        async with http.get(url, params=span, headers=service.auth("analyst")) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        assert body["engine"] == "postgresql" and body["truncated"] is False
        assert [(h["camera_id"], h["reads"]) for h in body["hours"]] == [("cam-1", 2), ("cam-1", 1)]
        async with http.get(url, params={**span, "camera": "cam-9"}, headers=service.auth("supervisor")) as r:
            assert (await r.json())["hours"] == []
        async with http.get(url, params={**span, "limit": "1"}, headers=service.auth("analyst")) as r:
            assert (await r.json())["truncated"] is True
        for params, message in (({"from": span["to"], "to": span["from"]}, "to: must be after from"),
                                ({"from": "2020-01-01T00:00:00Z", "to": span["to"]}, "at most 366 days later"),
                                ({"to": "0001-01-01T00:07:16Z"}, "to: too early"),
                                ({**span, "camera": "bad id!"}, "camera: not a camera id"),
                                ({**span, "to": "yesterday"}, "to")):
            async with http.get(url, params=params, headers=service.auth("analyst")) as r:
                assert r.status == 400 and message in (await r.json())["error"]["message"]
        async with http.get(url, params=span) as r:
            assert r.status == 401
        async with http.get(url, params=span, headers=service.auth("camera")) as r:
            assert r.status == 403


def test_compress_after_is_checked_at_start_up(tmp_path):
    from conftest import ROOT
    from lapi.config import ConfigError, load_settings

    def settings(value: str):
        (tmp_path / "lapi.toml").write_text(
            f'[store]\ncompress_after = {value}\n[reading]\ndetector_dir = "{ROOT / "models" / "detector"}"\n'
            f'recognizer_config = "{ROOT / "models" / "ocr" / "lapi_plate_g2.json"}"\n')
        return load_settings(tmp_path / "lapi.toml", env={})

    assert settings('"36h"').compress_after == timedelta(hours=36)
    with pytest.raises(ConfigError, match="store.compress_after: must be between 1h and 365d"):
        settings('"10m"')
    with pytest.raises(ConfigError, match="store.compress_after: must be a duration"):
        settings('"soon"')
