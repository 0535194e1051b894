"""The HTTP API over real TCP: frame in -> read stored -> hit on a WebSocket; bad input -> 4xx."""

import asyncio
import csv
import json

import aiohttp

from conftest import SHARED_DATA, needs_shared_data


async def ws_next_alert(ws: aiohttp.ClientWebSocketResponse, timeout: float = 30) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if data["type"] != "hello":
            return data


async def test_frame_to_stored_read_to_websocket_hit(service, fixture_frame):
    body, plate = fixture_frame
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        async with http.post(f"{service}/v1/watchlist", json={"plate": "GV-073-KP", "category": "passeur",
                                                              "reason": "PV 2026/0042", "priority": 4}) as r:
            assert r.status == 201
            entry = await r.json()
        async with http.ws_connect(f"{service}/v1/alerts/ws") as ws:
            hello = json.loads((await ws.receive(timeout=5)).data)
            assert hello["type"] == "hello"
            async with http.post(f"{service}/v1/frames", params={"camera_id": "cam-1",
                                 "captured_at": "2026-11-20T08:15:00+01:00"},
                                 data=body, headers={"Content-Type": "image/jpeg"}) as r:
                assert r.status == 200, await r.text()
                result = await r.json()
            alert = await ws_next_alert(ws)
        assert [x["plate_norm"] for x in result["reads"]] == [plate]
        assert alert["plate_norm"] == plate and alert["entry_id"] == entry["id"]
        assert alert["camera_id"] == "cam-1" and alert["category"] == "passeur" and alert["match_type"] == "exact"
        assert alert["read_at"] == "2026-11-20T07:15:00+00:00"
        assert result["hits"][0]["hit_id"] == alert["hit_id"]

        async with http.get(f"{service}/v1/vehicles/GV-073-KP/sightings",
                            params={"from": "2026-11-19T00:00:00Z", "to": "2026-11-21T00:00:00Z"}) as r:
            assert r.status == 200
            sightings = (await r.json())["sightings"]
        assert len(sightings) == 1 and sightings[0]["hit"] is True and sightings[0]["camera_id"] == "cam-1"
        async with http.get(f"{service}/v1/reads/{sightings[0]['id']}/crop") as r:
            assert r.status == 200 and r.content_type == "image/jpeg" and (await r.read())[:2] == b"\xff\xd8"


async def test_frame_without_watchlisted_plate_is_stored_without_alert(service, fixture_frame):
    body, plate = fixture_frame
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        async with http.post(f"{service}/v1/frames?camera_id=cam-1", data=body,
                             headers={"Content-Type": "image/jpeg"}) as r:
            result = await r.json()
        assert r.status == 200 and result["hits"] == [] and result["reads"][0]["hits"] == []
        async with http.get(f"{service}/v1/vehicles/{plate}/sightings", params={"procedure": "PV-TEST"}) as r:
            assert len((await r.json())["sightings"]) == 1


async def test_bad_inputs_get_clear_4xx_and_server_keeps_serving(service, fixture_frame):
    body, _ = fixture_frame
    jpeg = {"Content-Type": "image/jpeg"}
    cases = [
        ("POST", "/v1/frames?camera_id=cam-1", b"\xff\xd8\xff\xe0" + b"\x00" * 500, jpeg, 400, "corrupt"),
        ("POST", "/v1/frames?camera_id=cam-1", b"not an image", jpeg, 400, "signature"),
        ("POST", "/v1/frames?camera_id=cam-1", body, {"Content-Type": "text/plain"}, 415, "image/jpeg"),
        ("POST", "/v1/frames?camera_id=cam-1", b"\xff\xd8\xff" + b"\x00" * (3 * 1024 * 1024), jpeg, 413, "too large"),
        ("POST", "/v1/frames?camera_id=ghost", body, jpeg, 404, "unknown camera 'ghost'"),
        ("POST", "/v1/frames", body, jpeg, 400, "camera_id"),
        ("POST", "/v1/frames?camera_id=cam-1&captured_at=noon", body, jpeg, 400, "captured_at"),
        ("POST", "/v1/frames?camera_id=cam-1&lat=123", body, jpeg, 400, "lat"),
        ("POST", "/v1/pings", b'{"beacon_id": "b1", "lat": ', {"Content-Type": "application/json"}, 400, "malformed JSON"),
        ("POST", "/v1/pings", b'[{"beacon_id": "b1", "time": "2026-11-20T08:00:00Z", "lat": 95, "lon": 1}]',
         {"Content-Type": "application/json"}, 400, "ping[0].lat"),
        ("POST", "/v1/pings", b'{"beacon_id": "b1"}', {"Content-Type": "text/plain"}, 415, "application/json"),
        ("POST", "/v1/watchlist", b'{"plate": "!"}', {"Content-Type": "application/json"}, 400, "plate"),
        ("POST", "/v1/watchlist", b'{"plate": "AB123CD", "priority": 9}', {"Content-Type": "application/json"}, 400, "priority"),
        ("POST", "/v1/watchlist/import", b"plaque\nAB\n", {"Content-Type": "text/csv"}, 400, "plate"),
        ("DELETE", "/v1/watchlist/999999", b"", {}, 404, "999999"),
        ("DELETE", "/v1/watchlist/abc", b"", {}, 400, "integer"),
        ("GET", "/v1/vehicles/AB123CD/sightings?from=2026-11-20T00:00:00Z&to=2026-11-19T00:00:00Z", b"", {}, 400, "after"),
        ("GET", "/v1/reads/42/crop", b"", {}, 404, "42"),
        ("GET", "/v1/nothing-here", b"", {}, 404, "Not Found"),
        ("POST", "/v1/cameras", b'{"id": "c2", "lat": 91}', {"Content-Type": "application/json"}, 400, "lat"),
    ]
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        for method, path, data, headers, status, message in cases:
            async with http.request(method, f"{service}{path}", data=data, headers=headers) as r:
                text = await r.text()
                assert r.status == status, (path, r.status, text)
                assert message in json.loads(text)["error"]["message"], (path, text)
        async with http.get(f"{service}/v1/health") as r:
            assert r.status == 200 and (await r.json())["database"] == "ok"
        async with http.post(f"{service}/v1/frames?camera_id=cam-1", data=body, headers=jpeg) as r:
            assert r.status == 200 and (await r.json())["reads"]


