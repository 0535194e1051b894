"""Backpressure (issue 8): frames held for reading and pings waiting to be written are bounded; past
the bound a sender gets 429 with Retry-After at once (nothing queued), and is served again once
the backlog drains.  The backlog is made real by locking the table the writes go to."""

import asyncio
import json

import aiohttp
import psycopg
import pytest

from conftest import serve_app
from lapi.api.app import FRAME_GATE, INGEST, LIMITS, create_app
from lapi.security_config import LimitSettings, parse_limits


def test_limits_config_names_the_key():
    for table, message in (({"pending_frames": 0}, "limits.pending_frames"), ({"retry_after_s": "1"}, "limits.retry_after_s"),
                           ({"pending_pings": 500}, "limits.pending_pings: must be at least"),
                           ({"queue": 3}, "limits.queue: unknown key")):
        with pytest.raises(ValueError, match=message):
            parse_limits(table)
    assert parse_limits({"pending_frames": 4}).pending_frames == 4


async def wait_for(predicate, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_frames_and_pings_past_their_bound_get_429_with_retry_after(store, reader, database_url, fixture_frame):
    body, plate = fixture_frame
    app = create_app(store, reader)
    app[LIMITS] = LimitSettings(pending_frames=1, pending_pings=100, max_ping_batch=100, retry_after_s=2)
    url, runner = await serve_app(app, store)
    pings = [{"beacon_id": "b1", "time": f"2026-11-20T08:{m:02d}:00Z", "lat": 50.9, "lon": 1.8} for m in range(60)]
    try:
        async with aiohttp.ClientSession() as http:
            camera = {**url.auth("camera"), "Content-Type": "image/jpeg"}
            beacon = url.auth("beacon")
            with psycopg.connect(database_url) as locker:  # the database stalls: writes wait
                locker.execute("LOCK TABLE plate_reads, beacon_pings IN EXCLUSIVE MODE")
                first = asyncio.create_task(http.post(f"{url}/v1/frames?camera_id=cam-1", data=body, headers=camera))
                await wait_for(lambda: app[FRAME_GATE].busy == 1)
                async with http.post(f"{url}/v1/frames?camera_id=cam-1", data=body, headers=camera) as r:
                    assert r.status == 429 and r.headers["Retry-After"] == "2"
                    assert "limits.pending_frames" in (await r.json())["error"]["message"]
                held = asyncio.create_task(http.post(f"{url}/v1/pings", json=pings, headers=beacon))
                await wait_for(lambda: app[INGEST].pending == 60)
                async with http.post(f"{url}/v1/pings", json=pings[:41], headers=beacon) as r:
                    assert r.status == 429 and r.headers["Retry-After"] == "2"
                    assert "limits.pending_pings" in (await r.json())["error"]["message"]
                locker.commit()  # the database is back: the held work completes
            async with await first as r:
                assert r.status == 200 and [x["plate_norm"] for x in (await r.json())["reads"]] == [plate]
            async with await held as r:
                assert r.status == 201 and (await r.json())["stored"] == 60
            assert app[FRAME_GATE].busy == 0 and app[INGEST].pending == 0
            async with http.post(f"{url}/v1/frames?camera_id=cam-1", data=body, headers=camera) as r:
                assert r.status == 200
            async with http.post(f"{url}/v1/pings", json=[{**p, "lat": 50.8} for p in pings[:40]], headers=beacon) as r:
                assert r.status == 201 and json.loads(await r.text())["duplicates"] == 40
    finally:
        await runner.cleanup()
