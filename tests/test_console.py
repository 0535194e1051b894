"""The analyst console without a browser (issue 9): its files are served with the right types and
headers, plate search (exact, wildcard, lookalike) is gated and audited like every query, the
base layer is checked at start-up, and the calls the page makes to open a vehicle with 10,000 reads
answer within a second on localhost (tests/test_console_browser.py drives the page itself)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from conftest import ROOT, serve_app
from geo.projection import to_lambert93
from geo.scenarios import A26_A16_TO_SANGATTE, cameras, drive
from geo.zones import load_zones
from lapi.api.app import create_app
from lapi.api.audit import AUDIT
from lapi.api.console_routes import CONTENT_TYPES, static_table
from lapi.api.geo_routes import configure_geo
from lapi.cameras import Camera
from lapi.config import ConfigError, GeoSettings, TrackerSettings, parse_geo
from lapi.console import STATIC_DIR
from lapi.console.base_layer import BaseLayerError, check_base_layer, load_base_layer
from lapi.console.search import lookalike_variants, plan, search_plates
from lapi.matching import weighted_distance
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead
from lapi.store.geo import GeoStore

PLATE = "GV073KP"
PAGE = 50            # the console's timeline page (lapi/console/static/js/timeline.js)
READS_PER_PASS = 6   # a camera reads a passing plate in several frames
PROCEDURE = "PV 2026/0042"


def crop_jpeg() -> bytes:
    return (Path(__file__).parent / "fixtures" / "frame_GV073KP.jpg").read_bytes()


def plate_read(plate: str, confidence: float = 0.91) -> PlateRead:
    return PlateRead(plate, plate, confidence, (confidence,) * len(plate), Detection(10, 20, 120, 30, 0.88), crop_jpeg())


async def seed_vehicle(store, n: int, end: datetime, plate: str = PLATE) -> tuple[datetime, datetime]:
    """``n`` reads of ``plate`` (none a hit) on the A26/A16 corridor cameras: drives out and back,
    45 minutes apart, each camera reading the plate in several frames; the newest three pages have crops.
    Returns the (start, end) window that holds them."""
    for cam in cameras():
        await store.upsert_camera(Camera(**cam))
    rows: list[tuple[str, str, datetime]] = []
    t = end - timedelta(minutes=30)
    forward = True
    while len(rows) < n:  # backwards in time from ``end``
        route = A26_A16_TO_SANGATTE if forward else tuple(reversed(A26_A16_TO_SANGATTE))
        _, passes = drive(t, 100.0, 600.0, route)
        for cam, at in passes.items():
            rows += [(plate, cam, at + timedelta(milliseconds=200 * k)) for k in range(READS_PER_PASS)]
        t -= timedelta(minutes=75)
        forward = not forward
    rows = rows[:n]
    await GeoStore(store).bulk_load_sightings(rows)
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE plate_reads SET crop_jpeg = %s WHERE id IN (SELECT id FROM plate_reads"
                           " WHERE plate_norm = %s ORDER BY read_at DESC LIMIT %s)", (crop_jpeg(), plate, 3 * PAGE))
        await conn.execute("ANALYZE plate_reads")
    times = [at for _, _, at in rows]
    return min(times) - timedelta(minutes=1), max(times) + timedelta(minutes=1)


@pytest_asyncio.fixture
async def console(store):
    """The API app (no plate reader: nothing here reads images) on a free port."""
    app = create_app(store, None, trackers=TrackerSettings(silence_check_interval_s=3600))
    url, runner = await serve_app(app, store)
    url.app = app
    yield url
    await runner.cleanup()


# static files ------------------------------------------------------------------------------------

def test_every_static_file_is_served_by_type():
    table = static_table()
    assert {"index.html", "console.css", "js/main.js", "js/api.js", "js/map.js", "js/timeline.js",
            "js/feed.js"} <= set(table)
    on_disk = {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert on_disk == set(table), f"files with no content type: {on_disk - set(table)}"
    assert all(suffix.startswith(".") for suffix in CONTENT_TYPES)


async def test_console_files_served_with_types_and_headers(console):
    expected = {"/console/": "text/html", "/console/index.html": "text/html", "/console/console.css": "text/css",
                "/console/js/main.js": "text/javascript", "/console/js/map.js": "text/javascript"}
    async with aiohttp.ClientSession() as http:  # no token: the files hold no data
        for path, content_type in expected.items():
            async with http.get(console + path) as r:
                body = await r.read()
                assert r.status == 200, path
                assert r.content_type == content_type, path
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
                assert body == (STATIC_DIR / (path.removeprefix("/console/") or "index.html")).read_bytes()
        async with http.get(console + "/console", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/console/"
        for path in ("/console/../pyproject.toml", "/console/%2e%2e/lapi/config.py", "/console/js/nothing.js",
                     "/console/js/../../__init__.py"):
            async with http.get(console + path) as r:
                assert r.status == 404, path
                assert "error" in await r.json()
        async with http.get(console + "/v1/plates?q=GV073KP") as r:  # the data it calls is not public
            assert r.status == 401


async def test_page_references_only_served_files(console):
    """Every script and stylesheet the page loads, and every module a script imports, is served."""
    import re

    table = static_table()
    html = (STATIC_DIR / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="/console/([^"]+)"', html)
    for js in (p for p in table if p.endswith(".js")):
        refs += [f"js/{m}" for m in re.findall(r'from "\./([^"]+)"', (STATIC_DIR / js).read_text())]
    assert refs and set(refs) <= set(table), set(refs) - set(table)
    assert "http://" not in html and "https://" not in html  # nothing from outside (offline machine)


# plate search ------------------------------------------------------------------------------------

async def test_plate_search_exact_wildcard_lookalike_gated_and_audited(console, store):
    t0 = datetime.now(timezone.utc) - timedelta(hours=2)
    for plate, minutes in (("AB123CD", 0), ("AB173CD", 5), ("A8I23CD", 10), ("XY999ZZ", 15), ("AB123CE", 20)):
        await store.store_reads("cam-1", t0 + timedelta(minutes=minutes), [plate_read(plate)])
    await store.add_watch_entry("A8I23CD", category="stolen")
    await store.store_reads("cam-1", t0 + timedelta(minutes=30), [plate_read("A8I23CD")])  # a hit read
    analyst = await console.user("Lt Dupont")
    async with aiohttp.ClientSession(headers=analyst) as http:
        async def search(**params) -> tuple[int, dict]:
            async with http.get(f"{console}/v1/plates", params=params) as r:
                return r.status, await r.json()

        status, body = await search(q="AB-1??-CD", procedure=PROCEDURE)
        assert status == 200 and body["mode"] == "wildcard" and body["query"] == "AB1??CD"
        assert [p["plate_norm"] for p in body["plates"]] == ["AB173CD", "AB123CD"]  # most recent first
        status, body = await search(q="ab 123 cd", mode="lookalike", procedure=PROCEDURE)
        assert status == 200
        assert [(p["plate_norm"], p["cost"]) for p in body["plates"]] == [("AB123CD", 0.0), ("A8I23CD", 0.4)]
        assert body["plates"][1]["reads"] == 2 and body["plates"][1]["hit"] is True
        status, body = await search(q="AB123CD", procedure=PROCEDURE)
        assert status == 200 and body["mode"] == "exact" and [p["plate_norm"] for p in body["plates"]] == ["AB123CD"]
        # without a procedure: hit reads only, and it says so
        async with http.get(f"{console}/v1/plates", params={"q": "AB123CD", "mode": "lookalike"}) as r:
            body = await r.json()
            assert r.headers["X-LAPI-Restricted"] and body["restricted"]
            assert [(p["plate_norm"], p["reads"]) for p in body["plates"]] == [("A8I23CD", 1)]
        for params, fix in (({"q": ""}, "q: required"), ({"q": "A*"}, "known character"),
                            ({"q": "AB123CD", "mode": "fuzzy"}, "mode: must be one of"),
                            ({"q": "AB1??CD", "mode": "exact"}, "use mode=wildcard"),
                            ({"q": "AB123CD", "mode": "wildcard"}, "has no wildcard"),
                            ({"q": "AB123CD", "mode": "lookalike", "max_cost": "2"}, "max_cost: must be between"),
                            ({"q": "AB123CD", "from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
                             "at most 31 days")):
            status, body = await search(**params)
            assert status == 400 and fix in body["error"]["message"], (params, body)
    rows = await console.app[AUDIT].query(principal="Lt Dupont", operation="/v1/plates")
    assert len(rows) == 4  # the successful searches, each with its procedure (or none) and parameters
    assert {r["justification"] for r in rows} == {PROCEDURE, None}
    assert rows[0]["parameters"]["query"] == {"q": "AB123CD", "mode": "lookalike"} and rows[0]["result_count"] == 1


def test_lookalike_variants_are_those_within_the_cost():
    variants = lookalike_variants("AB123CD", 0.8)
    assert {"AB123CD", "A8I23CD", "A8I23C0"} <= set(variants) and "A8I23CQ" not in variants  # 0.2+0.2+0.3; +0.5
    assert all(weighted_distance(v, "AB123CD") <= 0.8 for v in variants) and len(set(variants)) == len(variants)
    assert lookalike_variants("1I1I1I1I1I", 0.8, most=100) is None


async def test_lookalike_search_by_index_and_by_folded_scan_agree(store):
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    for i, plate in enumerate(("AB123CD", "A8I23CD", "A8I23C0", "AB123CE", "XB123CD")):
        await store.store_reads("cam-1", t0 + timedelta(minutes=i), [plate_read(plate)])
    window = (t0 - timedelta(minutes=1), t0 + timedelta(hours=1))
    by_index = await search_plates(store, plan("AB123CD", "lookalike", 0.8), *window, 50, False, 0.8)
    by_scan = await search_plates(store, plan("AB123CD", "lookalike", 0.8, most_variants=0), *window, 50, False, 0.8)
    assert "ANY" in plan("AB123CD", "lookalike").condition and "translate" in plan("AB123CD", "lookalike", 0.8, 0).condition
    assert by_index == by_scan
    assert [(r["plate_norm"], r["cost"]) for r in by_index] == [("AB123CD", 0.0), ("A8I23CD", 0.4), ("A8I23C0", 0.7)]


# base layer --------------------------------------------------------------------------------------

def test_base_layer_checked_at_start_up(tmp_path):
    good = tmp_path / "roads.geojson"
    good.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
                    ' "geometry": {"type": "LineString", "coordinates": [[1.8, 50.9], [1.9, 50.95]]}}]}')
    settings = parse_geo({"base_layer": "roads.geojson"}, tmp_path)
    assert settings.base_layer == good and settings.base_layer_doc["features"][0]["geometry"]["type"] == "LineString"
    for text, fix in (("{", "is not JSON"), ('{"type": "Feature"}', "FeatureCollection"),
                      ('{"type": "FeatureCollection", "features": [{"geometry": {"type": "Point", '
                       '"coordinates": [50.9, 191.0]}}]}', "features[0].geometry.coordinates"),
                      ('{"type": "FeatureCollection", "features": [{"geometry": {"type": "Circle"}}]}',
                       "features[0].geometry.type")):
        (tmp_path / "bad.geojson").write_text(text)
        with pytest.raises(ConfigError, match=r"geo\.base_layer: .*" + fix.replace("[", r"\[").replace("]", r"\]")):
            parse_geo({"base_layer": "bad.geojson"}, tmp_path)
    with pytest.raises(ConfigError, match="geo.base_layer: cannot read"):
        parse_geo({"base_layer": "absent.geojson"}, tmp_path)
    with pytest.raises(BaseLayerError):
        check_base_layer({"type": "FeatureCollection", "features": [{"geometry": {"type": "Polygon", "coordinates": [1, 2]}}]})


async def test_base_layer_served_to_analysts_only(console):
    async with aiohttp.ClientSession(headers=console.auth("analyst")) as http:
        async with http.get(f"{console}/v1/geo/base-layer") as r:
            assert r.status == 404 and "[geo] base_layer" in (await r.json())["error"]["message"]
        doc = {"type": "FeatureCollection", "features": []}
        configure_geo(console.app, GeoSettings(base_layer=Path("x.geojson"), base_layer_doc=doc))
        async with http.get(f"{console}/v1/geo/base-layer") as r:
            assert r.status == 200 and r.content_type == "application/geo+json" and await r.json() == doc
    async with aiohttp.ClientSession(headers=console.auth("camera")) as http:
        async with http.get(f"{console}/v1/geo/base-layer") as r:
            assert r.status == 403


# coastline ---------------------------------------------------------------------------------------

COASTLINE = ROOT / "configs" / "coastline.geojson"
# places on the shore from the Belgian coast to the Seine estuary (lon, lat): the line passes near each
NEAR_THE_SHORE = {"Ostend": (2.915, 51.233), "Zeebrugge": (3.19, 51.335), "De Panne": (2.59, 51.102),
                  "Cap Gris-Nez": (1.583, 50.871), "Le Tréport": (1.37, 50.062), "Dieppe": (1.08, 49.928),
                  "Fécamp": (0.37, 49.763), "Étretat": (0.203, 49.707), "Cap de la Hève": (0.068, 49.512)}


def _lambert(coords: list) -> list[tuple[float, float]]:
    return [to_lambert93(lon, lat) for lon, lat in coords]


def test_shipped_coastline_is_a_sketch_of_the_coast_under_the_zones():
    from shapely.geometry import LineString, Point
    from shapely.ops import unary_union

    doc = load_base_layer(COASTLINE)
    features = doc["features"]
    assert {f["geometry"]["type"] for f in features} == {"LineString"}
    assert 60 <= sum(len(f["geometry"]["coordinates"]) for f in features) <= 150
    for f in features:  # says what it is and how to replace it
        assert "approximate" in f["properties"]["source"] and "[geo] base_layer" in f["properties"]["source"]
    coast = unary_union([LineString(_lambert(f["geometry"]["coordinates"])) for f in features])
    assert coast.length > 300_000  # Zwin to the Seine estuary along the shore, metres
    zones = load_zones(ROOT / "configs" / "departure_zones.geojson").zones
    band = unary_union([z.projected for z in zones])
    for zone in zones:  # each zone is a band along this coast
        assert coast.intersection(zone.projected).length > 5_000, zone.name
    # the Dunkerque-Authie stretch is the zones' own centre line: its 1.5 km band is the zones, to 2 %
    centre = LineString(_lambert(features[1]["geometry"]["coordinates"]))
    assert centre.buffer(1500).symmetric_difference(band).area < 0.02 * band.area
    for place, (lon, lat) in NEAR_THE_SHORE.items():
        assert coast.distance(Point(to_lambert93(lon, lat))) < 2000, place


def test_coastline_checked_at_start_up(tmp_path):
    shipped = parse_geo({}, tmp_path)
    assert shipped.coastline == COASTLINE and shipped.coastline_doc == load_base_layer(COASTLINE)
    assert parse_geo({"coastline": ""}, tmp_path).coastline is None
    (tmp_path / "mine.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    assert parse_geo({"coastline": "mine.geojson"}, tmp_path).coastline_doc == {"type": "FeatureCollection", "features": []}
    (tmp_path / "bad.geojson").write_text('{"type": "Feature"}')
    with pytest.raises(ConfigError, match=r"geo\.coastline: must be a GeoJSON FeatureCollection"):
        parse_geo({"coastline": "bad.geojson"}, tmp_path)
    with pytest.raises(ConfigError, match=r"geo\.coastline: cannot read .*absent.geojson"):
        parse_geo({"coastline": "absent.geojson"}, tmp_path)
    with pytest.raises(ConfigError, match=r"geo\.coastline: must be str"):
        parse_geo({"coastline": 3}, tmp_path)


async def test_coastline_served_to_analysts_only(console):
    async with aiohttp.ClientSession(headers=console.auth("analyst")) as http:
        async with http.get(f"{console}/v1/geo/coastline") as r:  # settings built in code: the shipped file
            assert r.status == 200 and r.content_type == "application/geo+json"
            assert await r.json() == load_base_layer(COASTLINE)
        doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "LineString", "coordinates": [[1.8, 50.9], [1.9, 50.95]]}}]}
        configure_geo(console.app, GeoSettings(coastline=Path("mine.geojson"), coastline_doc=doc))
        async with http.get(f"{console}/v1/geo/coastline") as r:
            assert r.status == 200 and await r.json() == doc
        configure_geo(console.app, GeoSettings(coastline=None))
        async with http.get(f"{console}/v1/geo/coastline") as r:
            assert r.status == 404 and "[geo] coastline" in (await r.json())["error"]["message"]
    async with aiohttp.ClientSession(headers=console.auth("camera")) as http:
        async with http.get(f"{console}/v1/geo/coastline") as r:
            assert r.status == 403


# load time ---------------------------------------------------------------------------------------

async def page_calls(http: aiohttp.ClientSession, url: str, plate: str, start: datetime, end: datetime) -> dict[str, float]:
    """What the console does from sign-in to a vehicle on screen (lapi/console/static/js/main.js),
    each call's wall time in ms: sign-in, zones, cameras, base layer and coastline, pending hits, then the route
    and the first timeline page at once, then the crops of the rows in view."""
    window = {"procedure": PROCEDURE}
    times: dict[str, float] = {}

    async def get(name: str, path: str, ok: tuple[int, ...] = (200,), **params) -> bytes:
        t = time.perf_counter()
        async with http.get(url + path, params=params) as r:
            body = await r.read()
            assert r.status in ok, (path, r.status, body[:300])
        times[name] = (time.perf_counter() - t) * 1000
        return body

    import asyncio
    import json

    t0 = time.perf_counter()
    await get("whoami", "/v1/whoami")
    await asyncio.gather(get("zones", "/v1/geo/zones"), get("cameras", "/v1/cameras"))
    await asyncio.gather(get("base_layer", "/v1/geo/base-layer", ok=(200, 404)), get("coastline", "/v1/geo/coastline"))
    await get("hits", "/v1/hits", status="new", limit="20")
    t_search = time.perf_counter()
    route, page = await asyncio.gather(
        get("route", f"/v1/vehicles/{plate}/route", start=start.isoformat(), end=end.isoformat(), points="none", **window),
        get("sightings", f"/v1/vehicles/{plate}/sightings", **{"from": start.isoformat(), "to": end.isoformat()},
            limit=str(PAGE), **window))
    rows = json.loads(page)["sightings"]
    await asyncio.gather(*(get(f"crop{i}", f"/v1/reads/{r['id']}/crop", **window) for i, r in enumerate(rows[:12])))
    times["vehicle_total"] = (time.perf_counter() - t_search) * 1000
    times["page_total"] = (time.perf_counter() - t0) * 1000
    times["route_observations"] = json.loads(route)["observations"]
    times["page_rows"] = len(rows)
    return times


async def test_vehicle_with_10000_reads_loads_within_a_second(console, store):
    end = datetime.now(timezone.utc)
    start, stop = await seed_vehicle(store, 10_000, end)
    analyst = await console.user("Lt Dupont")
    async with aiohttp.ClientSession(headers=analyst) as http:
        await page_calls(http, console, PLATE, start, stop)  # warm: the first query of a fresh database plans
        runs = [await page_calls(http, console, PLATE, start, stop) for _ in range(3)]
    best = min(runs, key=lambda r: r["page_total"])
    print(f"\nconsole page calls, 10,000 reads, ms (best of 3): { {k: round(v, 1) for k, v in best.items()} }")
    assert best["route_observations"] == 10_000 and best["page_rows"] == PAGE
    assert best["page_total"] < 1000, best