async def test_pings_camera_and_watchlist_endpoints(service):
    pings = [{"beacon_id": "bal-7", "time": f"2026-11-20T08:0{i}:00Z", "lat": 50.9 + i / 100, "lon": 1.8} for i in range(3)]
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        async with http.post(f"{service}/v1/pings", json=pings) as r:
            assert r.status == 201 and await r.json() == {"received": 3, "stored": 3, "duplicates": 0}
        async with http.post(f"{service}/v1/pings", json=pings[0]) as r:
            assert await r.json() == {"received": 1, "stored": 0, "duplicates": 1}
        async with http.post(f"{service}/v1/cameras", json={"id": "cam-2", "name": "D940", "lat": 50.8, "lon": 1.6}) as r:
            assert r.status == 201
        async with http.get(f"{service}/v1/cameras") as r:
            assert [c["id"] for c in (await r.json())["cameras"]] == ["cam-1", "cam-2"]
        async with http.post(f"{service}/v1/watchlist/import?list=douane", data=b"plate,reason\nAA-001-AA,x\nBB-002-BB,y\n",
                             headers={"Content-Type": "text/csv"}) as r:
            assert r.status == 201 and (await r.json())["inserted"] == 2
        async with http.get(f"{service}/v1/watchlist?list=douane") as r:
            entries = (await r.json())["entries"]
        assert [e["plate_norm"] for e in entries] == ["AA001AA", "BB002BB"]
        async with http.delete(f"{service}/v1/watchlist/{entries[0]['id']}") as r:
            assert r.status == 204
        async with http.post(f"{service}/v1/watchlist", json={"plate": "BB-002-BB", "list": "douane"}) as r:
            assert r.status == 409
        async with http.get(f"{service}/v1/openapi.json") as r:
            doc = await r.json()
        assert doc["openapi"].startswith("3.") and "/v1/frames" in doc["paths"] and "/v1/alerts/ws" in doc["paths"]


@needs_shared_data()
async def test_real_french_photo_read_and_alerted(service):
    rows = [r for r in csv.DictReader(open(SHARED_DATA / "plates" / "manifest.csv")) if r["source"].startswith("qanastek")]
    async with aiohttp.ClientSession(headers=service.auth()) as http:
        for row in rows[:10]:
            body = (SHARED_DATA / "plates" / row["file"]).read_bytes()
            async with http.post(f"{service}/v1/frames?camera_id=cam-1", data=body,
                                 headers={"Content-Type": "image/jpeg"}) as r:
                reads = (await r.json())["reads"]
            if reads:
                break
        assert reads, "no read on 10 real French photos"
        read_plate = reads[0]["plate_norm"]
        async with http.post(f"{service}/v1/watchlist", json={"plate": read_plate}) as r:
            assert r.status == 201
        async with http.ws_connect(f"{service}/v1/alerts/ws") as ws:
            await ws.receive(timeout=5)
            async with http.post(f"{service}/v1/frames?camera_id=cam-1", data=body,
                                 headers={"Content-Type": "image/jpeg"}) as r:
                assert r.status == 200
            alert = await ws_next_alert(ws)
        assert alert["plate_norm"] == read_plate
