"""Geo end to end: real PostgreSQL, real HTTP, the real alert hub and WebSocket.

Scenarios come from geo.scenarios: a vehicle with a fitted beacon driving the A26/A16 to the beach
at Sangatte past six cameras, and a convoy in a stream of background traffic with decoys.
Camera reads other than pushed frames are stored through the store (the reading pipeline needs
real photos); pings go over HTTP.
"""

import asyncio
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from geo.convoys import ConvoyRules, score_candidates
from geo.geodesy import haversine_m
from geo.routes import route_from_track
from geo.scenarios import A26_A16_TO_SANGATTE, cameras, corridor_traffic, drive
from lapi.alerts import AlertHub
from conftest import bearer
from lapi.api.app import HUB, create_app
from lapi.api.geo_routes import GEO, configure_geo
from lapi.config import GeoSettings, TrackerSettings
from lapi.cameras import Camera
from lapi.store.beacons import BeaconStore
from lapi.store.geo import GeoStore
from trackers.pings import Ping

from test_geo_convoys import reference_inputs
from test_store import plate_read

CALAIS = "Calais / Sangatte / Wissant"
PLATE = "GV073KP"


@pytest_asyncio.fixture
async def geo_app(store):
    """Factory: the API app with given [geo] settings (and optionally the plate reader), on a free port."""
    started = []

    async def start(reader=None, **geo) -> SimpleNamespace:
        app = create_app(store, reader, trackers=TrackerSettings(silence_check_interval_s=3600))
        configure_geo(app, GeoSettings(**geo))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        started.append(runner)
        auth = await bearer(store)
        async with aiohttp.ClientSession(headers=auth) as http:
            for cam in cameras():
                async with http.post(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/cameras",
                                     json=cam) as r:
                    assert r.status == 201, await r.text()
        return SimpleNamespace(url=f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", app=app,
                               watch=app[GEO].watch, store=store, auth=auth)

    yield start
    for runner in started:
        await runner.cleanup()


def ping_body(beacon: str, fixes) -> list[dict]:
    return [{"beacon_id": beacon, "time": f.time.isoformat(), "lat": round(f.lat, 6), "lon": round(f.lon, 6),
             "speed_kmh": f.speed_kmh, "heading": round(f.heading, 1)} for f in fixes]


async def fit(http, url: str, beacon: str, plate: str, since: datetime) -> None:
    async with http.post(f"{url}/v1/beacons/{beacon}/fittings", json={"plate": plate, "from": since.isoformat()}) as r:
        assert r.status == 201, await r.text()


async def drain(queue: asyncio.Queue, types: set[str]) -> list[dict]:
    out = []
    while not queue.empty():
        alert = queue.get_nowait()
        if alert is not None and alert.get("type") in types:
            out.append(alert)
    return out


def path_length() -> float:
    r = A26_A16_TO_SANGATTE
    return sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in zip(r[:-1], r[1:]))


