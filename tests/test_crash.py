"""Crash safety (issue 8): `lapi serve` as a real process on a scratch database, frames and pings
pushed under load by clients that retry, the service SIGKILLed mid-run and started again; every
acknowledged frame and ping is in the database exactly once and nothing is duplicated."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import psycopg

from conftest import ROOT, bearer

FRAMES = int(os.environ.get("LAPI_CRASH_FRAMES", "24"))
PING_BATCHES, PINGS_PER_BATCH = int(os.environ.get("LAPI_CRASH_PING_BATCHES", "300")), 10
PING_PACE_S = 0.1  # between one sender's batches: pings keep coming while frames are read, across the kill
KILL_AFTER_FRAMES = FRAMES // 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_url(conninfo: str) -> str:
    """A postgresql:// URL for the config (the test fixtures give a conninfo string)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    auth = quote(p.get("user", "")) + (f":{quote(p['password'])}" if p.get("password") else "")
    host = p.get("host", "127.0.0.1")
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql://{auth}@/{p['dbname']}?host={quote(host)}&port={p.get('port', 5432)}"
    return f"postgresql://{auth}@{host}:{p.get('port', 5432)}/{p['dbname']}"


def write_config(path, port: int) -> None:
    path.write_text(f"""
[server]
host = "127.0.0.1"
port = {port}
[reading]
detector_dir = "{ROOT / 'models' / 'detector'}"
recognizer_config = "{ROOT / 'models' / 'ocr' / 'lapi_plate_g2.json'}"
[trackers]
teltonika_enabled = false
osmand_port = 0
[retention]
enabled = false
[[cameras]]
id = "cam-1"
lat = 50.95
lon = 1.85
""")


class Service:
    def __init__(self, config, database_url: str, log) -> None:
        self.config, self.database_url, self.log = config, database_url, log
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "LAPI_DATABASE_URL": as_url(self.database_url)}
        self.proc = subprocess.Popen([sys.executable, "-m", "lapi.cli", "serve", "--config", str(self.config)],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.starts += 1

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Client:
    """Sends until acknowledged: a refused connection, a reset, a timeout, a 429 or a 5xx is retried."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.retries = 0
        self.replayed = 0  # frames answered from their key: stored by an attempt whose answer was lost
        self.acked_frames: dict[str, list[int]] = {}   # frame id -> read ids answered
        self.acked_pings: set[tuple[str, str]] = set()
        self.statuses: dict[int, int] = {}

    async def send(self, http: aiohttp.ClientSession, method: str, path: str, deadline: float,
                   alive: Service | None = None, **kwargs) -> dict:
        while True:
            assert time.monotonic() < deadline, f"{path} never acknowledged"
            assert alive is None or alive.proc.poll() is None, f"lapi serve exited: see {alive.log.name}"
            try:
                async with http.request(method, self.base + path, timeout=aiohttp.ClientTimeout(total=60),
                                        **kwargs) as r:
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                    if r.status < 300:
                        return await r.json()
                    assert r.status == 429 or r.status >= 500, (r.status, await r.text())
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
                pass
            self.retries += 1
            await asyncio.sleep(0.2)

    async def frames(self, http, body: bytes, auth: dict, ids: list[int], t0: datetime, deadline: float) -> None:
        for i in ids:
            frame_id = f"frame-{i:04d}"
            answer = await self.send(http, "POST", "/v1/frames", deadline, data=body,
                                     params={"camera_id": "cam-1", "frame_id": frame_id,
                                             "captured_at": (t0 + timedelta(seconds=i)).isoformat()},
                                     headers={**auth, "Content-Type": "image/jpeg"})
            self.acked_frames[frame_id] = [r["id"] for r in answer["reads"]]
            self.replayed += bool(answer.get("replayed"))

    async def pings(self, http, auth: dict, batches: list[int], t0: datetime, deadline: float) -> None:
        for b in batches:
            batch = [{"beacon_id": f"bal-{b % 7}", "time": (t0 + timedelta(seconds=b * 5 + i / 2)).isoformat(),
                      "lat": 50.9 + i / 1000, "lon": 1.8} for i in range(PINGS_PER_BATCH)]
            await self.send(http, "POST", "/v1/pings", deadline, json=batch, headers=auth)
            self.acked_pings.update((p["beacon_id"], p["time"]) for p in batch)
            await asyncio.sleep(PING_PACE_S)


async def test_acknowledged_writes_survive_sigkill_exactly_once(database_url, tmp_path, fixture_frame):
    from lapi.store.db import Store

    store = Store(database_url, max_size=1)
    await store.open()  # the schema, and tokens for the devices
    camera, beacon = await bearer(store, "camera"), await bearer(store, "beacon")
    await store.close()
    port = free_port()
    write_config(tmp_path / "lapi.toml", port)
    log = open(tmp_path / "serve.log", "wb")
    service = Service(tmp_path / "lapi.toml", database_url, log)
    client = Client(f"http://127.0.0.1:{port}")
    body, _ = fixture_frame
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    service.start()
    try:
        deadline = time.monotonic() + 420
        async with aiohttp.ClientSession() as http:
            await client.send(http, "GET", "/v1/health", deadline, alive=service)
            started = time.monotonic()
            frame_ids, batches = list(range(FRAMES)), list(range(PING_BATCHES))
            work = [asyncio.create_task(client.frames(http, body, camera, frame_ids[k::3], t0, deadline)) for k in range(3)]
            work += [asyncio.create_task(client.pings(http, beacon, batches[k::3], t0, deadline)) for k in range(3)]
            while len(client.acked_frames) < KILL_AFTER_FRAMES:  # mid-run, with requests in flight
                await asyncio.sleep(0.05)
            service.kill()
            killed_at = (len(client.acked_frames), len(client.acked_pings))
            await asyncio.sleep(1.0)
            service.start()
            await asyncio.gather(*work)
            elapsed = time.monotonic() - started
    finally:
        service.stop()
        log.close()

    # no admin token in this database: each start said how to make the first one
    assert (tmp_path / "serve.log").read_text().count("lapi token create --role admin") == service.starts
    with psycopg.connect(database_url) as conn:
        keys = dict(conn.execute("SELECT frame_key, read_ids FROM frame_keys").fetchall())
        reads = conn.execute("SELECT id, read_at FROM plate_reads").fetchall()
        pings = conn.execute("SELECT beacon_id, fix_time FROM beacon_pings").fetchall()
    # every acknowledged frame is there, with the reads it was answered with, and only once
    assert set(client.acked_frames) == set(keys) and len(keys) == FRAMES
    assert all(keys[k] == ids and len(ids) == 1 for k, ids in client.acked_frames.items())
    assert sorted(r[0] for r in reads) == sorted(i for ids in keys.values() for i in ids)
    assert len({r[1] for r in reads}) == len(reads) == FRAMES  # one read per frame: no duplicate
    stored_pings = {(b, t.astimezone(timezone.utc).isoformat()) for b, t in pings}
    assert len(pings) == len(stored_pings) == PING_BATCHES * PINGS_PER_BATCH
    assert client.acked_pings == stored_pings
    print(f"\ncrash test: {FRAMES} frames and {len(stored_pings)} pings acknowledged in {elapsed:.1f} s with "
          f"{service.starts - 1} SIGKILL (at {killed_at[0]} frames, {killed_at[1]} pings acked), "
          f"{client.retries} retries, {client.replayed} frames answered from their key, answers "
          f"{dict(sorted(client.statuses.items()))}; lost 0, duplicated 0")
