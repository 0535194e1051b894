"""``lapi bench passes``: pass-level against frame-level reading on a rendered roadside video.

The video (:mod:`lapi.synth_video`: vehicles with known plates, some frames blurred or the plate
partly hidden) is written to a temporary Motion-JPEG file and read as a camera's video source
through the real pipeline: detector and recogniser, tracker, consensus, store (a scratch
database), watchlist with every plate of the video on it.  Figures:

* frame-level accuracy: of the plates visible in the frames, how many that frame alone read
  exactly right, and how many reads were wrong (what single-frame reading would store and alert);
* pass-level accuracy: vehicles with exactly one pass whose voted plate is right;
* alerts: those committed to the outbox (one per watched vehicle expected; duplicates must be 0),
  against what matching every frame read would have raised.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lapi.synth_video import DEFAULT_VEHICLES, FrameTruth, Vehicle

BENCH_CAMERA = "bench-cam"
VIDEO_FPS = 10.0


@dataclass(frozen=True)
class PassScore:
    frames: int
    plates_visible: int          # (frame, vehicle) pairs
    frame_reads_right: int       # of those, read exactly right by that frame alone
    frame_reads_wrong: int       # reads that are no plate visible in their frame (misread, partial)
    frame_accuracy: float
    vehicles: int
    passes: int
    passes_right: int            # vehicles with exactly one pass, voted right
    pass_accuracy: float
    alerts: int                  # outbox rows committed (hits and revisions)
    duplicate_alerts: int        # beyond one per watched vehicle
    frame_level_alerts: int      # what matching each frame read alone would have raised

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(truths: Sequence[FrameTruth], vehicles: Sequence[Vehicle], first_frame_at: datetime,
          reads: Sequence[dict[str, Any]], passes: Sequence[dict[str, Any]], alerts: Sequence[dict[str, Any]],
          would_alert: Callable[[str], bool], fps: float = VIDEO_FPS) -> PassScore:
    """Compare what was stored with the video's ground truth.  ``reads``: rows with ``read_at`` and
    ``plate_norm``; ``passes``: rows with ``plate_norm``; ``alerts``: outbox rows (any shape)."""
    by_frame: dict[int, list[str]] = {}
    for r in reads:
        index = round((r["read_at"] - first_frame_at).total_seconds() * fps)
        by_frame.setdefault(index, []).append(r["plate_norm"])
    visible = right = wrong = 0
    for truth in truths:
        shown = [p for p, _, _ in truth.plates]
        got = by_frame.get(truth.index, [])
        visible += len(shown)
        right += sum(1 for p in shown if p in got)
        wrong += sum(1 for g in got if g not in shown)
    plates = Counter(p["plate_norm"] for p in passes)
    passes_right = sum(1 for v in vehicles if plates[v.plate_norm] == 1)
    watched = sum(1 for v in vehicles if would_alert(v.plate_norm))
    return PassScore(
        frames=len(truths), plates_visible=visible, frame_reads_right=right, frame_reads_wrong=wrong,
        frame_accuracy=round(right / visible, 3) if visible else 0.0, vehicles=len(vehicles), passes=len(passes),
        passes_right=passes_right, pass_accuracy=round(passes_right / len(vehicles), 3) if vehicles else 0.0,
        alerts=len(alerts), duplicate_alerts=max(0, len(alerts) - watched),
        frame_level_alerts=sum(1 for r in reads if would_alert(r["plate_norm"])))


async def stored_outcome(store: Any, camera_id: str) -> tuple[list[dict], list[dict], list[dict]]:
    """The camera's frame reads, passes and outbox alerts, oldest first."""
    from psycopg.rows import dict_row

    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT id, read_at, plate_norm, pass_id FROM plate_reads WHERE camera_id = %s"
                          " ORDER BY read_at, id", (camera_id,))
        reads = await cur.fetchall()
        await cur.execute("SELECT * FROM passes WHERE camera_id = %s ORDER BY id", (camera_id,))
        passes = await cur.fetchall()
        await cur.execute("SELECT id, hit_id, revises_hit_id, payload FROM alert_outbox WHERE camera_id = %s"
                          " ORDER BY id", (camera_id,))
        alerts = await cur.fetchall()
    return reads, passes, alerts


