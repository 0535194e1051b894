"""Several processes (issue 10): two real `lapi serve` processes on one database share the work; a
hit read by one reaches the WebSocket consumers connected to either, exactly once per consumer.

The outbox is re-read only every 60 s here (alerts.poll_interval_s), so an alert that arrives
within seconds on the other process came through PostgreSQL LISTEN/NOTIFY (lapi/store/notify.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import psycopg

from conftest import bearer
from test_crash import Service, free_port, write_config

WAIT_S = 15.0      # an alert must reach every consumer within this
QUIET_S = 3.0      # and nothing more may come in this much longer


async def _consumer(http: aiohttp.ClientSession, base: str, token: dict, got: list, ready: asyncio.Event) -> None:
    async with http.ws_connect(f"{base}/v1/alerts/ws".replace("http", "ws", 1), headers=token) as ws:
        async for msg in ws:
            alert = json.loads(msg.data)
            if alert.get("type") == "hello":
                ready.set()
                continue
            got.append(alert)


async def _until(condition, deadline: float, what: str, services: list[Service]) -> None:
    while not condition():
        assert time.monotonic() < deadline, what
        for s in services:
            assert s.proc.poll() is None, f"lapi serve exited: see {s.log.name}"
        await asyncio.sleep(0.05)


async def test_a_hit_read_by_one_process_reaches_consumers_of_both_exactly_once(database_url, tmp_path, fixture_frame):
    from lapi.store.db import Store
    from lapi.watchlists import parse_entry

    body, plate = fixture_frame
    store = Store(database_url, max_size=1)
    await store.open()  # the schema, the watchlist, tokens
    await store.watchlists.add_entry(parse_entry({"plate": plate, "list": "douane"}), "test")
    camera = await bearer(store, "camera")
    consumers = [await bearer(store, "consumer", f"screen-{i}") for i in range(3)]
    await store.close()

    services = []
    for name in ("a", "b"):
        port = free_port()
        config = tmp_path / f"lapi-{name}.toml"
        write_config(config, port)
        config.write_text(config.read_text() + "[alerts]\npoll_interval_s = 60\n")
        services.append((Service(config, database_url, open(tmp_path / f"serve-{name}.log", "wb")),
                         f"http://127.0.0.1:{port}"))
    procs = [s for s, _ in services]
    (a, base_a), (b, base_b) = services
    for s in procs:
        s.start()
    try:
        deadline = time.monotonic() + 240
        async with aiohttp.ClientSession() as http:
            for base in (base_a, base_b):
                while True:
                    await _until(lambda: True, deadline, "lapi serve did not start", procs)
                    try:
                        async with http.get(f"{base}/v1/health") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.3)
            got: list[list[dict]] = [[], [], []]
            ready = [asyncio.Event() for _ in got]
            # one consumer on A, two on B
            tasks = [asyncio.create_task(_consumer(http, base, consumers[i], got[i], ready[i]))
                     for i, base in enumerate((base_a, base_b, base_b))]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)
            t0 = datetime.now(timezone.utc).replace(microsecond=0)

            async def push(base: str, at: datetime) -> dict:
                async with http.post(f"{base}/v1/frames", data=body,
                                     params={"camera_id": "cam-1", "captured_at": at.isoformat()},
                                     headers={**camera, "Content-Type": "image/jpeg"}) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            first = await push(base_a, t0 - timedelta(seconds=10))  # read by process A
            assert [h["plate_norm"] for h in first["hits"]] == [plate]
            sent = time.monotonic()
            await _until(lambda: all(g for g in got), time.monotonic() + WAIT_S,
                         f"an alert of A did not reach every consumer within {WAIT_S} s: {got}", procs)
            latency = time.monotonic() - sent
            second = await push(base_b, t0)  # read by process B
            await _until(lambda: all(len(g) == 2 for g in got), time.monotonic() + WAIT_S,
                         f"an alert of B did not reach every consumer within {WAIT_S} s: {got}", procs)
            await asyncio.sleep(QUIET_S)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for s in procs:
            s.stop()
            s.log.close()

    expected = [first["hits"][0]["alert_id"], second["hits"][0]["alert_id"]]
    assert expected[0] < expected[1]
    for g in got:  # every consumer: each alert once, in commit order, nothing else
        assert [m["alert_id"] for m in g] == expected
        assert all(m["plate_norm"] == plate for m in g)
    with psycopg.connect(database_url) as conn:  # the two processes each stored the frame they read
        assert conn.execute("SELECT count(*) FROM plate_reads").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM alert_outbox").fetchone() == (2,)
    print(f"\nmultiprocess: alert committed by A on the WebSocket of B's consumers in {latency * 1000:.0f} ms "
          f"(outbox polling every 60 s: NOTIFY); 3 consumers x 2 alerts, each once")