async def test_route_of_a_beacon_car_on_the_a26_a16_with_camera_reads(geo_app):
    svc = await geo_app()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(minutes=40)
    fixes, passes = drive(start, 110.0, 30.0)
    earlier, _ = drive(start - timedelta(hours=5), 110.0, 60.0)  # the morning's trip, long before
    for cam, t in passes.items():
        await svc.store.store_reads(cam, t, [plate_read(PLATE)])
    # a misread: the same plate "at Berck" three minutes after Calais
    await svc.store.upsert_camera(type(await svc.store.get_camera("a26-setques"))(
        id="d940-berck", name="Berck", lat=50.4005, lon=1.5631, road="D940"))
    await svc.store.store_reads("d940-berck", passes["a16-calais-est"] + timedelta(minutes=3), [plate_read(PLATE)])
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        await fit(http, svc.url, "B-A26", PLATE, start - timedelta(hours=6))
        async with http.post(f"{svc.url}/v1/pings", json=ping_body("B-A26", earlier + fixes)) as r:
            assert r.status == 201, await r.text()
        params = {"start": (start - timedelta(hours=6)).isoformat(), "end": now.isoformat(), "procedure": "PV-TEST"}
        async with http.get(f"{svc.url}/v1/vehicles/gv-073-kp/route", params=params) as r:
            assert r.status == 200, await r.text()
            assert r.content_type == "application/geo+json"
            doc = await r.json()
        assert doc["type"] == "FeatureCollection" and doc["plate_norm"] == PLATE and doc["trips"] == 2
        trips = [f for f in doc["features"] if f["properties"]["feature"] == "trip"]
        points = [f for f in doc["features"] if f["properties"]["feature"] == "observation"]
        assert len(points) == len(earlier) + len(fixes) + len(passes) + 1 == doc["observations"]
        morning, last = (t["properties"] for t in trips)
        assert morning["implausible_hops"] == 0 and morning["sightings"] == 0
        assert last["sightings"] == 7 and last["pings"] == len(fixes)
        assert last["implausible_hops"] == 2  # into Berck and out again
        # the Berck detour adds ~140 km of straight lines to the real path
        assert last["distance_m"] > path_length() + 100_000
        assert trips[1]["geometry"]["type"] == "LineString"
        assert trips[1]["geometry"]["coordinates"][0] == [2.1601, 50.7133]  # lon, lat: leaving Setques
        berck = next(p for p in points if p["properties"].get("camera_id") == "d940-berck")
        assert berck["properties"]["hop"]["plausible"] is False and berck["properties"]["hop"]["speed_kmh"] > 1000
        # compact points (the default) leave out what can be derived from the times and positions
        assert doc["points"] == "compact" and berck["properties"]["read_id"] > 0
        assert all(p["properties"].keys() == {"feature", "trip", "time", "camera_id", "read_id", "hop"} for p in points
                   if "camera_id" in p["properties"])
        assert all(p["properties"].keys() == {"feature", "trip", "time", "beacon_id", "speed_kmh", "hop"} for p in points
                   if "beacon_id" in p["properties"])
        assert all(p["properties"]["hop"] is None or p["properties"]["hop"].keys() == {"speed_kmh", "plausible"}
                   for p in points)
        # full detail: the same points plus index, kind and the hop's seconds and metres
        async with http.get(f"{svc.url}/v1/vehicles/GV073KP/route", params={**params, "points": "full"}) as r:
            assert r.status == 200, await r.text()
            full = await r.json()
        full_points = [f for f in full["features"] if f["properties"]["feature"] == "observation"]
        assert [f for f in full["features"] if f["properties"]["feature"] == "trip"] == trips
        assert [p["geometry"] for p in full_points] == [p["geometry"] for p in points]
        for compact_point, full_point in zip(points, full_points):
            c, f = compact_point["properties"], full_point["properties"]
            assert {k: v for k, v in f.items() if k not in ("index", "kind", "hop")} == {k: v for k, v in c.items()
                                                                                        if k != "hop"}
            assert f["kind"] == ("sighting" if "camera_id" in f else "ping")
            assert (f["hop"] is None) == (c["hop"] is None) == (f["index"] == 0)
            if f["hop"]:
                assert {k: f["hop"][k] for k in ("speed_kmh", "plausible")} == c["hop"]
        berck_full = next(p for p in full_points if p["properties"].get("camera_id") == "d940-berck")["properties"]
        assert berck_full["hop"]["distance_m"] > 50_000 and 0 < berck_full["hop"]["seconds"] <= 180
        # trips only: the LineStrings still carry every observation's position
        async with http.get(f"{svc.url}/v1/vehicles/GV073KP/route", params={**params, "points": "none"}) as r:
            bare = await r.json()
        assert bare["features"] == trips and bare["observations"] == doc["observations"]
        assert sum(len(t["geometry"]["coordinates"]) for t in trips) == doc["observations"]
        # a gap rule of 6 hours joins the two trips
        async with http.get(f"{svc.url}/v1/vehicles/GV073KP/route", params={**params, "gap_s": "21600"}) as r:
            assert (await r.json())["trips"] == 1
        # the latest trip's approach: it ends on the beach at Sangatte
        async with http.get(f"{svc.url}/v1/vehicles/GV073KP/approach", params=params) as r:
            assert r.status == 200, await r.text()
            approach = await r.json()
        assert approach["inside"] == [CALAIS] and approach["nearest"]["zone"] == CALAIS
        assert approach["nearest"]["distance_m"] == 0 and len(approach["zones"]) == 8
        async with http.get(f"{svc.url}/v1/geo/zones") as r:
            zones = await r.json()
        assert [f["properties"]["name"] for f in zones["features"]][2] == CALAIS


