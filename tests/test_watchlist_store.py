"""Watchlists in a real PostgreSQL (issue 7): migration 0003 over existing data, matching through the
store's index (exact, wildcard, lookalike, validity, per-list thresholds), hits with their outbox
alert in one transaction, the change log, index sync between processes, hit decisions, CSV."""

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.db import Conflict, NotFound, Store
from lapi.store.migrations import load_migrations, migrate, render_migration
from lapi.watchlists import parse_entry, parse_watchlist_csv, watchlist_csv

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def plate_read(norm: str, text: str | None = None, confidence: float = 0.91) -> PlateRead:
    return PlateRead(text or norm, norm, confidence, (0.9,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8jpeg")


async def add(store: Store, plate: str, actor: str = "alice", **fields) -> dict:
    return await store.watchlists.add_entry(parse_entry({"plate": plate, **fields}), actor)


async def rows(store: Store, sql: str, params=()) -> list[tuple]:
    async with store.pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def test_migration_0003_keeps_existing_entries_and_hits(database_url):
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                               " applied_at timestamptz NOT NULL DEFAULT now(), timescale boolean NOT NULL)")
            for m in load_migrations()[:2]:
                await conn.execute(render_migration(m.sql, False))
                await conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, now(), false)", (m.version, m.name))
        await conn.execute("INSERT INTO cameras (id) VALUES ('cam-1')")
        await conn.execute("CREATE TABLE plate_reads_p20261120 PARTITION OF plate_reads FOR VALUES FROM "
                           "('2026-11-20') TO ('2026-11-21')")
        await conn.execute("INSERT INTO watchlist_entries (list_name, plate_norm, plate_text, category, priority)"
                           " VALUES ('douane', 'AB123CD', 'AB-123-CD', 'stolen', 3), ('', 'GV073KP', 'GV073KP', '', 1)")
        cur = await conn.execute("INSERT INTO plate_reads (read_at, camera_id, plate_text, plate_norm, confidence,"
                                 " box_x, box_y, box_w, box_h, detector_score) VALUES ('2026-11-20T08:00Z', 'cam-1',"
                                 " 'AB123CD', 'AB123CD', 0.87, 0, 0, 10, 10, 0.9) RETURNING id")
        read_id = (await cur.fetchone())[0]
        await conn.execute("INSERT INTO hits (read_id, read_at, camera_id, plate_norm, entry_id, list_name, match_type)"
                           " SELECT %s, '2026-11-20T08:00Z', 'cam-1', 'AB123CD', id, 'douane', 'exact'"
                           " FROM watchlist_entries WHERE plate_norm = 'AB123CD'", (read_id,))
        assert 3 in await migrate(conn, use_timescale=False)  # (later migrations of other issues may follow)
        cur = await conn.execute("SELECT name, max_cost::float8 FROM watchlists ORDER BY name")
        assert await cur.fetchall() == [("default", 0.8), ("douane", 0.8)]
        cur = await conn.execute("SELECT list_name, plate_norm, kind FROM watchlist_entries ORDER BY id")
        assert await cur.fetchall() == [("douane", "AB123CD", "exact"), ("default", "GV073KP", "exact")]
        cur = await conn.execute("SELECT status, read_confidence, pattern, category, priority FROM hits")
        (status, confidence, pattern, category, priority), = await cur.fetchall()
        assert (status, pattern, category, priority) == ("new", "AB123CD", "stolen", 3)
        assert confidence == pytest.approx(0.87)
    store = Store(database_url)
    await store.open()
    try:
        assert [m.entry.plate_norm for m in store.watchlists.match("A8123CD", T0)] == ["AB123CD"]
    finally:
        await store.close()


async def test_lookalike_read_hits_through_store_reads_with_its_alert(store):
    entry = await add(store, "AB-123-CD", list="douane", category="stolen", reason="vol 2026/118", priority=3)
    stored = await store.store_reads("cam-1", T0, [plate_read("A8I23CD", "A8-I23-CD", 0.77), plate_read("ZZ999ZZ")])
    assert [len(s.hits) for s in stored] == [1, 0]
    hit = stored[0].hits[0]
    assert (hit.match.entry.id, hit.match.match_type, hit.match.cost) == (entry["id"], "lookalike", 0.4)
    assert hit.alert["alert_id"] == hit.alert_id > 0 and hit.alert["hit_id"] == hit.id
    assert hit.alert["plate"] == "A8-I23-CD" and hit.alert["pattern"] == "AB123CD" and hit.alert["category"] == "stolen"
    assert await rows(store, "SELECT match_type, cost::float8, read_confidence::float8 > 0.769, status FROM hits") == [
        ("lookalike", 0.4, True, "new")]
    assert await store.alerts_after(0) == [hit.alert]
    # a transaction that fails stores neither reads, hits nor alerts
    broken = plate_read("AB123CD")
    object.__setattr__(broken, "text", None)
    with pytest.raises(psycopg.errors.NotNullViolation):
        await store.store_reads("cam-1", T0, [plate_read("AB123CD"), broken])
    assert await rows(store, "SELECT (SELECT count(*) FROM plate_reads), (SELECT count(*) FROM hits),"
                             " (SELECT count(*) FROM alert_outbox)") == [(2, 1, 1)]


