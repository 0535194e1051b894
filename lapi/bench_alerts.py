"""``lapi bench alerts``: latency from a hit being stored to its alert arriving on a WebSocket.

The service side runs as in production: reads go through :meth:`Store.store_reads` (match, hit,
outbox alert, one transaction, NOTIFY), the outbox feed publishes in alert-id order, and
``/v1/alerts/ws`` serves a real aiohttp WebSocket.  Hits are submitted open-loop at a fixed rate
(one read per hit, each a listed plate, some read with a lookalike).  The consumer is a separate
process, so its reading does not share the service's event loop; both stamp ``time.monotonic``
(one system-wide clock).  Latency = WebSocket message received - ``store_reads`` called, so it
includes matching, the commit and the feed.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import statistics
import time
from datetime import datetime, timezone
from typing import Any

from lapi.benchstats import percentile


def _consumer(ws_url: str, ready: Any, done: Any, conn: Any) -> None:
    """Child process: receive alerts until the producer is done and 2 s passed without one;
    send back {hit_id: monotonic receive time}."""
    import aiohttp

    async def run() -> dict[int, float]:
        got: dict[int, float] = {}
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url) as ws:
                await ws.receive(timeout=10)  # hello
                ready.set()
                last = time.monotonic()
                while True:
                    try:
                        msg = await ws.receive(timeout=0.5)
                    except asyncio.TimeoutError:
                        if done.is_set() and time.monotonic() - last > 2:
                            break
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    last = time.monotonic()
                    alert = json.loads(msg.data)
                    if alert.get("type") == "hit":
                        got[alert["hit_id"]] = last
        return got

    conn.send(asyncio.run(run()))
    conn.close()



async def _bench(url: str, rate: float, seconds: float, entries: int, seed: int) -> dict[str, Any]:
    from aiohttp import web

    from lapi.api.app import create_app
    from lapi.bench_watchlist import lookalike_misread, realistic_plates
    from lapi.cameras import Camera
    from lapi.reading.detector import Detection
    from lapi.reading.pipeline import PlateRead
    from lapi.store.db import Store
    from lapi.store.tokens import TokenStore
    from lapi.watchlists import parse_entry

    rng = random.Random(seed)
    store = Store(url, max_size=8)
    await store.open()
    await store.upsert_camera(Camera("bench-cam", "bench", 50.9, 1.9))
    listed = [norm for norm, _ in realistic_plates(entries, rng)]
    await store.watchlists.import_entries([parse_entry({"plate": p, "list": "bench", "category": "stolen"})
                                           for p in listed])
    token, _ = await TokenStore(store).create("bench-consumer", "consumer", note="lapi bench alerts")
    app = create_app(store, None)  # no frames are read: reads go straight to the store
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    total = int(rate * seconds)
    ctx = mp.get_context("spawn")
    ready, done, (parent_end, child_end) = ctx.Event(), ctx.Event(), ctx.Pipe(duplex=False)
    consumer = ctx.Process(target=_consumer, args=(f"ws://127.0.0.1:{port}/v1/alerts/ws?token={token}", ready, done, child_end),
                           daemon=True)
    consumer.start()
    loop = asyncio.get_running_loop()
    while not ready.is_set():
        await asyncio.sleep(0.05)
        if not consumer.is_alive():
            raise RuntimeError("the WebSocket consumer process died")

    submitted: dict[int, float] = {}
    store_ms: list[float] = []  # store_reads call -> returned (committed)
    failures = 0

    async def one(plate: str) -> None:
        nonlocal failures
        read = PlateRead(plate, plate, 0.9, (0.9,) * len(plate), Detection(0, 0, 100, 25, 0.9), b"")
        t0 = time.monotonic()
        try:
            stored = await store.store_reads("bench-cam", datetime.now(timezone.utc), [read])
        except Exception:  # noqa: BLE001 - counted, the bench goes on
            failures += 1
            return
        committed = time.monotonic()
        for h in stored[0].hits[:1]:
            submitted[h.id] = t0
            store_ms.append(1000 * (committed - t0))

    cpu0, start = time.process_time(), time.monotonic()
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        plate = rng.choice(listed)
        tasks.append(loop.create_task(one(lookalike_misread(plate, rng) if i % 4 == 3 else plate)))
    submit_s = time.monotonic() - start
    await asyncio.gather(*tasks)
    sent_s = time.monotonic() - start
    done.set()
    received: dict[int, float] = await loop.run_in_executor(None, parent_end.recv)
    cpu = time.process_time() - cpu0
    consumer.join(5)
    await runner.cleanup()
    await store.close()
    latencies = [1000 * (received[h] - t0) for h, t0 in submitted.items() if h in received]
    return {
        "hits_submitted": total, "hits_stored": len(submitted), "store_failures": failures,
        "alerts_received": len(latencies), "lost": len(submitted) - len(latencies),
        "rate_target": rate, "rate_submitted": round(total / submit_s, 1), "rate_stored": round(total / sent_s, 1),
        "watchlist_entries": entries,
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(percentile(latencies, 0.95), 1) if latencies else None,
        "latency_ms_p99": round(percentile(latencies, 0.99), 1) if latencies else None,
        "latency_ms_max": round(max(latencies), 1) if latencies else None,
        "store_ms_p50": round(statistics.median(store_ms), 1) if store_ms else None,
        "store_ms_p99": round(percentile(store_ms, 0.99), 1) if store_ms else None,
        "service_cpu_s": round(cpu, 2),
    }


def bench_alerts(rate: float = 200, seconds: float = 10, entries: int = 10000, database_url: str | None = None,
                 seed: int = 7) -> dict[str, Any]:
    """Run the bench on a scratch database (created and dropped on ``database_url``'s server, or an
    embedded server when None); returns the figures."""
    from lapi.store.scratch import scratch_database

    if rate <= 0 or seconds <= 0 or entries < 1:
        raise ValueError("rate and seconds must be > 0, entries >= 1")
    with scratch_database(database_url) as url:
        return asyncio.run(_bench(url, rate, seconds, entries, seed))


def format_report(r: dict[str, Any]) -> str:
    return (f"{r['hits_stored']} hits submitted at {r['rate_submitted']}/s (target {r['rate_target']:g}), stored at "
            f"{r['rate_stored']}/s, against "
            f"{r['watchlist_entries']} entries; {r['alerts_received']} alerts on the WebSocket, {r['lost']} lost, "
            f"{r['store_failures']} store failures\n"
            f"hit -> WebSocket latency: p50 {r['latency_ms_p50']} ms, p95 {r['latency_ms_p95']} ms, "
            f"p99 {r['latency_ms_p99']} ms, max {r['latency_ms_max']} ms (of which store_reads to commit: p50 "
            f"{r['store_ms_p50']} ms, p99 {r['store_ms_p99']} ms); service CPU {r['service_cpu_s']} s")