async def test_route_track_fetches_what_the_track_query_gives(store):
    """The packed-column fetch against BeaconStore.track (row by row, ORDER BY time, kind): reads at
    the camera's or the read's own position, an unplaced camera, pings only while fitted, two
    fittings, a ping and a read at the same instant, and the limit."""
    for cam in cameras():
        await store.upsert_camera(Camera(**cam))
    await store.upsert_camera(Camera("unplaced-1"))
    t0 = datetime(2026, 11, 23, 4, 0, 0, 250_000, tzinfo=timezone.utc)
    fixes, passes = drive(t0, 110.0, 10.0)
    for cam, t in passes.items():
        await store.store_reads(cam, t, [plate_read(PLATE)])
    await store.store_reads("unplaced-1", t0 + timedelta(minutes=3), [plate_read(PLATE)])
    await store.store_reads("unplaced-1", t0 + timedelta(minutes=4), [plate_read(PLATE)], (50.9, 1.8, None))
    await store.store_reads("a26-ardres", fixes[30].time, [plate_read(PLATE)])           # with a ping, same instant
    await store.store_reads("a26-ardres", t0 + timedelta(minutes=5), [plate_read("ZZ111ZZ")])   # another plate
    beacons = BeaconStore(store)
    half = fixes[len(fixes) // 2].time
    await beacons.add_fitting("B1", PLATE, t0 - timedelta(hours=1), half)                # first half on B1 ...
    await beacons.add_fitting("B2", PLATE, half + timedelta(minutes=5), None)            # ... later on B2
    await store.store_pings([Ping("B1", f.time, f.lat, f.lon, f.speed_kmh if i % 7 else None)
                             for i, f in enumerate(fixes)] +
                            [Ping("B2", f.time, f.lat + 0.001, f.lon, 80.5) for f in fixes])
    start, end = t0 - timedelta(hours=1), t0 + timedelta(hours=2)
    reference = await beacons.track(PLATE, start, end, 100_000)
    assert 20 < len(reference) < len(fixes) * 2
    geo = GeoStore(store)
    track, truncated = await geo.route_track(PLATE, start, end, 100_000)
    assert not truncated and len(track) == len(reference)
    got = [track.observation(i) for i in range(len(track))]
    for row, o in zip(reference, got):
        assert (o.time, o.kind, o.source) == (row["time"], row["kind"], row["camera_id"] or row["beacon_id"])
        if row["lat"] is None:
            assert o.lat != o.lat and o.lon != o.lon   # NaN: counted as unlocated by the route
        else:
            assert (o.lat, o.lon) == (row["lat"], row["lon"])
        assert o.read_id == row["read_id"]
        assert o.speed_kmh == (None if row["speed_kmh"] is None else pytest.approx(row["speed_kmh"]))
    assert sum(o.source == "B2" for o in got) > 0 and sum(o.source == "B1" for o in got) > 0
    assert [(o.kind, o.source) for o in got if o.time == fixes[30].time] == [("ping", "B1"), ("sighting", "a26-ardres")]
    assert route_from_track(track).unlocated == 1
    # the limit keeps the earliest observations, across both branches, and says it cut
    def comparable(o):   # NaN (no position) equals itself here
        return o.time, o.kind, o.source, o.lat if o.lat == o.lat else None, o.lon if o.lon == o.lon else None, \
            o.speed_kmh, o.read_id

    for limit in (1, 25, len(reference) - 1):
        cut, truncated = await geo.route_track(PLATE, start, end, limit)
        assert truncated and [comparable(cut.observation(i)) for i in range(limit)] == list(map(comparable, got[:limit]))
    cut, truncated = await geo.route_track(PLATE, start, end, len(reference))
    assert not truncated and len(cut) == len(reference)
    empty, truncated = await geo.route_track("AA000AA", start, end, 100)
    assert len(empty) == 0 and not truncated and route_from_track(empty).to_geojson()["features"] == []


@pytest.mark.parametrize("path,params,message", [
    ("/v1/vehicles/x/route", {}, "plate: must have 2-10 letters/digits"),
    ("/v1/vehicles/GV073KP/route", {"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T09:00:00Z"},
     "end: must be after start"),
    ("/v1/vehicles/GV073KP/route", {"start": "yesterday"}, "not an ISO 8601 time"),
    ("/v1/vehicles/GV073KP/route", {"gap_s": "ten"}, "gap_s: must be a number"),
    ("/v1/vehicles/GV073KP/route", {"start": "2026-01-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
     "at most 31 days"),
    ("/v1/vehicles/GV073KP/route", {"points": "all"}, "points: must be one of compact, full, none, got 'all'"),
    ("/v1/vehicles/GV073KP/convoys", {"k": "1"}, "k: must be between 2 and 50"),
    ("/v1/vehicles/GV073KP/convoys", {"k": "3.5"}, "k: must be an integer"),
    ("/v1/vehicles/GV073KP/convoys", {"dt": "-4"}, "dt: must be between 1 and 3600"),
    ("/v1/vehicles/GV073KP/route", {"end": "0001-01-01T00:00:00Z"}, "end: too early to have the default window"),
    ("/v1/investigations/locate/GV073KP", {"to": "0001-01-01T00:00:00Z"}, "to: too early to have the default window"),
])
async def test_bad_geo_queries_get_a_clear_400(geo_app, path, params, message):
    svc = await geo_app()
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        async with http.get(svc.url + path, params=params) as r:
            assert r.status == 400
            body = await r.json()
    assert message in body["error"]["message"]


async def test_approach_of_an_unseen_vehicle_is_404(geo_app):
    svc = await geo_app()
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        async with http.get(f"{svc.url}/v1/vehicles/ZZ999ZZ/approach") as r:
            assert r.status == 404 and "no located sighting" in (await r.json())["error"]["message"]


async def test_beacon_car_closing_on_calais_alerts_on_the_websocket_then_enters(geo_app):
    svc = await geo_app(approach_distance_m=10_000, approach_eta_s=1200)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(minutes=30)
    fixes, _ = drive(start, 110.0, 30.0)
    alerts = []
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        await fit(http, svc.url, "B-CAL", PLATE, start - timedelta(hours=1))
        async with http.ws_connect(f"{svc.url}/v1/alerts/ws") as ws:
            assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
            for i in range(0, len(fixes), 4):  # live: a few fixes a request, as a tracker app sends them
                async with http.post(f"{svc.url}/v1/pings", json=ping_body("B-CAL", fixes[i:i + 4])) as r:
                    assert r.status == 201, await r.text()
                await svc.watch.idle()
            while True:
                try:
                    msg = await ws.receive(timeout=3)
                except asyncio.TimeoutError:
                    break
                alerts.append(json.loads(msg.data))
    geo = [a for a in alerts if a["type"] in ("approach", "zone_enter", "zone_exit")]
    assert [(a["type"], a["zone"]) for a in geo] == [("approach", CALAIS), ("zone_enter", CALAIS)]
    approach, enter = geo
    assert approach["plate_norm"] == PLATE and approach["beacon_id"] == "B-CAL" and approach["reason"] == "beacon"
    assert approach["distance_m"] <= 10_000 and 0 < approach["eta_s"] <= 1200 and approach["closing"] is True
    assert approach["time"] < enter["time"]
    # durable: both are outbox alerts, so a consumer that was offline gets them on reconnecting
    assert 0 < approach["alert_id"] < enter["alert_id"]
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        async with http.ws_connect(f"{svc.url}/v1/alerts/ws", params={"after": "0", "category": "approach,zone_enter"}) as ws:
            replayed = []
            while len(replayed) < 3:
                try:
                    msg = await ws.receive(timeout=3)
                except asyncio.TimeoutError:
                    break
                replayed.append(json.loads(msg.data))
    replayed = [a for a in replayed if a["type"] != "hello"]
    assert [(a["alert_id"], a["type"]) for a in replayed] == [(approach["alert_id"], "approach"),
                                                             (enter["alert_id"], "zone_enter")]


async def test_watched_plate_read_by_cameras_raises_an_approach_alert(geo_app, reader, fixture_frame):
    body, plate = fixture_frame
    svc = await geo_app(reader=reader)
    await svc.store.add_watch_entry(plate, category="passeur")
    hub: AlertHub = svc.app[HUB]
    queue = hub.subscribe()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    _, passes = drive(now - timedelta(minutes=25), 110.0)
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        for cam in ("a26-nordausques", "a26-ardres", "a16-calais-est"):
            async with http.post(f"{svc.url}/v1/frames", params={"camera_id": cam, "captured_at": passes[cam].isoformat()},
                                 data=body, headers={"Content-Type": "image/jpeg"}) as r:
                assert r.status == 200, await r.text()
    for _ in range(50):  # the hits reach the hub through the alert outbox feed
        await asyncio.sleep(0.1)
        await svc.watch.idle()
        found = await drain(queue, {"approach"})
        if found:
            break
    hub.unsubscribe(queue)
    assert [(a["type"], a["zone"], a["plate_norm"], a["reason"]) for a in found] == [("approach", CALAIS, plate, "watchlist")]
    assert found[0]["time"] == passes["a16-calais-est"].isoformat()


async def test_convoy_query_ranks_the_companion_first_among_decoys(geo_app):
    svc = await geo_app()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sc = corridor_traffic(now - timedelta(hours=2), hours=2.0, seed=6)
    loaded = await GeoStore(svc.store).bulk_load_sightings((s.plate, s.camera_id, s.time) for s in sc.sightings)
    assert loaded == len(sc.sightings) > 5000
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        params = {"start": sc.start.isoformat(), "end": sc.end.isoformat(), "k": "3", "dt": "120", "procedure": "PV-TEST"}
        async with http.get(f"{svc.url}/v1/vehicles/{sc.target}/convoys", params=params) as r:
            assert r.status == 200, await r.text()
            doc = await r.json()
    assert doc["passages"] == 6 and doc["cameras"] == 6
    plates = [c["plate_norm"] for c in doc["candidates"]]
    assert plates[0] == sc.companion and doc["candidates"][0]["cameras"] == 6
    assert plates.index(sc.quiet_scout) < plates.index(sc.busy_decoy)
    # the store's answer is exactly the brute-force one over the same sightings
    rules = ConvoyRules(k=3, dt=timedelta(seconds=120))
    expected = score_candidates(*reference_inputs(sc.sightings, sc.target, rules), rules)
    assert [(c.plate, round(c.score, 2)) for c in expected] == [(c["plate_norm"], c["score"]) for c in doc["candidates"]]
    assert doc["population"] == reference_inputs(sc.sightings, sc.target, rules)[2]


async def test_standing_rule_alerts_once_for_an_unlisted_companion(geo_app, reader, fixture_frame):
    body, plate = fixture_frame
    svc = await geo_app(reader=reader, cotravel_check_interval_s=3600, cotravel_k=3, cotravel_dt_s=120,
                        cotravel_min_score=1.0)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sc = corridor_traffic(now - timedelta(minutes=70), hours=70 / 60, seed=6)
    last_pass = max(sc.target_passes.values())
    rows = [(s.plate, s.camera_id, s.time) for s in sc.sightings if not (s.plate == sc.target and s.time == last_pass)]
    await GeoStore(svc.store).bulk_load_sightings(rows)
    await svc.store.add_watch_entry(sc.target, category="passeur")
    await svc.store.add_watch_entry(sc.quiet_scout, category="known associate")  # listed: not news
    hub: AlertHub = svc.app[HUB]
    queue = hub.subscribe()
    last_cam = next(c for c, t in sc.target_passes.items() if t == last_pass)
    assert sc.target == plate  # the frame shows the target's plate: its last passage is a real read and hit
    async with aiohttp.ClientSession(headers=svc.auth) as http:
        async with http.post(f"{svc.url}/v1/frames", params={"camera_id": last_cam, "captured_at": last_pass.isoformat()},
                             data=body, headers={"Content-Type": "image/jpeg"}) as r:
            assert r.status == 200, await r.text()
    for _ in range(50):
        await asyncio.sleep(0.1)
        if sc.target in svc.watch.watched_seen:
            break
    assert sc.target in svc.watch.watched_seen
    first = await svc.watch.check_cotravel()
    again = await svc.watch.check_cotravel()
    published = await drain(queue, {"cotravel"})
    hub.unsubscribe(queue)
    companions = [a["companion"] for a in first]
    assert sc.companion in companions
    assert sc.quiet_scout not in companions and sc.busy_decoy not in companions
    assert again == [] and [a["companion"] for a in published] == companions
    alert = next(a for a in first if a["companion"] == sc.companion)
    assert alert["plate_norm"] == sc.target and alert["cameras"] == 6 and alert["score"] >= 1.0