async def test_wildcards_validity_and_list_thresholds(store):
    await add(store, "AB-1??-CD", list="partial")
    await add(store, "*77XY*", list="partial")
    await add(store, "GV073KP", list="expired", valid_until="2026-11-20T07:00:00Z")
    await add(store, "GV073KP", list="later", valid_from="2026-11-21T00:00:00+01:00")
    await add(store, "GV073KP", list="now", valid_from="2026-11-19T00:00:00Z", valid_until="2026-11-21T00:00:00Z")
    await store.watchlists.create_list("strict", max_cost=0, description="exact and wildcard only")
    await add(store, "EF456GH", list="strict")

    def hit_lists(plate: str, at: datetime = T0) -> list[tuple[str, str]]:
        return [(m.entry.list_name, m.match_type) for m in store.watchlists.match(plate, at)]

    assert hit_lists("AB199CD") == [("partial", "wildcard")]
    assert hit_lists("AB1998CD") == []
    assert hit_lists("Q77XY2") == [("partial", "wildcard")]
    assert hit_lists("GV073KP") == [("now", "exact")]
    assert hit_lists("GV073KP", T0 + timedelta(days=2)) == [("later", "exact")]
    assert hit_lists("EF456GH") == [("strict", "exact")]
    assert hit_lists("EF4S6GH") == []  # 5/S costs 0.2 > 0
    await store.watchlists.update_list("strict", max_cost=0.5)
    assert hit_lists("EF4S6GH") == [("strict", "lookalike")]
    stored = await store.store_reads("cam-1", T0, [plate_read("GV073KP")])
    assert [h.match.entry.list_name for h in stored[0].hits] == ["now"]
    with pytest.raises(Conflict, match="still has 1 entries"):
        await store.watchlists.delete_list("strict")


async def test_every_change_is_logged_with_who_and_before_after(store):
    e = await add(store, "AB123CD", actor="alice", list="douane", note="first")
    await store.watchlists.update_entry(e["id"], parse_entry({"note": "second", "priority": 4}, partial=True), "bob")
    await store.watchlists.remove_entry(e["id"], "carol")
    log = await store.watchlists.changes(entry_id=e["id"])
    assert [(c["action"], c["changed_by"]) for c in log] == [("delete", "carol"), ("update", "bob"), ("insert", "alice")]
    assert log[1]["before"]["note"] == "first" and log[1]["after"]["note"] == "second" and log[1]["after"]["priority"] == 4
    assert log[0]["after"] is None and log[0]["before"]["plate_norm"] == "AB123CD"
    lists = await store.watchlists.changes(list_name="douane")
    assert [(c["entity"], c["action"]) for c in lists][-1] == ("list", "insert")  # the list made for the entry
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        async with store.pool.connection() as conn:
            await conn.execute("UPDATE watchlist_changes SET changed_by = 'mallory'")
    with pytest.raises(NotFound):
        await store.watchlists.remove_entry(e["id"], "carol")
    assert "AB123CD" not in [m.entry.plate_norm for m in store.watchlists.match("AB123CD", T0)]


async def test_second_process_follows_watchlist_changes(database_url, store):
    other = Store(database_url, listen=True)
    await other.open()
    try:
        await asyncio.wait_for(other._listener.listening.wait(), 10)
        e = await add(store, "AB123CD")
        for _ in range(100):
            if other.watchlists.match("AB123CD", T0):
                break
            await asyncio.sleep(0.05)
        assert [m.entry.id for m in other.watchlists.match("AB123CD", T0)] == [e["id"]]
        await store.watchlists.remove_entry(e["id"])
        for _ in range(100):
            if not other.watchlists.match("AB123CD", T0):
                break
            await asyncio.sleep(0.05)
        assert other.watchlists.match("AB123CD", T0) == []
    finally:
        await other.close()


