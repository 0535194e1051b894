"""Investigation tools (issue 12) over real HTTP and a real PostgreSQL: retroactive hits, stakeout."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest_asyncio

from lapi.api.app import create_app
from lapi.api.gating import RESTRICTED
from lapi.cameras import Camera
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.geo import GeoStore
from tests.conftest import serve_app

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PV = {"procedure": "PV 2026/0412"}


def plate_read(norm: str, confidence: float = 0.9) -> PlateRead:
    return PlateRead(norm, norm, confidence, (confidence,) * len(norm), Detection(10, 20, 120, 30, 0.88), b"\xff\xd8crop")


@pytest_asyncio.fixture
async def service(store):
    """The API without a plate reader: these tests store reads directly and never push frames."""
    url, runner = await serve_app(create_app(store, None), store)
    yield url
    await runner.cleanup()


async def call(service, method: str, path: str, role: str = "analyst", **kwargs) -> tuple[int, dict]:
    headers = service.auth(role) if role != "dupont" else await service.user("dupont")
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.request(method, f"{service}{path}", **kwargs) as r:
            return r.status, await r.json(content_type=None)


# retroactive hits -----------------------------------------------------------------------------------

async def test_a_plate_listed_today_hits_its_reads_of_yesterday(service, store):
    yesterday = NOW - timedelta(days=1)
    (seen,) = await store.store_reads("cam-1", yesterday, [plate_read("AB123CD")])
    (lookalike,) = await store.store_reads("cam-1", yesterday + timedelta(hours=2), [plate_read("A8I23CD")])
    await store.store_reads("cam-1", yesterday, [plate_read("ZZ999ZZ"), plate_read("AB124CE")])
    (old,) = await store.store_reads("cam-1", NOW - timedelta(days=10), [plate_read("AB123CD")])

    status, entry = await call(service, "POST", "/v1/watchlist", "dupont",
                               json={"plate": "AB-123-CD", "category": "stolen", "priority": 4})
    assert status == 201 and entry["retroactive_hits"] == 2  # the 10-day-old read is beyond the default 7 days

    status, body = await call(service, "GET", "/v1/hits")
    hits = {h["read_id"]: h for h in body["hits"]}
    assert set(hits) == {seen.id, lookalike.id}
    assert all(h["retroactive"] for h in hits.values())
    assert hits[seen.id]["match_type"] == "exact" and hits[lookalike.id]["match_type"] == "lookalike"

    status, body = await call(service, "GET", "/v1/alerts", "consumer")
    alerts = [a for a in body["alerts"] if a["type"] == "hit"]
    assert sorted(a["read_id"] for a in alerts) == sorted(hits)
    assert all(a["retroactive"] is True and a["entry_id"] == entry["id"] and a["priority"] == 4 for a in alerts)

    # checking again adds nothing; a longer look-back finds the older read
    status, body = await call(service, "POST", "/v1/investigations/retroactive", json={"entry_id": entry["id"]})
    assert status == 200 and body["hits"] == []
    status, body = await call(service, "POST", "/v1/investigations/retroactive",
                              json={"entry_id": entry["id"], "days": 15})
    assert status == 200 and [h["read_id"] for h in body["hits"]] == [old.id]

    # a live read after the listing is an ordinary hit, not a retroactive one
    (live,) = await store.store_reads("cam-1", NOW, [plate_read("AB123CD")])
    status, body = await call(service, "GET", "/v1/hits")
    assert {h["read_id"]: h["retroactive"] for h in body["hits"]}[live.id] is False

    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT operation, result_count FROM audit_log WHERE operation LIKE %s ORDER BY id",
                                 ("%/retroactive",))
        assert await cur.fetchall() == [("POST /v1/investigations/retroactive", 0),
                                        ("POST /v1/investigations/retroactive", 1)]


async def test_retroactive_check_respects_patterns_validity_and_bad_input(service, store):
    yesterday = NOW - timedelta(days=1)
    (a,) = await store.store_reads("cam-1", yesterday, [plate_read("GV073KP")])
    (b,) = await store.store_reads("cam-1", NOW - timedelta(days=3), [plate_read("GV999KP")])
    status, entry = await call(service, "POST", "/v1/watchlist", json={
        "plate": "GV-???-KP", "valid_from": (NOW - timedelta(days=2)).isoformat()})
    assert status == 201 and entry["retroactive_hits"] == 1  # GV999KP was read before the entry was in force
    status, body = await call(service, "GET", "/v1/hits")
    assert [(h["read_id"], h["match_type"]) for h in body["hits"]] == [(a.id, "wildcard")]
    assert b.id not in [h["read_id"] for h in body["hits"]]

    # a CSV import is not checked by itself; the whole list is, on demand
    async with aiohttp.ClientSession(headers=service.auth("analyst")) as http:
        async with http.post(f"{service}/v1/watchlist/import", params={"list": "imported"},
                             data="plate\nGV-999-KP\nZZ-000-ZZ\n", headers={"Content-Type": "text/csv"}) as r:
            assert r.status == 201
    status, body = await call(service, "POST", "/v1/investigations/retroactive", json={"list": "imported"})
    assert status == 200 and body["entries"] == 2 and [h["read_id"] for h in body["hits"]] == [b.id]
    status, body = await call(service, "POST", "/v1/investigations/retroactive", json={"list": "nowhere"})
    assert status == 404

    for payload, fragment in (({}, "entry_id or list: give one"), ({"entry_id": 1, "list": "imported"}, "give one"),
                              ({"entry_id": 1, "days": 40}, "days: must be"),
                              ({"entry_id": "x"}, "entry_id: must be"), ({"entry": 1}, "entry: unknown field")):
        status, body = await call(service, "POST", "/v1/investigations/retroactive", json=payload)
        assert status == 400 and fragment in body["error"]["message"], payload
    status, body = await call(service, "POST", "/v1/investigations/retroactive", json={"entry_id": 999999})
    assert status == 404
    status, _ = await call(service, "POST", "/v1/investigations/retroactive", "consumer", json={"entry_id": 1})
    assert status == 403


# stakeout -------------------------------------------------------------------------------------------

WAREHOUSE = {"type": "Polygon", "coordinates": [[[1.900, 50.940], [1.930, 50.940], [1.930, 50.960],
                                                 [1.900, 50.960], [1.900, 50.940]]]}
BEACH = {"lat": 50.9650, "lon": 1.7500}  # a beach car park near Sangatte


async def _stakeout_traffic(store) -> tuple[datetime, datetime, str]:
    """Thousands of vehicles at the warehouse (two gates), the beach car park and a motorway camera
    over two days; one car at the warehouse on day 1 and the beach on day 2."""
    for cam in (Camera("wh-north", "", 50.955, 1.915), Camera("wh-south", "", 50.945, 1.910),
                Camera("beach", "", 50.9652, 1.7504), Camera("a16-km40", "", 50.90, 1.95)):
        await store.upsert_camera(cam)
    rng = random.Random(12)
    plates = [f"{a}{b}{n:03d}{c}{d}" for a in "ABCD" for b in "JKLM" for c in "ST" for d in "VW" for n in range(100)]
    rng.shuffle(plates)  # 6,400 distinct plates, none the target's
    day1, day2 = NOW - timedelta(days=2), NOW - timedelta(days=1)
    rows = []
    for plate in plates[:2500]:  # warehouse visitors on day 1
        rows.append((plate, rng.choice(["wh-north", "wh-south"]), day1 + timedelta(seconds=rng.randrange(86400))))
    for plate in plates[2500:5000]:  # beach visitors on day 2
        rows.append((plate, "beach", day2 + timedelta(seconds=rng.randrange(86400))))
    for plate in plates[:300]:  # warehouse visitors who went to the beach, but outside the beach window
        rows.append((plate, "beach", day1 + timedelta(seconds=rng.randrange(86400))))
    for plate in plates[2500:2800]:  # beach visitors seen near the warehouse on the motorway only
        rows.append((plate, "a16-km40", day1 + timedelta(seconds=rng.randrange(86400))))
    for plate in plates[5000:]:
        rows.append((plate, "a16-km40", day2 + timedelta(seconds=rng.randrange(86400))))
    rows += [("EF456GH", "wh-south", day1 + timedelta(hours=22)), ("EF456GH", "beach", day2 + timedelta(hours=3))]
    await GeoStore(store).bulk_load_sightings(rows)
    return day1, day2, "EF456GH"


async def test_stakeout_finds_the_one_car_at_the_warehouse_and_the_beach(service, store):
    day1, day2, target = await _stakeout_traffic(store)
    places = [{"name": "warehouse", "polygon": WAREHOUSE, "from": day1.isoformat(),
               "to": (day1 + timedelta(days=1)).isoformat()},
              {"name": "beach car park", "center": BEACH, "radius_m": 300, "from": day2.isoformat(),
               "to": (day2 + timedelta(days=1)).isoformat()}]
    status, body = await call(service, "POST", "/v1/investigations/stakeout", "dupont", params=PV,
                              json={"places": places})
    assert status == 200, body
    assert [p["camera_ids"] for p in body["places"]] == [["wh-north", "wh-south"], ["beach"]]
    assert [v["plate_norm"] for v in body["vehicles"]] == [target]
    (car,) = body["vehicles"]
    assert [(p["place"], p["reads"]) for p in car["places"]] == [("warehouse", 1), ("beach car park", 1)]
    assert "restricted" not in body

    # at least one of the places: every visitor of either, in its window
    status, body = await call(service, "POST", "/v1/investigations/stakeout", params=PV,
                              json={"places": places, "min_places": 1, "limit": 10000})
    assert status == 200 and len(body["vehicles"]) == 5001 and body["vehicles"][0]["plate_norm"] == target

    # named cameras work like a drawn area
    places[0] = {**places[0], "polygon": None, "cameras": ["wh-south", "wh-north"]}
    status, body = await call(service, "POST", "/v1/investigations/stakeout", params=PV, json={"places": places})
    assert [v["plate_norm"] for v in body["vehicles"]] == [target]

    # without a procedure: hit reads only, and none of these reads is one
    status, body = await call(service, "POST", "/v1/investigations/stakeout", json={"places": places})
    assert status == 200 and body["vehicles"] == [] and body["restricted"] == RESTRICTED
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT principal, justification, result_count FROM audit_log"
                                 " WHERE operation = 'POST /v1/investigations/stakeout' ORDER BY id")
        assert (await cur.fetchall())[0] == ("dupont", "PV 2026/0412", 1)


async def test_stakeout_says_what_to_fix(service, store):
    t = NOW.isoformat()
    later = (NOW + timedelta(hours=1)).isoformat()
    good = {"cameras": ["cam-1"], "from": t, "to": later}
    cases = [
        ({"places": [good]}, "places: must be a list of 2-10"),
        ({"places": [good, {"cameras": ["cam-1"], "from": later, "to": t}]}, "places[1].to: must be after from"),
        ({"places": [good, {"from": t, "to": later}]}, "places[1]: give cameras, a polygon, or a center"),
        ({"places": [good, {**good, "name": "b", "center": {"lat": 50.9}, "radius_m": 10}]}, "places[1].center"),
        ({"places": [good, {**good, "name": "b", "center": {"lat": 50.9, "lon": 1.8}, "radius_m": 0}]},
         "places[1].radius_m"),
        ({"places": [good, {**good, "name": "b", "polygon": {"type": "Polygon", "coordinates": [[[1, 2]]]}}]},
         "places[1].polygon"),
        ({"places": [good, {**good, "name": "b", "cameras": ["nowhere"]}]}, "places[1].cameras: unknown camera"),
        ({"places": [good, {**good, "name": "b"}], "min_places": 3}, "min_places: must be"),
        ({"places": [good, {**good, "name": "b", "colour": 1}]}, "places[1].colour: unknown field"),
        ({"places": [{**good, "name": "quay"}, {**good, "name": "Quay"}]}, "names must be unique"),
    ]
    for payload, fragment in cases:
        status, body = await call(service, "POST", "/v1/investigations/stakeout", params=PV, json=payload)
        assert status == 400 and fragment in body["error"]["message"], (payload, body)


# candidate search -----------------------------------------------------------------------------------

def doubtful_read(norm: str, confidences: tuple[float, ...]) -> PlateRead:
    return PlateRead(norm, norm, min(confidences), confidences, Detection(10, 20, 120, 30, 0.88), b"\xff\xd8crop")


def test_candidates_are_the_likeliest_lookalike_readings():
    from lapi.investigations.candidates import read_candidates

    found = read_candidates("A8123CD", (0.99, 0.55, 0.98, 0.97, 0.99, 0.99, 0.7))
    assert found[0][0] == "AB123CD" and found[0][1] > found[1][1] > 0  # the doubtful 8 first
    assert all(len(c) == 7 and 0 < s <= 1 for c, s in found) and len(found) <= 5
    assert read_candidates("AB123CD", (0.999,) * 7) == []  # nothing in doubt: nothing worth keeping
    assert read_candidates("", ()) == []


async def test_search_finds_a_plate_among_the_candidates_of_a_read(service, store):
    t = NOW - timedelta(hours=3)
    (doubtful,) = await store.store_reads("cam-1", t, [doubtful_read("A8123CD", (0.99, 0.5, 0.98, 0.97, 0.99, 0.99, 0.95))])
    (sure,) = await store.store_reads("cam-1", t + timedelta(minutes=5), [doubtful_read("AB123CD", (0.99,) * 7)])
    await store.store_reads("cam-1", t, [doubtful_read("A8123CE", (0.99,) * 7)])  # sure of its 8: no candidate
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT candidates[1], candidate_scores[1] FROM plate_reads WHERE id = %s", (doubtful.id,))
        assert (await cur.fetchone())[0] == "AB123CD"

    status, body = await call(service, "GET", "/v1/investigations/candidates", params={"q": "AB-123-CD", **PV})
    assert status == 200, body
    assert [(r["read_id"], r["via"], r["matched"]) for r in body["reads"]] == [
        (sure.id, "read", "AB123CD"), (doubtful.id, "candidate", "AB123CD")]
    assert body["reads"][0]["score"] > body["reads"][1]["score"] > 0

    status, body = await call(service, "GET", "/v1/investigations/candidates", params={"q": "AB1?3CD", **PV})
    assert {r["read_id"] for r in body["reads"]} == {sure.id, doubtful.id} and body["mode"] == "wildcard"

    status, body = await call(service, "GET", "/v1/investigations/candidates",
                              params={"q": "A8I23CD", "mode": "lookalike", **PV})
    assert status == 200 and [r["read_id"] for r in body["reads"]] == [sure.id, doubtful.id]  # not A8123CE: E/D
    assert body["reads"][0]["cost"] == 0.4 and body["reads"][1]["cost"] == 0.2

    # without a procedure: hit reads only (none here)
    status, body = await call(service, "GET", "/v1/investigations/candidates", params={"q": "AB123CD"})
    assert status == 200 and body["reads"] == [] and body["restricted"] == RESTRICTED
    for params, fragment in (({}, "q: required"), ({"q": "AB123CD", "mode": "fuzzy"}, "mode:"),
                             ({"q": "AB123CD", "from": NOW.isoformat(), "to": (NOW - timedelta(days=1)).isoformat()},
                              "to: must be after from")):
        status, body = await call(service, "GET", "/v1/investigations/candidates", params=params)
        assert status == 400 and fragment in body["error"]["message"], params


# locate ---------------------------------------------------------------------------------------------

BASE, HANDOVER = (50.930, 1.700), (50.800, 2.000)


async def test_locate_finds_the_base_and_the_hand_over_point(service, store):
    from lapi.store.beacons import BeaconStore
    from trackers.pings import Ping

    day0 = (NOW - timedelta(days=6)).replace(hour=0, minute=0, second=0)
    beacons = BeaconStore(store)
    await beacons.register("bal-9", "under the bumper")
    await beacons.add_fitting("bal-9", "FG-456-HJ", day0 - timedelta(days=1), None)
    pings, reads = [], []
    for d in range(5):
        night = day0 + timedelta(days=d, hours=19)  # 20:00 Paris in winter: parked at the base until 06:00
        pings += [Ping("bal-9", night + timedelta(minutes=10 * i), BASE[0] + 0.0001 * (i % 3), BASE[1]) for i in range(66)]
        road = night + timedelta(hours=11, minutes=30)  # then driving, one fix a minute, far from both places
        pings += [Ping("bal-9", road + timedelta(minutes=i), 50.85 + 0.002 * i, 1.80 + 0.001 * i) for i in range(20)]
        reads.append(day0 + timedelta(days=d, hours=8))  # 09:00 Paris past the A16 camera
        if d in (1, 3):  # a half-hour stop at the hand-over point at 15:00 Paris
            stop = day0 + timedelta(days=d, hours=14)
            pings += [Ping("bal-9", stop + timedelta(minutes=5 * i), HANDOVER[0], HANDOVER[1] + 0.0001 * i)
                      for i in range(7)]
    await store.store_pings(pings)
    for t in reads:
        await store.store_reads("cam-1", t, [plate_read("FG456HJ")])

    status, body = await call(service, "GET", "/v1/investigations/locate/FG-456-HJ", params={
        "from": (day0 - timedelta(days=1)).isoformat(), "to": NOW.isoformat(), **PV})
    assert status == 200, body
    base, camera, handover = body["places"][:3]
    assert (base["stops"], base["sightings"], base["usual_hours"]) == (5, 0, [20])
    assert abs(base["lat"] - BASE[0]) < 0.001 and abs(base["lon"] - BASE[1]) < 0.001 and base["stopped_h"] > 50
    assert (camera["sightings"], camera["stops"], camera["usual_hours"], camera["sources"]) == (5, 0, [9], ["cam-1"])
    assert (handover["stops"], handover["days"], handover["usual_hours"]) == (2, 2, [15])
    assert base["score"] > camera["score"] > handover["score"] > 0 and len(body["places"]) == 3

    # without a procedure the sightings (non-hit reads) are left out; the beacon's stops remain
    status, body = await call(service, "GET", "/v1/investigations/locate/FG-456-HJ", params={
        "from": (day0 - timedelta(days=1)).isoformat(), "to": NOW.isoformat()})
    assert status == 200 and body["restricted"] == RESTRICTED
    assert [p["sightings"] for p in body["places"]] == [0, 0]
    status, body = await call(service, "GET", "/v1/investigations/locate/FG-456-HJ", params={"radius_m": "1"})
    assert status == 400 and "radius_m" in body["error"]["message"]


# shared watchlists ----------------------------------------------------------------------------------

async def test_a_list_shared_with_a_partner_travels_with_its_purpose_and_provenance(service, store):
    await store.watchlists.create_list("go-fast", 0.8, "Rotations Espagne - Calais", "cne-martin")
    entry = await store.add_watch_entry("EF-456-GH", list_name="go-fast", category="stupéfiants", priority=5)
    await store.add_watch_entry("GV-0??-KP", list_name="go-fast")
    sharing = "/v1/investigations/watchlists/go-fast/sharing"
    body = {"shared_with": ["dnrfd", "tracfin"], "purpose": "Art. 67 bis code des douanes: go-fast surveillance"}
    assert (await call(service, "PUT", sharing, "analyst", json=body))[0] == 403  # a supervisor's decision
    status, row = await call(service, "PUT", sharing, "supervisor", json=body)
    assert status == 200 and row["shared_with"] == ["dnrfd", "tracfin"] and row["entries"] == 2
    status, changes = await call(service, "GET", "/v1/watchlist/changes", params={"list": "go-fast"})
    assert changes["changes"][0]["after"]["shared_with"] == ["dnrfd", "tracfin"]
    assert changes["changes"][0]["changed_by"] == "test-supervisor"

    export = "/v1/investigations/watchlists/go-fast/export"
    status, err = await call(service, "GET", export, params={"partner": "gendarmerie-59"})
    assert status == 403 and "not shared with 'gendarmerie-59'" in err["error"]["message"]
    status, doc = await call(service, "GET", export, "dupont", params={"partner": "dnrfd"})
    assert status == 200 and doc["format"] == "lapi-watchlist/1" and doc["partner"] == "dnrfd"
    assert doc["list"]["purpose"].startswith("Art. 67 bis") and doc["exported_by"] == "dupont"
    assert sorted(e["plate"] for e in doc["entries"]) == ["EF456GH", "GV0??KP"]

    # the partner imports it (here: the same service, under another name)
    status, imported = await call(service, "POST", "/v1/investigations/watchlists/import", "supervisor",
                                  params={"as": "dnrfd-go-fast"}, json=doc)
    assert status == 201, imported
    assert imported["inserted"] == 2 and imported["shared_with"] == [] and imported["purpose"] == doc["list"]["purpose"]
    assert imported["provenance"]["list"] == "go-fast" and imported["provenance"]["exported_by"] == "dupont"
    status, entries = await call(service, "GET", "/v1/watchlist", params={"list": "dnrfd-go-fast"})
    sources = {e["plate_norm"]: e["source"] for e in entries["entries"]}
    assert sources["EF456GH"].endswith(f"/go-fast#{entry.id}")
    (read,) = await store.store_reads("cam-1", NOW, [plate_read("EF456GH")])  # both lists hit, the import too
    status, hits = await call(service, "GET", "/v1/hits")
    assert sorted(h["list_name"] for h in hits["hits"] if h["read_id"] == read.id) == ["dnrfd-go-fast", "go-fast"]

    status, err = await call(service, "POST", "/v1/investigations/watchlists/import", "supervisor",
                             params={"as": "dnrfd-go-fast"}, json=doc)
    assert status == 409 and "already exists" in err["error"]["message"]
    for broken, fragment in (({**doc, "format": "csv"}, "format:"), ({**doc, "list": {**doc["list"], "purpose": ""}},
                                                                      "list.purpose: required"),
                             ({**doc, "entries": [{"plate": "!!"}]}, "entries[0].plate")):
        status, err = await call(service, "POST", "/v1/investigations/watchlists/import", "supervisor",
                                 params={"as": "other"}, json=broken)
        assert status == 400 and fragment in err["error"]["message"], (fragment, err)
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT action, principal, result_count, parameters->>'partner' FROM audit_log"
                                 " WHERE operation = 'GET /v1/investigations/watchlists/{name}/export'")
        assert await cur.fetchall() == [("export", "dupont", 2, "dnrfd")]


def test_investigations_config_is_checked_naming_the_key():
    import pytest

    from lapi.config import ConfigError
    from lapi.investigations.settings import parse_investigations

    assert parse_investigations({"retroactive_days": 3}).retroactive_days == 3
    for table, fragment in (({"retroactive_days": 40}, "investigations.retroactive_days: must be between 0 and 15"),
                            ({"case_key_env": 3}, "investigations.case_key_env: must be str"),
                            ({"case_key_env": " "}, "investigations.case_key_env: must name"),
                            ({"colour": 1}, "investigations.colour: unknown key")):
        with pytest.raises(ConfigError, match=fragment):
            parse_investigations(table)


def test_a_plain_entry_is_looked_up_by_its_lookalike_variants():
    import itertools

    from lapi.console.search import lookalike_variants
    from lapi.investigations.retroactive import plate_filter
    from lapi.matching import PLATE_ALPHABET, weighted_distance

    for plate in ("A8I", "0Z7", "B5S"):
        brute = {"".join(t) for t in itertools.product(PLATE_ALPHABET, repeat=len(plate))
                 if weighted_distance("".join(t), plate, 0.8) is not None}
        assert set(lookalike_variants(plate, 0.8)) == brute
    assert lookalike_variants("0O1I8B5S2Z", 0.8, most=100) is None  # too many: the filter falls back to the fold
    assert plate_filter("AB123CD", 0.8).sql == "plate_norm = ANY(%(variants)s)"
    assert "translate(" in plate_filter("AB1??CD", 0.8).sql and "length(" in plate_filter("AB123CD", 1.0).sql