async def _bench(url: str, video: Path, truths: list[FrameTruth], vehicles: Sequence[Vehicle]) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from lapi.cameras import Camera
    from lapi.config import load_settings
    from lapi.passes import PassRecorder
    from lapi.reading.pipeline import PlateReader
    from lapi.store.db import Store
    from lapi.video import VideoSources
    from lapi.video_config import StreamSettings, TrackingSettings

    settings = load_settings(env={})
    reader = PlateReader.from_settings(settings)
    store = Store(url, max_size=2)
    await store.open()
    executor = ThreadPoolExecutor(1)
    try:
        await store.upsert_camera(Camera(id=BENCH_CAMERA, name="bench", heading=90.0))
        for v in vehicles:
            await store.add_watch_entry(v.plate, category="bench")
        tracking = TrackingSettings(enabled=True, idle_s=1.0)
        recorder = PassRecorder(store, tracking)
        sources = VideoSources([StreamSettings(BENCH_CAMERA, str(video), sample_fps=VIDEO_FPS)], store, reader,
                               recorder, executor)
        t0 = time.perf_counter()
        sources.start()
        source = sources.get(BENCH_CAMERA)
        await asyncio.wait_for(source.finished.wait(), 600)
        elapsed = time.perf_counter() - t0
        await sources.stop()
        reads, passes, alerts = await stored_outcome(store, BENCH_CAMERA)
        health = source.health
        result = score(truths, vehicles, health.first_frame_at, reads, passes, alerts,
                       lambda p: bool(store.watchlists.match(p, health.first_frame_at))).as_dict()
        result.update({"seconds": round(elapsed, 2), "ms_per_frame": round(1000 * elapsed / max(1, len(truths)), 1),
                       "pass_plates": [p["plate_text"] for p in passes],
                       "pass_confidences": [p["confidence"] for p in passes],
                       "alert_states": [a["payload"].get("state") for a in alerts]})
        return result
    finally:
        executor.shutdown(wait=True)
        await store.close()


def run_pass_bench(database_url: str | None = None, seed: int = 5) -> dict[str, Any]:
    """Render the video, read it as a camera's source into a scratch database, score it."""
    from lapi.store.scratch import scratch_database
    from lapi.synth_video import render_frames, write_video

    frames, truths = render_frames(DEFAULT_VEHICLES, seed=seed)
    with tempfile.TemporaryDirectory(prefix="lapi-bench-video-") as tmp:
        video = write_video(Path(tmp) / "roadside.avi", frames, fps=VIDEO_FPS)
        with scratch_database(database_url) as url:
            result = asyncio.run(_bench(url, video, truths, DEFAULT_VEHICLES))
    result["video"] = f"{len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} at {VIDEO_FPS:g} fps, seed {seed}"
    return result


def format_report(r: dict[str, Any]) -> str:
    return (f"video: {r['video']}, {r['vehicles']} vehicles\n"
            f"frame level: {r['frame_reads_right']} of {r['plates_visible']} visible plates read right "
            f"({r['frame_accuracy']:.1%}), {r['frame_reads_wrong']} wrong reads; matching each read would raise "
            f"{r['frame_level_alerts']} alerts\n"
            f"pass level: {r['passes']} passes, {r['passes_right']} of {r['vehicles']} vehicles with exactly one "
            f"right pass ({r['pass_accuracy']:.1%}): {', '.join(r['pass_plates'])}\n"
            f"alerts: {r['alerts']} ({', '.join(s or '?' for s in r['alert_states'])}), duplicates "
            f"{r['duplicate_alerts']}\n"
            f"time: {r['seconds']} s, {r['ms_per_frame']} ms a frame (detector + recogniser + tracking + store)")
