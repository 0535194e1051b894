"""Tracked cameras: frame reads -> tracks -> vehicle passes, each stored, matched and alerted once.

For a camera with tracking on, every frame's reads go through the camera's
:class:`~lapi.tracking.PlateTracker`; each track is a pass whose plate is the running
:func:`~lapi.consensus.consensus` of its reads.  The frame reads are stored for audit under their
pass (never matched one by one); the pass is matched as soon as its consensus is confident
(``hit_confidence`` over ``hit_min_frames`` reads), again whenever a confident consensus changes,
and once more with the final consensus when the track closes.  Frames of one camera are handled
one at a time, in arrival order; the tracker takes a frame that arrives out of order as if taken
at the latest time it has seen.

Tracks close on frame time (no read for ``idle_s``) and, for a camera that stops sending
altogether, on the wall clock: :meth:`PassRecorder.sweep` closes the passes of cameras silent for
``idle_s`` (a camera fed by a video source that is up is never "silent": its reader may just be
slower than ``idle_s`` a frame).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lapi.consensus import Consensus, Observation, consensus, observe
from lapi.store.passes import PassRecord, PassStore, PassWrite
from lapi.tracking import PlateTracker, Track, TrackerConfig
from lapi.video_config import TrackingSettings

if TYPE_CHECKING:
    from lapi.reading.pipeline import PlateRead
    from lapi.store.db import Store

log = logging.getLogger(__name__)


def needs_match(record: PassRecord, c: Consensus, closing: bool, settings: TrackingSettings) -> bool:
    """Whether a pass's consensus is to be (re)matched now: when it differs from what its hits
    were matched for, and it is confident enough, or the pass is closing (its final word)."""
    if c.plate_norm == record.matched_norm:
        return False
    return closing or (c.confidence >= settings.hit_confidence and c.frames >= settings.hit_min_frames)


@dataclass
class _Pass:
    track: Track
    observations: list[Observation] = field(default_factory=list)
    record: PassRecord = field(default_factory=PassRecord)
    consensus: Consensus | None = None


@dataclass
class CameraPasses:
    """One tracked camera's tracker and open passes."""

    camera_id: str
    tracker: PlateTracker
    passes: dict[int, _Pass] = field(default_factory=dict)  # track id -> pass
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_arrival: float = 0.0  # wall clock (monotonic) of its latest frame
    ready: bool = False        # passes left open by an earlier run closed


@dataclass(frozen=True)
class PassFrameResult:
    read_ids: list[int]               # the frame's stored reads, in read order
    pass_ids: list[int]               # each read's pass
    alerts: list[dict[str, Any]]      # committed by this frame: new pass hits and revisions
    passes: list[dict[str, Any]]      # running consensus of each pass the frame touched or closed


