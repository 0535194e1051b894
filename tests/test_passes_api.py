"""POST /v1/frames for a camera that pushes stills, with tracking on: one pass, one alert, over real HTTP
with the real models and PostgreSQL; other cameras keep alerting per read."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest_asyncio

from conftest import serve_app
from lapi.cameras import Camera
from lapi.video_config import TrackingSettings

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)


@pytest_asyncio.fixture
async def tracked_service(store, reader):
    from lapi.api.app import create_app

    await store.upsert_camera(Camera(id="cam-2", name="Untracked camera"))
    tracking = TrackingSettings(idle_s=1.0, hit_confidence=0.9, hit_min_frames=2, per_camera={"cam-1": True})
    url, runner = await serve_app(create_app(store, reader, max_frame_bytes=2 * 1024 * 1024, tracking=tracking), store)
    yield url
    await runner.cleanup()


async def post(http: aiohttp.ClientSession, base: str, body: bytes, camera: str, at: datetime) -> dict:
    async with http.post(f"{base}/v1/frames", params={"camera_id": camera, "captured_at": at.isoformat()},
                         data=body, headers={"Content-Type": "image/jpeg"}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_stills_of_a_tracked_camera_make_one_pass_and_one_alert(tracked_service, fixture_frame):
    body, plate = fixture_frame
    base = tracked_service
    async with aiohttp.ClientSession(headers=base.auth()) as http:
        async with http.post(f"{base}/v1/watchlist", json={"plate": "GV-073-KP", "category": "passeur"}) as r:
            assert r.status == 201
        frames = [await post(http, base, body, "cam-1", T0 + timedelta(seconds=0.2 * i)) for i in range(3)]
        # a still that arrives late (captured before the last one) joins the same pass
        late = await post(http, base, body, "cam-1", T0 + timedelta(seconds=0.1))
        assert [len(f["hits"]) for f in frames + [late]] == [0, 1, 0, 0]
        pass_ids = {read["pass_id"] for f in frames + [late] for read in f["reads"]}
        assert len(pass_ids) == 1
        alert = frames[1]["hits"][0]
        assert (alert["plate_norm"], alert["pass_id"], alert["state"]) == (plate, pass_ids.pop(), "new")
        assert frames[2]["passes"][0]["frames"] == 3 and frames[2]["passes"][0]["status"] == "open"

        async with http.get(f"{base}/v1/passes", params={"camera_id": "cam-1"}) as r:
            (p,) = (await r.json())["passes"]
        assert p["plate_norm"] == plate and p["frames"] == 4 and p["status"] == "open"
        async with http.get(f"{base}/v1/passes/{p['id']}") as r:
            detail = await r.json()
        assert len(detail["reads"]) == 4 and [h["alert_ids"] for h in detail["hits"]] == [[alert["alert_id"]]]
        async with http.get(f"{base}/v1/alerts", params={"after": 0}) as r:
            assert [a["alert_id"] for a in (await r.json())["alerts"]] == [alert["alert_id"]]
        async with http.get(f"{base}/v1/cameras/cam-1/health") as r:
            health = await r.json()
        assert health == {"camera_id": "cam-1", "tracked": True, "open_passes": 1, "source": None}

        # the untracked camera alerts per read, as before
        other = [await post(http, base, body, "cam-2", T0 + timedelta(seconds=0.2 * i)) for i in range(2)]
        assert [len(f["hits"]) for f in other] == [1, 1] and "passes" not in other[0]

        # bad requests: clear 4xx
        async with http.get(f"{base}/v1/passes/abc") as r:
            assert r.status == 400 and "integer" in (await r.json())["error"]["message"]
        async with http.get(f"{base}/v1/passes/999999") as r:
            assert r.status == 404
        async with http.get(f"{base}/v1/passes", params={"limit": "0"}) as r:
            assert r.status == 400 and "limit" in (await r.json())["error"]["message"]
        async with http.get(f"{base}/v1/cameras/nope/health") as r:
            assert r.status == 404
        async with http.get(f"{base}/v1/openapi.json") as r:
            paths = json.loads(await r.text())["paths"]
        assert {"/v1/passes", "/v1/passes/{pass_id}", "/v1/cameras/{camera_id}/health"} <= set(paths)


async def test_a_tracked_cameras_frame_sent_twice_joins_its_pass_once(tracked_service, store, fixture_frame):
    """The frame key is committed with the pass's reads: a retry is replayed, the pass counts the frame once."""
    body, plate = fixture_frame
    base = tracked_service
    params = {"camera_id": "cam-1", "captured_at": T0.isoformat(), "frame_id": "cam1-000007"}
    async with aiohttp.ClientSession(headers={**base.auth(), "Content-Type": "image/jpeg"}) as http:
        async with http.post(f"{base}/v1/frames", params=params, data=body) as r:
            first = await r.json()
        async with http.post(f"{base}/v1/frames", params=params, data=body) as r:
            again = await r.json()
    assert "replayed" not in first and again["replayed"] is True
    assert [x["id"] for x in again["reads"]] == [x["id"] for x in first["reads"]] and len(first["reads"]) == 1
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*), min(frames) FROM passes")
        assert await cur.fetchone() == (1, 1)
        cur = await conn.execute("SELECT read_ids FROM frame_keys WHERE camera_id = 'cam-1' AND frame_key = 'cam1-000007'")
        assert (await cur.fetchone())[0] == [first["reads"][0]["id"]]
