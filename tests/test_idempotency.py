"""Idempotent writes (issue 8): a frame sent again with the same frame key (Idempotency-Key or
frame_id) stores nothing and gets the original reads and hits back, even when both copies arrive
at once; a ping sent again is a duplicate of its (beacon, fix time)."""

import asyncio

import aiohttp


async def count(store, sql: str) -> int:
    async with store.pool.connection() as conn:
        cur = await conn.execute(sql)
        return (await cur.fetchone())[0]


async def test_a_frame_sent_twice_is_stored_once_and_answered_the_same(service, store, fixture_frame):
    body, plate = fixture_frame
    await store.add_watch_entry(plate, category="stolen")
    camera = {**service.auth("camera"), "Content-Type": "image/jpeg"}
    url = f"{service}/v1/frames?camera_id=cam-1&captured_at=2026-11-23T08:00:00Z"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}&frame_id=cam1-000042", data=body, headers=camera) as r:
            first = await r.json()
        async with http.post(f"{url}&frame_id=cam1-000042", data=body, headers=camera) as r:
            again = await r.json()
        assert r.status == 200 and again["replayed"] is True and "replayed" not in first
        assert [x["id"] for x in again["reads"]] == [x["id"] for x in first["reads"]]
        assert [x["plate_norm"] for x in again["reads"]] == [plate]
        assert again["reads"][0]["hits"] == first["reads"][0]["hits"] and again["hits"] == first["hits"]
        # the same key in a header; and two copies of a new frame at the same moment
        copies = await asyncio.gather(*(http.post(url, data=body, headers={**camera, "Idempotency-Key": "k-7"})
                                        for _ in range(3)))
        answers = [await r.json() for r in copies]
        assert all(r.status == 200 for r in copies)
        assert len({a["reads"][0]["id"] for a in answers}) == 1 and sum(bool(a.get("replayed")) for a in answers) == 2
        async with http.post(url, data=body, headers={**camera, "Idempotency-Key": "x" * 201}) as r:
            assert r.status == 400 and "Idempotency-Key" in (await r.json())["error"]["message"]
        async with http.post(url, data=body, headers=camera) as r:  # no key: a new frame each time
            assert r.status == 200 and "replayed" not in await r.json()
    assert await count(store, "SELECT count(*) FROM plate_reads") == 3
    assert await count(store, "SELECT count(*) FROM hits") == 3 and await count(store, "SELECT count(*) FROM alert_outbox") == 3
    assert await count(store, "SELECT count(*) FROM frame_keys") == 2


async def test_a_ping_sent_twice_is_stored_once(service, store):
    pings = [{"beacon_id": "bal-7", "time": f"2026-11-23T08:0{i}:00Z", "lat": 50.9, "lon": 1.8} for i in range(5)]
    async with aiohttp.ClientSession(headers=service.auth("beacon")) as http:
        results = []
        for _ in range(3):
            async with http.post(f"{service}/v1/pings", json=pings) as r:
                results.append(await r.json())
    assert [x["stored"] for x in results] == [5, 0, 0] and [x["duplicates"] for x in results] == [0, 5, 5]
    assert await count(store, "SELECT count(*) FROM beacon_pings") == 5