class PassRecorder:
    """The tracked cameras of one service."""

    def __init__(self, store: Store, settings: TrackingSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.settings = settings or TrackingSettings()
        self.pass_store = PassStore(store)
        self.cameras: dict[str, CameraPasses] = {}
        self.clock = clock
        self.feeders: dict[str, Callable[[], bool]] = {}  # camera id -> "its video source is up"
        self._sweeper: asyncio.Task | None = None

    def tracks(self, camera_id: str) -> bool:
        return self.settings.enabled_for(camera_id)

    def _camera(self, camera_id: str) -> CameraPasses:
        cam = self.cameras.get(camera_id)
        if cam is None:
            cam = CameraPasses(camera_id, PlateTracker(TrackerConfig(idle_s=self.settings.idle_s)))
            self.cameras[camera_id] = cam
        return cam

    async def submit(self, camera_id: str, read_at: datetime, reads: list[PlateRead],
                     position: tuple[float | None, float | None, float | None] = (None, None, None),
                     key: str | None = None) -> PassFrameResult:
        """Track, store, match and alert one frame of a tracked camera (``key``: the camera's frame key,
        committed with the frame's reads so a retry after a lost answer stores nothing twice)."""
        camera = await self.store.get_camera(camera_id)
        cam = self._camera(camera_id)
        async with cam.lock:
            if not cam.ready:
                closed = await self.pass_store.close_stale(camera_id)
                if closed:
                    log.info("camera %s: closed %d passes left open by an earlier run", camera_id, closed)
                cam.ready = True
            cam.last_arrival = self.clock()
            update = cam.tracker.update(read_at.timestamp(), reads)
            t = cam.tracker.now if cam.tracker.now is not None else read_at.timestamp()
            writes, ended = self._closing(cam, update.closed)
            touched: dict[int, tuple[_Pass, list[Observation]]] = {}
            for read, track in zip(reads, update.assigned):
                p = cam.passes.get(track.id) or _Pass(track)
                _, obs = touched.get(track.id, (p, list(p.observations)))
                obs.append(observe(t, read))
                touched[track.id] = (p, obs)
            fresh: list[tuple[_Pass, list[Observation], Consensus]] = []
            for p, obs in touched.values():
                c = consensus(obs, camera.heading)
                p.track.label = c.plate_norm
                fresh.append((p, obs, c))
                writes.append(PassWrite(p.record, c, close=False, match=needs_match(p.record, c, False, self.settings)))
            if not writes:  # an empty road: nothing to store
                return PassFrameResult([], [], [], [])
            owners = [touched[track.id][0].record for track in update.assigned]
            stored = await self.pass_store.write_frame(camera, read_at, list(reads), owners, writes, position, key)
            for p, obs, c in fresh:
                p.observations, p.consensus = obs, c
                cam.passes[p.track.id] = p
            for track_id in ended:
                cam.passes.pop(track_id, None)
        return PassFrameResult(stored.read_ids, stored.pass_ids, stored.alerts,
                               [{"pass_id": w.record.pass_id, "status": "closed" if w.close else "open",
                                 **w.consensus.as_dict()} for w in writes])

    def _closing(self, cam: CameraPasses, tracks: list[Track]) -> tuple[list[PassWrite], list[int]]:
        writes, ended = [], []
        for track in tracks:
            p = cam.passes.get(track.id)
            ended.append(track.id)
            if p is None or p.consensus is None:
                continue  # never stored (its only frame failed to commit)
            writes.append(PassWrite(p.record, p.consensus, close=True,
                                    match=needs_match(p.record, p.consensus, True, self.settings)))
        return writes, ended

    async def close_camera(self, camera_id: str, only_if_idle: bool = False) -> list[dict[str, Any]]:
        """Close every open pass of a camera (its source ended, it went quiet, or shutdown);
        returns the alerts this raised (final consensus matched)."""
        cam = self.cameras.get(camera_id)
        if cam is None or not cam.passes:
            return []
        async with cam.lock:
            if only_if_idle and self.clock() - cam.last_arrival <= self.settings.idle_s:
                return []
            writes, ended = self._closing(cam, cam.tracker.flush())
            if not writes:
                return []
            camera = await self.store.get_camera(camera_id)
            stored = await self.pass_store.write_frame(camera, datetime.now().astimezone(), [], [], writes)
            for track_id in ended:
                cam.passes.pop(track_id, None)
            return stored.alerts

    def fed_by(self, camera_id: str, is_up: Callable[[], bool]) -> None:
        """The camera's frames come from a video source: while ``is_up()``, a wall-clock silence is
        the reader being slow, not the road being empty, and the sweep leaves its passes alone
        (they close by frame time, at the end of a file, or once the stream is lost)."""
        self.feeders[camera_id] = is_up

    async def sweep(self) -> None:
        """Close the passes of cameras that have sent nothing for ``idle_s`` (wall clock)."""
        for camera_id in list(self.cameras):
            feeder = self.feeders.get(camera_id)
            if feeder is not None and feeder():
                continue
            try:
                await self.close_camera(camera_id, only_if_idle=True)
            except Exception:  # noqa: BLE001 - retried at the next sweep
                log.exception("closing idle passes of camera %s", camera_id)

    async def start(self) -> None:
        async def run() -> None:
            while True:
                await asyncio.sleep(self.settings.sweep_interval_s)
                await self.sweep()

        self._sweeper = asyncio.create_task(run(), name="lapi-pass-sweeper")

    async def stop(self) -> None:
        """Stop sweeping and close every open pass (their tracks end with the process)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for camera_id in list(self.cameras):
            try:
                await self.close_camera(camera_id)
            except Exception:  # noqa: BLE001 - left open: closed by the next run's close_stale
                log.exception("closing passes of camera %s at shutdown", camera_id)
