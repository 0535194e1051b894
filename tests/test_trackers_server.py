"""Beacons end to end: real Teltonika TCP server and HTTP API, real PostgreSQL.

Round trips check what the device is told (handshake answer, acknowledged record count) and what
PostgreSQL holds; a bad packet must close only its own connection.  No frames are pushed here,
so the app runs without the plate reader.
"""

import asyncio
import json
import logging
import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from conftest import bearer
from lapi.api.app import INGEST, create_app, create_osmand_app
from lapi.config import TrackerSettings
from trackers.server import TeltonikaServer
from trackers.teltonika import CODEC_8, CODEC_8E, AvlRecord, encode_avl_packet, encode_imei

from test_store import plate_read
from test_trackers_teltonika import CODEC8_ONE, CODEC8E_ONE

IMEI_A, IMEI_B = "356307042441013", "356307042441014"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def record(minutes_ago: float, lat: float = 50.9513, lon: float = 1.8533, speed: int = 87, **io) -> AvlRecord:
    ts = int((NOW - timedelta(minutes=minutes_ago)).timestamp() * 1000)
    return AvlRecord(ts, 0, lon, lat, 12, 254, 9, speed, 0, {int(k[2:]): v for k, v in io.items()})


AUTH: dict[str, str] = {}  # an admin token of the running test's database (set by the beacons fixture)


@pytest_asyncio.fixture
async def beacons(store):
    """Factory: the API app and the Teltonika server for a given [trackers] config."""
    started = []

    async def start(**overrides) -> SimpleNamespace:
        ts = TrackerSettings(**{"silence_check_interval_s": 3600, **overrides})
        app = create_app(store, None, trackers=ts)  # type: ignore[arg-type]
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = TeltonikaServer(app[INGEST], "127.0.0.1", 0)
        await server.start()
        started.append((runner, server))
        AUTH.update(await bearer(store))
        return SimpleNamespace(url=f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}",
                               port=server.port, ingest=app[INGEST], app=app, store=store)

    yield start
    for runner, server in started:
        await server.close()
        await runner.cleanup()