async def test_hit_confirm_and_reject_once(store):
    await add(store, "AB123CD")
    stored = await store.store_reads("cam-1", T0, [plate_read("AB123CD"), plate_read("A8123CD")])
    first, second = stored[0].hits[0].id, stored[1].hits[0].id
    hit = await store.decide_hit(first, "confirmed", "analyst.dupont", "plate checked on the crop")
    assert (hit["status"], hit["decided_by"], hit["decision_reason"]) == ("confirmed", "analyst.dupont",
                                                                          "plate checked on the crop")
    assert hit["decided_at"] is not None and hit["alert_id"] == stored[0].hits[0].alert_id
    with pytest.raises(Conflict, match="already confirmed by analyst.dupont"):
        await store.decide_hit(first, "rejected", "someone", "late")
    await store.decide_hit(second, "rejected", "analyst.martin", "crop shows AB-128-CD")
    assert [h["id"] for h in await store.hits(status="new")] == []
    assert [h["id"] for h in await store.hits(status="rejected")] == [second]
    assert [h["id"] for h in await store.hits()] == [second, first]
    with pytest.raises(NotFound):
        await store.decide_hit(999999, "confirmed", "x", "")


async def test_csv_round_trip_with_every_field(store):
    text = ("plate,list,category,legal_purpose,reason,priority,valid_from,valid_until,note,source\n"
            "AB-123-CD,douane,stolen,art. 78-2 CPP,vol 2026/118,4,2026-11-01T00:00:00+00:00,"
            "2027-01-01T00:00:00+00:00,\"seen, twice\",SIS II\n"
            "AB1??CD,partial,,,,1,,,,\n")
    assert await store.import_watch_entries(parse_watchlist_csv(text), "importer") == (2, 0)
    assert await store.import_watch_entries(parse_watchlist_csv(text), "importer") == (0, 2)
    exported = watchlist_csv(await store.watchlists.entries())
    assert exported == text
    assert [c["changed_by"] for c in await store.watchlists.changes(list_name="douane")] == ["importer", "importer"]
    assert [m.entry.list_name for m in store.watchlists.match("AB173CD", T0)] == ["partial"]


@pytest.mark.parametrize("text,message", [
    ("plate,colour\nAB123CD,red\n", "unknown column 'colour'"),
    ("plate,valid_from\nAB123CD,yesterday\n", "line 2: valid_from"),
    ("plate,valid_from,valid_until\nAB123CD,2026-11-02T00:00Z,2026-11-01T00:00Z\n", "line 2: valid_until"),
    ("plate\n*\n", "line 2: plate"),
    ("plate\nA?\n", "line 2: plate"),
])
def test_bad_csv_names_line_and_field(text, message):
    with pytest.raises(ValueError, match=message):
        parse_watchlist_csv(text)


async def test_concurrent_frames_share_commits_and_a_bad_one_fails_alone(store):
    await add(store, "AB123CD", list="douane")
    good = [store.store_reads("cam-1", T0, [plate_read("AB123CD"), plate_read(f"ZZ{i:03d}ZZ")]) for i in range(40)]
    broken = plate_read("A8123CD")
    object.__setattr__(broken, "text", None)  # NOT NULL violation in the database
    batches_before = store.frames.batches
    results = await asyncio.gather(*good[:20], store.store_reads("cam-1", T0, [broken]), *good[20:],
                                   return_exceptions=True)
    assert isinstance(results[20], psycopg.errors.NotNullViolation)
    frames = [r for i, r in enumerate(results) if i != 20]
    assert all(len(f) == 2 and len(f[0].hits) == 1 and f[1].hits == [] for f in frames)
    assert store.frames.batches - batches_before < 41  # frames queued together were written together
    alerts = await store.alerts_after(0)
    assert [a["alert_id"] for a in alerts] == sorted(f[0].hits[0].alert_id for f in frames)
    assert {a["hit_id"]: a["read_id"] for a in alerts} == {f[0].hits[0].id: f[0].id for f in frames}
    assert await rows(store, "SELECT count(*) FROM plate_reads") == [(80,)]
    assert await rows(store, "SELECT count(*) FROM hits h JOIN plate_reads r ON r.id = h.read_id"
                             " WHERE r.plate_norm = 'AB123CD'") == [(40,)]


async def test_bulk_import_reloads_the_index_instead_of_replaying(store, monkeypatch):
    import lapi.store.watchlists as watchlists_module

    monkeypatch.setattr(watchlists_module, "RELOAD_AFTER", 3)
    text = "plate,list\n" + "".join(f"AB{i:03d}CD,bulk\n" for i in range(10))
    assert await store.import_watch_entries(parse_watchlist_csv(text), "importer") == (10, 0)
    assert len(store.watchlists.index) == 10 and store.watchlists.index.threshold("bulk") == 0.8
    assert [m.entry.plate_norm for m in store.watchlists.match("A8003CD", T0)] == ["AB003CD"]
    change_id = store.watchlists.change_id
    assert change_id == (await rows(store, "SELECT max(id) FROM watchlist_changes"))[0][0]
    await add(store, "EF456GH")  # below the limit: replayed
    assert store.watchlists.change_id > change_id and len(store.watchlists.index) == 11
