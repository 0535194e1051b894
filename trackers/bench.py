"""``lapi bench pings``: pings/s ingested end to end over the Teltonika server into PostgreSQL.

The server side (TCP server, decoder, validation, batched COPY writer) runs in this process as in
``lapi serve``; the N simulated devices run in a second process, so their encoding does not
borrow the server's event loop.  Every packet is timed from send to acknowledgement, and an ack
only comes after the commit, so the figure is durable pings per second.  The database is a
scratch one (embedded PostgreSQL in a temporary directory, or a fresh database on the server
given) and is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from trackers.teltonika import CODEC_8E, AvlRecord, encode_avl_packet, encode_imei


def device_packets(index: int, pings: int, per_packet: int, start: datetime) -> list[bytes]:
    """One simulated device's journey: a fix per second along the A16, ``per_packet`` records a packet."""
    t0 = int(start.timestamp() * 1000)
    lat0, lon0 = 50.90 + index * 1e-4, 1.80
    records = [AvlRecord(t0 + i * 1000, 0, lon0 + i * 2e-5, lat0 + i * 1e-5, 20, 60, 11, 88, 0,
                         {239: 1, 240: 1, 21: 4, 66: 12800, 113: 90}) for i in range(pings)]
    return [encode_avl_packet(records[i:i + per_packet], CODEC_8E) for i in range(0, pings, per_packet)]


async def _drive_devices(port: int, devices: int, pings: int, per_packet: int) -> dict[str, Any]:
    start = datetime.now(timezone.utc) - timedelta(seconds=pings + 60)
    streams = [device_packets(i, pings, per_packet, start) for i in range(devices)]
    conns = []
    for i in range(devices):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode_imei(f"{350000000000000 + i}"))
        if await reader.readexactly(1) != b"\x01":
            raise RuntimeError("handshake refused")
        conns.append((reader, writer))
    latencies: list[float] = []

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, packets: list[bytes]) -> int:
        acked = 0
        for packet in packets:
            sent = time.perf_counter()
            writer.write(packet)
            acked += int.from_bytes(await reader.readexactly(4), "big")
            latencies.append(time.perf_counter() - sent)
        writer.close()
        return acked

    t0, cpu0 = time.perf_counter(), time.process_time()
    acked = sum(await asyncio.gather(*(run(r, w, s) for (r, w), s in zip(conns, streams))))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"acked": acked, "seconds": elapsed, "packets": len(latencies),
            "cpu_s_devices": round(time.process_time() - cpu0, 2),
            "ack_ms_median": round(1000 * statistics.median(latencies), 1),
            "ack_ms_p99": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)}


def _device_process(port: int, devices: int, pings: int, per_packet: int, out: Any) -> None:
    try:
        out.put(asyncio.run(_drive_devices(port, devices, pings, per_packet)))
    except Exception as err:  # noqa: BLE001 - reported to the parent
        out.put({"error": repr(err)})


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (Linux /proc; 0 where unreadable)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


async def _pg_pids(store: Any) -> list[int]:
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT pid FROM pg_stat_activity")
        return [r[0] for r in await cur.fetchall()]


async def _bench(url: str, devices: int, pings: int, per_packet: int) -> dict[str, Any]:
    from lapi.store.beacons import BeaconStore
    from lapi.store.db import Store
    from trackers.ingest import PingIngest
    from trackers.server import TeltonikaServer

    store = Store(url, min_size=4, max_size=4)  # every connection open before the CPU snapshot
    await store.open()
    ingest = PingIngest(BeaconStore(store))
    await ingest.start()
    server = TeltonikaServer(ingest, "127.0.0.1", 0)
    await server.start()
    gc.freeze()  # as lapi serve does once started (lapi/service.py)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_device_process, args=(server.port, devices, pings, per_packet, out), daemon=True)
    pg_pids = await _pg_pids(store)
    pg_cpu0, cpu0 = _cpu_seconds(pg_pids), time.process_time()
    proc.start()
    try:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, out.get)
        result["cpu_s_server"] = round(time.process_time() - cpu0, 2)  # this process, device start to last ack
        result["cpu_s_postgres"] = round(_cpu_seconds(pg_pids) - pg_cpu0, 2)
        await loop.run_in_executor(None, proc.join)
        async with store.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM beacon_pings")
            result["rows_in_postgres"] = (await cur.fetchone())[0]
    finally:
        await server.close()
        await ingest.stop()
        await store.close()
    if "error" in result:
        raise RuntimeError(f"simulated devices failed: {result['error']}")
    cpu = result["cpu_s_server"] + result["cpu_s_postgres"]
    result.update(devices=devices, pings_per_device=pings, records_per_packet=per_packet,
                  pings_per_s=round(result["acked"] / result["seconds"]),
                  server_cpu_us_per_ping=round(1e6 * cpu / max(1, result["acked"]), 1))
    return result


def run_bench(devices: int, pings: int, per_packet: int = 25, database_url: str | None = None) -> dict[str, Any]:
    """Run the bench on a scratch database; returns the figures."""
    from lapi.store.scratch import scratch_database

    with scratch_database(database_url) as url:
        return asyncio.run(_bench(url, devices, pings, per_packet))
