"""Retention by design (issue 8): non-hit reads 15 days, hit reads 30 days, longer only under a
procedure hold; whole day partitions dropped when every row is expired, edges deleted otherwise;
hits, alerts, crops and passes go with their reads; every erasure in the audit log."""

import asyncio
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from lapi.config import ConfigError, load_settings
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.retention import RetentionRules, day_fate, parse_duration
from lapi.security_config import parse_retention
from lapi.store.errors import NotFound
from lapi.store.retention import RetentionJob

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
RULES = RetentionRules(timedelta(days=15), timedelta(days=30))
ROOT = Path(__file__).resolve().parents[1]


def plate_read(norm: str) -> PlateRead:
    return PlateRead(norm, norm, 0.9, (0.9,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8crop")


# pure ------------------------------------------------------------------------------------------

def test_durations_and_day_fates():
    assert parse_duration("k", "15d") == timedelta(days=15) and parse_duration("k", " 36h ") == timedelta(hours=36)
    assert parse_duration("k", "30m") == timedelta(minutes=30) and parse_duration("k", 90) == timedelta(seconds=90)
    for bad in ("15", "1w", "-3d", "", True, 1.5, None):
        with pytest.raises(ValueError, match="k: must be a duration"):
            parse_duration("k", bad)
    assert day_fate(date(2026, 10, 23), RULES, NOW) == "drop"   # ends before both cutoffs (Oct 24 12:00)
    assert day_fate(date(2026, 10, 24), RULES, NOW) == "edge"   # the hit cutoff falls inside it
    assert day_fate(date(2026, 11, 1), RULES, NOW) == "edge"    # non-hit reads expired, hit reads not
    assert day_fate(date(2026, 11, 8), RULES, NOW) == "edge"    # the non-hit cutoff (Nov 8 12:00) inside
    assert day_fate(date(2026, 11, 9), RULES, NOW) == "keep"


@pytest.mark.parametrize("table, message", [
    ({"non_hit_reads": "16d"}, "retention.non_hit_reads: must be between"),
    ({"non_hit_reads": "20m"}, "retention.non_hit_reads: must be between"),
    ({"hit_reads": "2d", "non_hit_reads": "forever"}, "retention.non_hit_reads: must be a duration"),
    ({"hit_reads": "32d"}, "retention.hit_reads: must be between"),
    ({"run_every": "5s"}, "retention.run_every: must be between"),
    ({"enabled": "yes"}, "retention.enabled: must be bool"),
    ({"keep": "1d"}, "retention.keep: unknown key"),
])
def test_retention_config_names_the_key(table, message):
    with pytest.raises(ValueError, match=message):
        parse_retention(table)


def test_retention_config_from_the_file(tmp_path):
    assert load_settings(ROOT / "configs" / "lapi.toml", env={}).retention.rules == RULES
    text = (ROOT / "configs" / "lapi.toml").read_text().replace('non_hit_reads = "15d"', 'non_hit_reads = "3w"')
    (tmp_path / "lapi.toml").write_text(text.replace('"models/', f'"{ROOT}/models/').replace(
        '"configs/', f'"{ROOT}/configs/'))
    with pytest.raises(ConfigError, match="retention.non_hit_reads"):
        load_settings(tmp_path / "lapi.toml", env={})


# the job on a real database ------------------------------------------------------------------

async def stored(store, plate: str, at: datetime) -> dict:
    (read,) = await store.store_reads("cam-1", at, [plate_read(plate)])
    return {"id": read.id, "read_at": read.read_at, "hits": [h.id for h in read.hits],
            "alerts": [h.alert_id for h in read.hits]}


async def remaining(store) -> set[int]:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM plate_reads")
        return {r[0] for r in await cur.fetchall()}


async def count(store, sql: str, *args) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute(sql, args)
        return (await cur.fetchone())[0]


async def test_the_job_erases_by_class_drops_whole_days_and_keeps_held_reads(store):
    from lapi.auth import Principal
    from lapi.store.holds import HoldStore

    await store.add_watch_entry("HIT001", category="stolen")
    await store.add_watch_entry("HIT002", category="stolen")
    holds, agent = HoldStore(store), Principal(1, "dupont", "analyst", "HAB-1")
    day = lambda n, h=9: (NOW - timedelta(days=n)).replace(hour=h, minute=0)  # noqa: E731
    r = {
        "old_plain": await stored(store, "AA111AA", day(40)),           # day -40: every row expired
        "old_hit": await stored(store, "HIT001", day(40, 10)),
        "held_read": await stored(store, "BB222BB", day(35)),           # day -35: one held by read id
        "old_plain_35": await stored(store, "CC333CC", day(35, 11)),
        "plain_20": await stored(store, "DD444DD", day(20)),            # day -20: non-hit gone, hit kept
        "hit_20": await stored(store, "HIT002", day(20, 10)),
        "plate_held": await stored(store, "EE555EE", day(20, 11)),      # held by plate and window
        "fresh": await stored(store, "FF666FF", day(1)),                # day -1: kept
        "hit_60": await stored(store, "HIT001", day(60)),               # day -60: its hold expired
        "released": await stored(store, "GG777GG", day(60, 11)),        # and this one's was released
    }
    async with store.pool.connection() as conn:  # a closed pass whose only read is old_plain
        cur = await conn.execute(
            "INSERT INTO passes (camera_id, first_seen, last_seen, plate_text, plate_norm, confidence, frames, status,"
            " closed_at) VALUES ('cam-1', %s, %s, 'AA111AA', 'AA111AA', 0.9, 1, 'closed', %s) RETURNING id",
            (day(40), day(40), day(40)))
        pass_id = (await cur.fetchone())[0]
        await conn.execute("UPDATE plate_reads SET pass_id = %s WHERE id = %s", (pass_id, r["old_plain"]["id"]))
    await holds.hold_reads("PV 2026/77", [r["held_read"]["id"]], NOW + timedelta(days=10), "", agent)
    await holds.hold_plate("PV 2026/78", "EE555EE", day(21), day(19), NOW + timedelta(days=10), "", agent)
    await holds.hold_reads("PV 2026/12", [r["hit_60"]["id"]], NOW - timedelta(days=1), "", agent)  # expired
    (released,) = await holds.hold_reads("PV 2026/13", [r["released"]["id"]], NOW + timedelta(days=10), "", agent)
    await holds.release(released["id"], agent)
    async with store.pool.connection() as conn:  # geo-rule alerts (no hit behind them): an old one, a recent one
        for days in (40, 20):
            await conn.execute("INSERT INTO alert_outbox (list_name, category, camera_id, priority, payload, created_at)"
                               " VALUES ('', 'approach', '', 1, '{\"type\": \"approach\"}', %s)",
                               (NOW - timedelta(days=days),))

    report = await RetentionJob(store, RULES).run(NOW)

    kept = {"held_read", "hit_20", "plate_held", "fresh"}
    assert await remaining(store) == {r[k]["id"] for k in kept}
    assert (report["non_hit_reads"], report["hit_reads"]) == (4, 2)
    assert (report["hits"], report["alerts"], report["passes"]) == (2, 3, 1)
    assert await count(store, "SELECT count(*) FROM alert_outbox WHERE hit_id IS NULL") == 1
    assert sorted(report["partitions_dropped"]) == [f"plate_reads_p{day(60):%Y%m%d}", f"plate_reads_p{day(40):%Y%m%d}"]
    parts = set(await _partitions(store))
    assert f"plate_reads_p{day(35):%Y%m%d}" in parts and f"plate_reads_p{day(40):%Y%m%d}" not in parts
    with pytest.raises(NotFound):  # the crop went with its read
        await store.read_crop(r["old_plain_35"]["id"])
    assert await store.read_crop(r["held_read"]["id"]) == b"\xff\xd8crop"
    assert await count(store, "SELECT count(*) FROM hits") == 1  # hit_20's
    assert await count(store, "SELECT count(*) FROM alert_outbox WHERE hit_id = ANY(%s)",
                       r["old_hit"]["hits"] + r["hit_60"]["hits"]) == 0
    assert await count(store, "SELECT count(*) FROM passes") == 0
    erasures = [row for row in await _audit(store) if row[0] == "erasure"]
    assert sum(row[1] for row in erasures) == 6 + 1  # reads, and the geo-rule alert
    assert {json.dumps(row[2]["counts"], sort_keys=True) for row in erasures} >= {
        json.dumps({"non_hit_reads": 1, "hit_reads": 1, "hits": 1, "alerts": 1, "passes": 1}, sort_keys=True)}
    assert all(row[3] == "retention-job" and row[4] == "system" for row in erasures)

    # nothing more to do: a second run erases nothing and logs nothing
    again = await RetentionJob(store, RULES).run(NOW)
    assert again["non_hit_reads"] == again["hit_reads"] == 0 and again["partitions_dropped"] == []
    assert len([row for row in await _audit(store) if row[0] == "erasure"]) == len(erasures)
    # a frame of a dropped day can still be written (its partition is made again)
    await store.store_reads("cam-1", day(40), [plate_read("ZZ000ZZ")])


async def _partitions(store) -> list[str]:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                 " WHERE i.inhparent = 'plate_reads'::regclass")
        return [n for (n,) in await cur.fetchall()]


async def _audit(store) -> list[tuple]:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT action, result_count, parameters, principal, role FROM audit_log ORDER BY id")
        return await cur.fetchall()


async def test_lapi_retention_run_cli(store, database_url):
    now = datetime.now(timezone.utc)
    await store.store_reads("cam-1", now - timedelta(days=16), [plate_read("AB123CD")])
    await store.store_reads("cam-1", now - timedelta(days=2), [plate_read("AB123CD")])
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "lapi.cli", "retention", "run", "--database-url",
                                                database_url, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    report = json.loads(out)
    assert proc.returncode == 0 and report["non_hit_reads"] == 1 and report["rules"] == {"non_hit_reads": "15d",
                                                                                         "hit_reads": "30d"}
    assert len(await remaining(store)) == 1


async def test_holds_over_http(service, store):
    old = (await store.store_reads("cam-1", datetime.now(timezone.utc) - timedelta(days=3),
                                   [plate_read("AB123CD")]))[0]
    analyst, supervisor = await service.user("dupont"), service.auth("supervisor")
    later = (datetime.now(timezone.utc) + timedelta(days=90)).isoformat()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{service}/v1/procedures/holds", headers=analyst, json={
                "procedure": "PV 2026/77", "read_ids": [old.id], "expires_at": later}) as r:
            assert r.status == 201, await r.text()
            (hold,) = (await r.json())["holds"]
        assert hold["read_id"] == old.id and hold["created_by"] == "dupont" and hold["habilitation"] == "HAB-TEST-1"
        async with http.post(f"{service}/v1/procedures/holds", headers=analyst, json={
                "procedure": "PV 2026/78", "plate": "EE-555-EE", "from": "2026-11-01T00:00:00Z",
                "to": "2026-11-03T00:00:00Z", "expires_at": later}) as r:
            assert r.status == 201 and (await r.json())["holds"][0]["plate_norm"] == "EE555EE"
        bad = [
            ({"procedure": "PV", "read_ids": [999999], "expires_at": later}, 404, "999999"),
            ({"procedure": "", "read_ids": [old.id], "expires_at": later}, 400, "procedure"),
            ({"procedure": "PV", "read_ids": [old.id], "expires_at": "2020-01-01T00:00:00Z"}, 400, "expires_at"),
            ({"procedure": "PV", "read_ids": [old.id]}, 400, "expires_at"),
            ({"procedure": "PV", "read_ids": [], "expires_at": later}, 400, "read_ids"),
            ({"procedure": "PV", "read_ids": ["1"], "expires_at": later}, 400, "read_ids"),
            ({"procedure": "PV", "plate": "EE555EE", "from": "2026-11-03T00:00:00Z", "to": "2026-11-01T00:00:00Z",
              "expires_at": later}, 400, "to"),
            ({"procedure": "PV", "expires_at": later}, 400, "read_ids, or plate"),
            ({"procedure": "PV", "read_ids": [old.id], "expires_at": later, "why": "x"}, 400, "why: unknown field"),
        ]
        for body, status, message in bad:
            async with http.post(f"{service}/v1/procedures/holds", headers=analyst, json=body) as r:
                assert r.status == status and message in (await r.json())["error"]["message"], (body, await r.text())
        async with http.get(f"{service}/v1/procedures/holds", params={"procedure_ref": "PV 2026/77"},
                            headers=analyst) as r:
            assert [h["id"] for h in (await r.json())["holds"]] == [hold["id"]]
        async with http.post(f"{service}/v1/procedures/holds/{hold['id']}/release", headers=analyst) as r:
            assert r.status == 403
        async with http.post(f"{service}/v1/procedures/holds/{hold['id']}/release", headers=supervisor) as r:
            assert r.status == 200 and (await r.json())["active"] is False
        async with http.post(f"{service}/v1/procedures/holds/{hold['id']}/release", headers=supervisor) as r:
            assert r.status == 409 and "already released" in (await r.json())["error"]["message"]
        async with http.get(f"{service}/v1/procedures/holds", params={"active": "true"}, headers=analyst) as r:
            assert [h["procedure"] for h in (await r.json())["holds"]] == ["PV 2026/78"]
        # a frame captured before the retention period cannot be stored at all
        async with http.post(f"{service}/v1/frames", params={"camera_id": "cam-1", "captured_at": "2020-01-01T00:00:00Z"},
                             data=b"\xff\xd8", headers={**service.auth("camera"), "Content-Type": "image/jpeg"}) as r:
            assert r.status == 400 and "older than the retention period" in (await r.json())["error"]["message"]
