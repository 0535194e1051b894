"""Video sources: cameras that offer a stream (RTSP, HTTP MJPEG) or a video file instead of pushing stills.

Each source is read by OpenCV (FFmpeg) in its own thread, sampled at ``sample_fps``, and its
frames handed to the event loop, where they are read (in micro-batches with every other camera's
frames, lapi/reading/batcher.py) and go through the camera's pass tracker like pushed stills.  A live stream is never allowed to queue up: when the
reader is still busy with the previous frame, a newer sampled frame replaces the waiting one and
the replaced one counts as dropped, so the camera is always read at "now".  A file is read at the
pace of the reader instead, nothing dropped, and timed by its own clock (start + position).

A lost stream (or a file not there yet) is reopened with exponential back-off; the back-off
starts again once frames flow.  Per-camera health (state, fps in and processed, dropped frames,
reconnections, last error) is kept for ``GET /v1/cameras/{id}/health``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from lapi.video_config import StreamSettings

if TYPE_CHECKING:
    from lapi.passes import PassRecorder
    from lapi.reading.batcher import ReadBatcher
    from lapi.store.db import Store

log = logging.getLogger(__name__)

FPS_WINDOW_S = 10.0
OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000


def redact(source: str) -> str:
    """The source without its password (``rtsp://user:***@host/...``), for logs and health."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", source)


class FrameSampler:
    """Which frames to keep for ``fps`` frames a second of source time.

    Keeps a frame when its time reaches the next due time; due times advance by whole periods so a
    25 fps source sampled at 10 fps gives 10 frames a second, not 25/3; after a gap (a reconnect)
    the schedule restarts from the frame.
    """

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self.next_due: float | None = None

    def due(self, t: float) -> bool:
        if self.next_due is not None and t < self.next_due - 1e-6:
            return False
        if self.next_due is None or t - self.next_due >= self.period:
            self.next_due = t + self.period
        else:
            self.next_due += self.period
        return True


class SourceHealth:
    """Counters of one source, written by its thread and the event loop, read by the API."""

    def __init__(self, settings: StreamSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.state = "starting"  # connecting, streaming, reconnecting, finished, stopped
        self.frames_in = 0
        self.frames_sampled = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_frame_at: datetime | None = None
        self.first_frame_at: datetime | None = None  # capture time of the first frame processed
        self._in: deque[float] = deque()
        self._done: deque[float] = deque()
        self._lock = threading.Lock()

    def _mark(self, times: deque[float]) -> None:
        now = self.clock()
        times.append(now)
        while times and now - times[0] > FPS_WINDOW_S:
            times.popleft()

    def frame_in(self) -> None:
        with self._lock:
            self.frames_in += 1
            self._mark(self._in)

    def frame_processed(self, captured_at: datetime) -> None:
        with self._lock:
            self.frames_processed += 1
            self.last_frame_at = captured_at
            self.first_frame_at = self.first_frame_at or captured_at
            self._mark(self._done)

    def error(self, message: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = message

    @staticmethod
    def _fps(times: deque[float]) -> float:
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return round((len(times) - 1) / (times[-1] - times[0]), 2)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"source": redact(self.settings.source), "state": self.state,
                    "sample_fps": self.settings.sample_fps, "fps_in": self._fps(self._in),
                    "fps_processed": self._fps(self._done), "frames_in": self.frames_in,
                    "frames_sampled": self.frames_sampled, "frames_processed": self.frames_processed,
                    "frames_dropped": self.frames_dropped, "reconnects": self.reconnects, "errors": self.errors,
                    "last_error": self.last_error,
                    "first_frame_at": self.first_frame_at.isoformat() if self.first_frame_at else None,
                    "last_frame_at": self.last_frame_at.isoformat() if self.last_frame_at else None}


def open_capture(source: str) -> Any:
    """An opened ``cv2.VideoCapture`` (FFmpeg, bounded open/read waits), or None."""
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG,
                           [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS])
    if not cap.isOpened():
        cap.release()
        return None
    return cap


Process = Callable[[np.ndarray, datetime], Awaitable[None]]


class VideoSource:
    """One camera's stream or file, read in a thread and processed on the event loop."""

    def __init__(self, settings: StreamSettings, process: Process, on_end: Callable[[], Awaitable[Any]] | None = None,
                 opener: Callable[[str], Any] = open_capture) -> None:
        self.settings = settings
        self.process = process
        self.on_end = on_end
        self.opener = opener
        self.health = SourceHealth(settings)
        self._stop = threading.Event()
        self._slot_free = threading.Event()
        self._slot_free.set()
        self._lock = threading.Lock()
        self._slot: tuple[np.ndarray, datetime] | None = None
        self._ended = False
        self._ready: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._consumer: asyncio.Task | None = None
        self.finished = asyncio.Event()

    # event loop side ---------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._consumer = asyncio.create_task(self._consume(), name=f"lapi-video-{self.settings.camera_id}")
        self._thread = threading.Thread(target=self._capture, name=f"lapi-capture-{self.settings.camera_id}",
                                        daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, READ_TIMEOUT_MS / 1000 + 5)
        if self._consumer is not None and not self._consumer.done():
            self._consumer.cancel()
            await asyncio.gather(self._consumer, return_exceptions=True)
        if self.health.state != "finished":
            self.health.state = "stopped"

    async def _consume(self) -> None:
        assert self._ready is not None
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                with self._lock:
                    item, self._slot = self._slot, None
                    ended = self._ended
                if item is not None:
                    frame, captured_at = item
                    try:
                        await self.process(frame, captured_at)
                    except Exception as err:  # noqa: BLE001 - one bad frame must not stop the camera
                        log.exception("camera %s: processing a frame failed", self.settings.camera_id)
                        self.health.error(f"processing: {err}")
                    self.health.frame_processed(captured_at)
                    self._slot_free.set()
                    if ended:
                        self._ready.set()  # look again: the end was announced with this frame
                    continue
                if ended:
                    break
        finally:
            if self.on_end is not None and self._ended:
                try:
                    await self.on_end()
                except Exception:  # noqa: BLE001
                    log.exception("camera %s: closing its passes failed", self.settings.camera_id)
            self.finished.set()

    # capture thread ------------------------------------------------------------------------------
    def _notify(self) -> None:
        if self._loop is not None and self._ready is not None:
            self._loop.call_soon_threadsafe(self._ready.set)

    def _hand_over(self, frame: np.ndarray, captured_at: datetime) -> None:
        if self.settings.is_file:  # a file waits for the reader: nothing is dropped
            while not self._slot_free.wait(0.1):
                if self._stop.is_set():
                    return
            self._slot_free.clear()
        with self._lock:
            if self._slot is not None:
                self.health.frames_dropped += 1
            self._slot = (frame, captured_at)
        self._notify()

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _capture(self) -> None:
        s = self.settings
        delay = s.reconnect_min_s
        name = redact(s.source)
        while not self._stop.is_set():
            self.health.state = "connecting"
            cap = self.opener(s.source)
            if cap is None:
                self.health.error(f"cannot open {name}")
                self.health.state = "reconnecting"
                self._wait(delay)
                delay = min(delay * 2, s.reconnect_max_s)
                self.health.reconnects += 1
                continue
            self.health.state = "streaming"
            log.info("camera %s: reading %s", s.camera_id, name)
            sampler = FrameSampler(s.sample_fps)
            start_wall = datetime.now(timezone.utc)
            frames = 0
            try:
                while not self._stop.is_set():
                    ok, frame = cap.read()
                    if not ok or frame is None:
                        break
                    frames += 1
                    delay = s.reconnect_min_s  # frames flow again: the next loss backs off from the start
                    self.health.frame_in()
                    if s.is_file:
                        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                        captured_at = start_wall + timedelta(seconds=t)
                    else:
                        t = time.monotonic()
                        captured_at = datetime.now(timezone.utc)
                    if not sampler.due(t):
                        continue
                    self.health.frames_sampled += 1
                    self._hand_over(frame, captured_at)
            finally:
                cap.release()
            if self._stop.is_set():
                break
            if s.is_file and frames:
                self.health.state = "finished"
                log.info("camera %s: end of %s after %d frames", s.camera_id, name, frames)
                with self._lock:
                    self._ended = True
                self._notify()
                return
            self.health.error(f"stream lost: {name}" if frames else f"no frame from {name}")
            self.health.state = "reconnecting"
            log.warning("camera %s: %s lost, reconnecting in %.1f s", s.camera_id, name, delay)
            self._wait(delay)
            delay = min(delay * 2, s.reconnect_max_s)
            self.health.reconnects += 1


class VideoSources:
    """Every configured video source of the service, read into the store (through the passes)."""

    def __init__(self, streams: list[StreamSettings], store: Store, batcher: ReadBatcher, recorder: PassRecorder) -> None:
        self.store = store
        self.batcher = batcher  # video frames join the HTTP cameras' micro-batches
        self.recorder = recorder
        self.sources: dict[str, VideoSource] = {}
        for s in streams:
            source = VideoSource(s, self._processor(s.camera_id), self._ender(s.camera_id))
            self.sources[s.camera_id] = source
            recorder.fed_by(s.camera_id, lambda h=source.health: h.state in ("starting", "connecting", "streaming"))

    def get(self, camera_id: str) -> VideoSource | None:
        return self.sources.get(camera_id)

    def _processor(self, camera_id: str) -> Process:
        async def process(frame: np.ndarray, captured_at: datetime) -> None:
            # a fixed camera's stream is mostly frames without a plate: no turned second look
            reads = (await self.batcher.read(frame, second_look=False)).reads
            if self.recorder.tracks(camera_id):
                await self.recorder.submit(camera_id, captured_at, reads)
            elif reads:
                await self.store.store_reads(camera_id, captured_at, reads)
        return process

    def _ender(self, camera_id: str) -> Callable[[], Awaitable[Any]]:
        async def end() -> Any:
            return await self.recorder.close_camera(camera_id)
        return end

    def start(self) -> None:
        for source in self.sources.values():
            source.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.sources.values()))