class Device:
    """A simulated Teltonika device on a real socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, imei: str | None = IMEI_A) -> "Device":
        dev = cls(*await asyncio.open_connection("127.0.0.1", port))
        if imei is not None:
            dev.writer.write(encode_imei(imei))
            dev.accepted = await dev.reader.readexactly(1) == b"\x01"
        return dev

    async def send(self, packet: bytes) -> int:
        self.writer.write(packet)
        await self.writer.drain()
        return int.from_bytes(await asyncio.wait_for(self.reader.readexactly(4), 20), "big")

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(100), 20) == b""

    async def close(self) -> None:
        self.writer.close()


async def get_json(url: str, **kw) -> tuple[int, dict]:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(url, **kw) as r:
            return r.status, await r.json()


async def test_teltonika_round_trip_into_postgres(beacons):
    svc = await beacons()
    dev = await Device.connect(svc.port)
    assert dev.accepted
    first = [record(10), record(9, 50.9520, speed=0, io113=64)]
    assert await dev.send(encode_avl_packet(first, CODEC_8)) == 2
    late = [record(20, 50.9400), record(15, 50.9450)]  # older fixes from the device's buffer
    assert await dev.send(encode_avl_packet(late, CODEC_8E)) == 2
    assert await dev.send(encode_avl_packet(first, CODEC_8)) == 2  # resent after a lost ack: acked, stored once
    await dev.close()
    rows = await svc.store.pings(IMEI_A, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert [r["fix_time"] for r in rows] == [NOW - timedelta(minutes=m) for m in (20, 15, 10, 9)]
    assert [round(r["lat"], 4) for r in rows] == [50.94, 50.945, 50.9513, 50.952]
    assert rows[2]["lon"] == pytest.approx(1.8533) and rows[2]["speed_kmh"] == 87 and rows[2]["heading"] == 254
    assert rows[2]["altitude_m"] == 12 and rows[3]["battery_pct"] == 64
    stats = svc.ingest.stats.snapshot()["protocols"]["teltonika"]
    assert (stats["accepted"], stats["duplicates"], stats["packets"], stats["connections"]) == (4, 2, 3, 1)
    status, beacon = await get_json(f"{svc.url}/v1/beacons/{IMEI_A}")
    assert status == 200 and beacon["battery_pct"] == 64 and beacon["protocol"] == "teltonika"
    assert beacon["fix_time"].startswith((NOW - timedelta(minutes=9)).isoformat()[:19])  # latest fix, not the late ones


async def test_doc_examples_are_acked_but_refused_without_fix(beacons, caplog):
    svc = await beacons()
    dev = await Device.connect(svc.port)
    with caplog.at_level(logging.WARNING, logger="trackers.ingest"):
        assert await dev.send(CODEC8_ONE) == 1
        assert await dev.send(CODEC8E_ONE) == 1
    await dev.close()
    assert svc.ingest.stats.rejected["teltonika"]["no_fix"] == 2
    assert any(IMEI_A in r.message and "no GPS fix" in r.message for r in caplog.records)
    assert await svc.store.pings(IMEI_A, datetime(2019, 1, 1, tzinfo=timezone.utc), NOW) == []
    # heard from, though without a position: not silent
    status, beacon = await get_json(f"{svc.url}/v1/beacons/{IMEI_A}")
    assert beacon["last_seen"] is not None and beacon["fix_time"] is None and beacon["motion"] == "unknown"
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.patch(f"{svc.url}/v1/beacons/{IMEI_A}", json={"watched": True, "silence_after_s": 60}) as r:
            assert r.status == 200
    assert await svc.ingest.check_silence(datetime.now(timezone.utc) + timedelta(seconds=30)) == []


async def test_invalid_fixes_are_counted_explained_and_acked(beacons, caplog):
    svc = await beacons()
    dev = await Device.connect(svc.port)
    records = [record(5), record(-30), record(4, speed=500), record(3, lat=0.0, lon=0.0)]
    records[3] = AvlRecord(records[3].timestamp_ms, 0, 0.0, 0.0, 0, 0, 0, 0, 0, {})  # no satellites
    with caplog.at_level(logging.WARNING, logger="trackers.ingest"):
        assert await dev.send(encode_avl_packet(records)) == 4
    await dev.close()
    assert dict(svc.ingest.stats.rejected["teltonika"]) == {"time": 1, "speed_kmh": 1, "no_fix": 1}
    line = next(r.message for r in caplog.records if IMEI_A in r.message)
    assert "3 fix(es) of 4 rejected" in line and "future" in line and "speed_kmh" in line
    status, stats = await get_json(f"{svc.url}/v1/trackers/stats")
    assert stats["protocols"]["teltonika"]["rejected"]["time"] == 1 and stats["totals"]["accepted"] == 1
    status, health = await get_json(f"{svc.url}/v1/health")
    assert health["trackers"]["rejected"] == 3


async def test_bad_packet_closes_only_that_connection(beacons):
    svc = await beacons()
    good, bad = await Device.connect(svc.port, IMEI_A), await Device.connect(svc.port, IMEI_B)
    packet = bytearray(encode_avl_packet([record(2)]))
    packet[-1] ^= 0xFF  # CRC broken
    bad.writer.write(bytes(packet))
    assert await bad.closed_by_server()  # no ack: the device will resend
    assert await good.send(encode_avl_packet([record(1)])) == 1
    garbage = await Device.connect(svc.port, imei=None)
    garbage.writer.write(b"GET / HTTP/1.1\r\n\r\n")
    assert await garbage.closed_by_server()
    assert await good.send(encode_avl_packet([record(0.5)])) == 1
    assert dict(svc.ingest.stats.decode_errors["teltonika"]) == {"crc": 1, "imei": 1}
    rng = random.Random(5)
    for _ in range(20):  # random junk after a valid handshake, while the good device keeps going
        junk = await Device.connect(svc.port, IMEI_B)
        junk.writer.write(bytes([0, 0, 0, 0, 0, 0, 0, rng.randrange(3, 200)]) + rng.randbytes(rng.randrange(200, 400)))
        assert await junk.closed_by_server()
    assert await good.send(encode_avl_packet([record(0.25)])) == 1
    await good.close()
    assert len(await svc.store.pings(IMEI_A, NOW - timedelta(hours=1), NOW + timedelta(hours=1))) == 3
    assert await svc.store.pings(IMEI_B, NOW - timedelta(hours=1), NOW + timedelta(hours=1)) == []


async def test_unknown_beacons_refused_when_configured(beacons):
    svc = await beacons(accept_unknown_beacons=False)
    dev = await Device.connect(svc.port, IMEI_A)
    assert not dev.accepted and await dev.closed_by_server()
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(f"{svc.url}/v1/osmand", params={"id": "phone-1", "lat": "50.9", "lon": "1.8"}) as r:
            assert r.status == 400 and "not registered" in (await r.json())["error"]["message"]
        async with http.patch(f"{svc.url}/v1/beacons/{IMEI_A}", json={"label": "FMB920 #12", "watched": True}) as r:
            assert r.status == 200 and (await r.json())["watched"] is True
    dev = await Device.connect(svc.port, IMEI_A)
    assert dev.accepted and await dev.send(encode_avl_packet([record(1)])) == 1
    await dev.close()


async def test_osmand_over_real_http(beacons):
    svc = await beacons()
    ts = int((NOW - timedelta(minutes=3)).timestamp())
    async with aiohttp.ClientSession(headers=AUTH) as http:
        q = {"id": "phone-1", "lat": "50.9513", "lon": "1.8533", "timestamp": str(ts), "speed": "20",
             "bearing": "90", "altitude": "8", "accuracy": "5", "batt": "71"}
        async with http.get(f"{svc.url}/v1/osmand", params=q) as r:
            assert r.status == 200 and await r.json() == {"received": 1, "stored": 1, "duplicates": 0}
        async with http.post(f"{svc.url}/v1/osmand", data={**q, "timestamp": str(ts + 60), "lat": "50.96"}) as r:
            assert r.status == 200, await r.text()
        async with http.post(f"{svc.url}/v1/osmand", params=q) as r:  # resent: stored once
            assert await r.json() == {"received": 1, "stored": 0, "duplicates": 1}
        for params, status, message in [
            ({**q, "lat": "95"}, 400, "lat: must be between -90 and 90"),
            ({**q, "lat": "north"}, 400, "lat: must be a number"),
            ({**q, "id": ""}, 400, "id: is required"),
            ({**q, "timestamp": str(ts + 86400)}, 400, "time: is in the future"),
            ({**q, "speed": "300"}, 400, "speed_kmh: must be between 0 and 400"),  # 300 kn = 556 km/h
        ]:
            async with http.get(f"{svc.url}/v1/osmand", params=params) as r:
                assert r.status == status and message in (await r.json())["error"]["message"], params
        # Traccar's own port layout: OsmAnd at "/" on a port of its own, same ingest
        runner = web.AppRunner(create_osmand_app(svc.ingest, TrackerSettings()))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = site._server.sockets[0].getsockname()[1]
            async with http.post(f"http://127.0.0.1:{port}/", params={**q, "timestamp": str(ts + 120)}) as r:
                assert r.status == 200
        finally:
            await runner.cleanup()
    rows = await svc.store.pings("phone-1", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert len(rows) == 3 and rows[0]["speed_kmh"] == pytest.approx(37.04) and rows[0]["battery_pct"] == 71
    assert rows[0]["heading"] == 90 and rows[0]["accuracy_m"] == 5 and rows[1]["lat"] == 50.96
    rejected = svc.ingest.stats.rejected["osmand"]
    assert (rejected["lat"], rejected["id"], rejected["time"], rejected["speed_kmh"]) == (2, 1, 1, 1)


async def test_json_batch_goes_through_the_same_validation(beacons):
    svc = await beacons(max_speed_kmh=200)
    ping = {"beacon_id": "bal-7", "time": (NOW - timedelta(minutes=1)).isoformat(), "lat": 50.9, "lon": 1.8}
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{svc.url}/v1/pings", json=[ping, {**ping, "speed_kmh": 250}]) as r:
            assert r.status == 400 and "ping[1].speed_kmh: must be between 0 and 200" in (await r.json())["error"]["message"]
        async with http.post(f"{svc.url}/v1/pings", json=[ping]) as r:
            assert r.status == 201 and (await r.json())["stored"] == 1
    assert svc.ingest.stats.rejected["json"]["speed_kmh"] == 1 and svc.ingest.stats.accepted["json"] == 1


async def test_beacon_state_stop_detection_over_api(beacons):
    svc = await beacons(stop_radius_m=50, stop_min_duration_s=300)
    fixes = [(30, 50.90), (25, 50.95), (20, 50.9501), (14, 50.9502), (10, 50.9500)]
    dev = await Device.connect(svc.port)
    assert await dev.send(encode_avl_packet([record(m, lat) for m, lat in fixes[:2]])) == 2
    status, b = await get_json(f"{svc.url}/v1/beacons/{IMEI_A}")
    assert b["motion"] == "moving"
    assert await dev.send(encode_avl_packet([record(m, lat) for m, lat in fixes[2:]])) == 3
    await dev.close()
    status, b = await get_json(f"{svc.url}/v1/beacons/{IMEI_A}")
    assert b["motion"] == "stopped" and b["motion_since"].startswith((NOW - timedelta(minutes=25)).isoformat()[:19])
    assert b["lat"] == pytest.approx(50.95) and b["last_seen"] is not None
    status, listing = await get_json(f"{svc.url}/v1/beacons")
    assert [x["beacon_id"] for x in listing["beacons"]] == [IMEI_A]
    status, err = await get_json(f"{svc.url}/v1/beacons/nope")
    assert status == 404 and "unknown beacon" in err["error"]["message"]
    status, err = await get_json(f"{svc.url}/v1/beacons/a%20b")
    assert status == 400
    # a restart resumes from the stored state
    svc2 = await beacons()
    assert svc2.ingest.states.get(IMEI_A).moving is False


async def test_fittings_and_vehicle_track(beacons):
    svc = await beacons()
    t1, t2 = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{svc.url}/v1/beacons/{IMEI_A}/fittings",
                             json={"plate": "ab-123-cd", "from": t1.isoformat(), "to": t2.isoformat(), "note": "PV 42"}) as r:
            assert r.status == 201, await r.text()
            fitting = await r.json()
        assert fitting["plate_norm"] == "AB123CD" and fitting["fitted_to"] is not None
        async with http.post(f"{svc.url}/v1/beacons/{IMEI_A}/fittings",
                             json={"plate": "XY-999-ZZ", "from": (t1 + timedelta(minutes=30)).isoformat()}) as r:
            assert r.status == 409 and "already fitted on AB123CD" in (await r.json())["error"]["message"]
        for body, message in [({"plate": "A"}, "plate"), ({"plate": "AB123CD", "from": "soon"}, "from"),
                              ({"plate": "AB123CD", "from": t2.isoformat(), "to": t1.isoformat()}, "to: must be after")]:
            async with http.post(f"{svc.url}/v1/beacons/{IMEI_A}/fittings", json=body) as r:
                assert r.status == 400 and message in (await r.json())["error"]["message"]
        # refitted on another car after t2, still fitted
        async with http.post(f"{svc.url}/v1/beacons/{IMEI_A}/fittings", json={"plate": "XY-999-ZZ", "from": t2.isoformat()}) as r:
            assert r.status == 201
            second = await r.json()
    minutes = [150, 110, 90, 70, 50]  # before t1, inside, inside, inside, after t2
    dev = await Device.connect(svc.port)
    assert await dev.send(encode_avl_packet([record(m, 50.9 + m / 10000) for m in minutes])) == 5
    await dev.close()
    await svc.store.store_reads("cam-1", NOW - timedelta(minutes=100), [plate_read("AB123CD")])
    await svc.store.store_reads("cam-1", NOW - timedelta(minutes=75), [plate_read("XY999ZZ")])
    status, track = await get_json(f"{svc.url}/v1/vehicles/AB-123-CD/track",
                                   params={"from": (NOW - timedelta(hours=6)).isoformat(), "procedure": "PV-TEST"})
    assert status == 200
    kinds = [(p["kind"], p["time"][:16]) for p in track["points"]]
    expected = sorted([("ping", (NOW - timedelta(minutes=m)).isoformat()[:16]) for m in (110, 90, 70)]
                      + [("sighting", (NOW - timedelta(minutes=100)).isoformat()[:16])], key=lambda k: k[1])
    assert kinds == expected
    sighting = next(p for p in track["points"] if p["kind"] == "sighting")
    assert sighting["camera_id"] == "cam-1" and sighting["lat"] == 50.95
    status, other = await get_json(f"{svc.url}/v1/vehicles/XY999ZZ/track", params={"from": (NOW - timedelta(hours=6)).isoformat(),
                                                                             "procedure": "PV-TEST"})
    assert [p["kind"] for p in other["points"]] == ["sighting", "ping"]  # the 50-min ping, after the refit
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{svc.url}/v1/fittings/{second['id']}/end", json={"at": NOW.isoformat()}) as r:
            assert r.status == 200 and (await r.json())["fitted_to"] is not None
        async with http.post(f"{svc.url}/v1/fittings/{second['id']}/end", json={"at": NOW.isoformat()}) as r:
            assert r.status == 409
        async with http.post(f"{svc.url}/v1/fittings/999999/end") as r:
            assert r.status == 404
    status, listing = await get_json(f"{svc.url}/v1/fittings", params={"plate": "ab 123 cd"})
    assert [f["id"] for f in listing["fittings"]] == [fitting["id"]]
    async with aiohttp.ClientSession(headers=AUTH) as http:  # a filter that can name nothing is refused, saying which
        for params, name in (({"beacon_id": "R\x00x"}, "beacon_id"), ({"beacon_id": "-x"}, "beacon_id"),
                             ({"plate": "A"}, "plate"), ({"plate": "\x00"}, "plate")):
            async with http.get(f"{svc.url}/v1/fittings", params=params) as r:
                assert r.status == 400 and name in (await r.json())["error"]["message"], params
    status, b = await get_json(f"{svc.url}/v1/beacons/{IMEI_A}")
    assert len(b["fittings"]) == 2 and b["fitting_id"] is None  # no fitting active now


async def test_silent_watched_beacon_alerts_once_then_back(beacons):
    svc = await beacons()
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.patch(f"{svc.url}/v1/beacons/bal-9", json={"watched": True, "silence_after_s": 60}) as r:
            assert r.status == 200
        async with http.patch(f"{svc.url}/v1/beacons/bal-9", json={"silence_after_s": 5}) as r:
            assert r.status == 400
        async with http.post(f"{svc.url}/v1/beacons/bal-10/fittings", json={"plate": "GV-073-KP"}) as r:
            assert r.status == 201  # fitted: watched with the default threshold (1800 s)
        async with http.post(f"{svc.url}/v1/pings", json={"beacon_id": "bal-9", "time": NOW.isoformat(),
                                                          "lat": 50.9, "lon": 1.8}) as r:
            assert r.status == 201
        async with http.ws_connect(f"{svc.url}/v1/alerts/ws") as ws:
            assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
            assert await svc.ingest.check_silence(datetime.now(timezone.utc)) == []
            alerts = await svc.ingest.check_silence(datetime.now(timezone.utc) + timedelta(minutes=5))
            assert [a["beacon_id"] for a in alerts] == ["bal-9"]
            msg = json.loads((await ws.receive(timeout=5)).data)
            assert msg["type"] == "beacon_silent" and msg["beacon_id"] == "bal-9" and msg["silent_for_s"] >= 300
            assert msg["last_fix"]["lat"] == 50.9
            assert await svc.ingest.check_silence(datetime.now(timezone.utc) + timedelta(minutes=6)) == []  # once
            later = await svc.ingest.check_silence(datetime.now(timezone.utc) + timedelta(hours=1))
            assert [(a["beacon_id"], a["plate_norm"], a["last_seen"]) for a in later] == [("bal-10", "GV073KP", None)]
            assert json.loads((await ws.receive(timeout=5)).data)["beacon_id"] == "bal-10"
            async with http.post(f"{svc.url}/v1/pings", json={"beacon_id": "bal-9", "time": NOW.isoformat(),
                                                              "lat": 50.9, "lon": 1.8}) as r:
                assert r.status == 201
            back = json.loads((await ws.receive(timeout=5)).data)
            assert back["type"] == "beacon_back" and back["beacon_id"] == "bal-9"


async def test_no_ack_when_the_store_cannot_commit(beacons, caplog):
    svc = await beacons()
    dev = await Device.connect(svc.port)
    assert await dev.send(encode_avl_packet([record(3)])) == 1
    await svc.store.pool.close()  # the database goes away
    with caplog.at_level(logging.WARNING):
        dev.writer.write(encode_avl_packet([record(2)]))
        assert await dev.closed_by_server()  # no ack: the device keeps the records and resends them
    assert any("closing without ack" in r.message and IMEI_A in r.message for r in caplog.records)
    assert svc.ingest.stats.accepted["teltonika"] == 1


def test_bench_pings_counts_every_row(pg_server_url):
    from trackers.bench import run_bench

    result = run_bench(devices=3, pings=60, per_packet=25, database_url=pg_server_url)
    assert result["acked"] == result["rows_in_postgres"] == 180 and result["packets"] == 9
    assert result["pings_per_s"] > 0 and result["ack_ms_p99"] >= result["ack_ms_median"]


async def test_every_v1_route_is_in_the_openapi_document(beacons):
    svc = await beacons()
    status, doc = await get_json(f"{svc.url}/v1/openapi.json")
    routes = {r.resource.canonical for r in svc.app.router.routes() if r.resource.canonical.startswith("/v1/")}
    assert routes - set(doc["paths"]) == set()
