"""``lapi bench pipeline``: frames/s and frame -> read latency through the HTTP API, N cameras at once.

The service side is the real application (``create_app``: auth, decode, micro-batched detection
and recognition, store, match) on a scratch database, on a free local port.  N simulated cameras
run in a second process, each pushing its next frame as soon as the previous one is answered
(closed loop), so the figure is what the service sustains, and each frame is timed from the
start of its POST to its answer (the reads stored and matched).  Frames are real photos of the
plates manifest when ``../shared/data`` is there, else synthetic scenes (``lapi.synth``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lapi.benchstats import percentile
from lapi.reading import PRECISIONS

DEFAULT_MANIFEST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "plates" / "manifest.csv"


def load_frames(manifest: Path | None, n: int, seed: int = 3) -> tuple[list[bytes], list[str | None], str]:
    """``n`` JPEG frames and the plate each shows (None when unknown), and where they came from."""
    import cv2

    from lapi.evaluation import load_manifest

    if manifest is not None and manifest.exists():
        rows = [r for r in load_manifest(manifest) if r["file"].startswith("fr_dev/")] or load_manifest(manifest)
        rows = rows[:n]
        frames = [(manifest.parent / r["file"]).read_bytes() for r in rows]
        return frames, [r["plate_norm"] for r in rows], f"{len(frames)} photos of {manifest} (fr_dev first)"
    from lapi.synth import synthetic_scene

    rng = random.Random(seed)
    frames, truths = [], []
    for _ in range(n):
        frame, text, _ = synthetic_scene(rng, (1280, 960))
        frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
        truths.append("".join(c for c in text.upper() if c.isalnum()))
    return frames, truths, f"{n} synthetic 1280x960 scenes (lapi.synth; no ../shared/data)"


async def _cameras(url: str, token: str, cameras: int, frames: list[bytes], per_camera: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    answers: list[tuple[int, list[str]]] = []  # (frame index, plates read)
    failures: list[str] = []

    async def camera(session: aiohttp.ClientSession, c: int) -> None:
        for k in range(per_camera):
            i = (c * per_camera + k) % len(frames)
            params = {"camera_id": f"bench-cam-{c}", "captured_at": datetime.now(timezone.utc).isoformat()}
            t0 = time.perf_counter()
            async with session.post(f"{url}/v1/frames", params=params, data=frames[i],
                                    headers={"Content-Type": "image/jpeg"}) as resp:
                body = await resp.json()
            if resp.status != 200:
                failures.append(f"{resp.status}: {body}")
                continue
            latencies.append(time.perf_counter() - t0)
            answers.append((i, [r["plate_norm"] for r in body["reads"]]))

    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=600)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(camera(session, c) for c in range(cameras)))
        seconds = time.perf_counter() - t0
    return {"latencies": latencies, "answers": answers, "failures": failures, "seconds": seconds}


def _camera_process(url: str, token: str, cameras: int, frames: list[bytes], per_camera: int, out: Any) -> None:
    try:
        out.put(asyncio.run(_cameras(url, token, cameras, frames, per_camera)))
    except Exception as err:  # noqa: BLE001 - reported to the parent
        out.put({"error": repr(err)})



async def _bench(url: str, cameras: int, per_camera: int, batch: int, wait_ms: float, threads: int,
                 device: str, precision: str, frames: list[bytes], truths: list[str | None]) -> dict[str, Any]:
    from aiohttp import web

    from lapi.api.app import BATCHER, create_app
    from lapi.cameras import Camera
    from lapi.config import load_settings
    from lapi.reading.pipeline import PlateReader, decode_image
    from lapi.store.db import Store
    from lapi.store.tokens import TokenStore

    settings = load_settings(Path(__file__).resolve().parents[1] / "configs" / "lapi.toml", env={})
    reader = PlateReader.from_settings(dataclasses.replace(settings, device=device, precision=precision))
    reader.read_frames([decode_image(frames[0])])  # warm: first-call allocations are not the service's pace
    store = Store(url, max_size=8)
    await store.open()
    for c in range(cameras):
        await store.upsert_camera(Camera(f"bench-cam-{c}", f"bench camera {c}", 50.9, 1.9))
    token, _ = await TokenStore(store).create("bench-cameras", "camera", note="lapi bench pipeline")
    app = create_app(store, reader, reading_threads=threads, batch_max_frames=batch, batch_max_wait_ms=wait_ms)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_camera_process, daemon=True,
                       args=(f"http://127.0.0.1:{port}", token, cameras, frames, per_camera, out))
    cpu0 = time.process_time()
    proc.start()
    try:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, out.get)
        cpu = time.process_time() - cpu0
        await loop.run_in_executor(None, proc.join)
        batcher = app[BATCHER]
        batches, batched_frames = batcher.batches, batcher.frames
    finally:
        await runner.cleanup()
        await store.close()
    if "error" in result:
        raise RuntimeError(f"simulated cameras failed: {result['error']}")
    lat = [1000 * x for x in result["latencies"]]
    known = [(truths[i], plates) for i, plates in result["answers"] if truths[i]]
    return {
        "cameras": cameras, "frames_per_camera": per_camera, "frames": len(lat), "failures": len(result["failures"]),
        "first_failure": result["failures"][0] if result["failures"] else None,
        "batch_max_frames": batch, "batch_max_wait_ms": wait_ms, "reading_threads": threads, "device": device,
        "precision": reader.recognizer.precision,
        "frames_per_s": round(len(lat) / result["seconds"], 2) if lat else 0.0,
        "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "latency_ms_p99": round(percentile(lat, 0.99), 1) if lat else None,
        "mean_batch": round(batched_frames / batches, 2) if batches else None,
        "plate_found": round(sum(t in p for t, p in known) / len(known), 3) if known else None,
        "service_cpu_s_per_frame": round(cpu / len(lat), 3) if lat else None,
    }


def run_pipeline_bench(cameras: int = 4, per_camera: int = 10, batch: int = 8, wait_ms: float = 2.0, threads: int = 1,
                       device: str = "cpu", manifest: Path | None = DEFAULT_MANIFEST,
                       database_url: str | None = None, precision: str = "fp32") -> dict[str, Any]:
    """Run the bench on a scratch database; returns the figures."""
    from lapi.store.scratch import scratch_database

    if cameras < 1 or per_camera < 1 or batch < 1 or wait_ms < 0 or threads < 1:
        raise ValueError("cameras, frames per camera, batch and threads must be >= 1; wait must be >= 0")
    if precision not in (*PRECISIONS, "auto"):
        raise ValueError(f"precision: one of {', '.join(PRECISIONS)} or auto")
    frames, truths, origin = load_frames(manifest, min(cameras * per_camera, 200))
    with scratch_database(database_url) as url:
        result = asyncio.run(_bench(url, cameras, per_camera, batch, wait_ms, threads, device, precision, frames,
                                    truths))
    return {"frames_from": origin, **result}


def format_report(r: dict[str, Any]) -> str:
    return (f"{r['frames']} frames from {r['cameras']} cameras ({r['frames_from']}), {r['failures']} failed; "
            f"batches of <= {r['batch_max_frames']} frames / {r['batch_max_wait_ms']:g} ms, "
            f"{r['reading_threads']} reading thread(s), {r['device']}, recogniser in {r['precision']}\n"
            f"{r['frames_per_s']} frames/s; frame -> reads stored: p50 {r['latency_ms_p50']} ms, "
            f"p99 {r['latency_ms_p99']} ms; mean batch {r['mean_batch']} frames; "
            f"plate found on {r['plate_found']} of frames with a known plate; "
            f"service CPU {r['service_cpu_s_per_frame']} s/frame")
