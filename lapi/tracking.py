"""Per-camera plate tracking: which read of a frame continues which vehicle of earlier frames.

A roadside camera sees one vehicle in many consecutive frames.  Each frame's plate boxes are
associated with the camera's open tracks by overlap with where each track is expected to be now
(constant-velocity prediction of its box), helped by how alike the plate texts are: two plates
side by side on a two-lane road then never swap tracks, and a plate missed in a blurred frame is
picked up again where its motion says it should be.  A track closes when no read joins it for
``idle_s`` seconds of *frame* time (frame timestamps, not the wall clock, so a replayed video or a
camera pushing stills late gives the same passes).

Pure: no I/O, no clock.  Deterministic: ties are broken by track and read order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from lapi.plates import edit_distance


class HasBox(Protocol):
    x: int
    y: int
    w: int
    h: int


class Trackable(Protocol):
    """What the tracker needs of a read: its box in the frame and its plate text."""

    @property
    def box(self) -> HasBox: ...

    @property
    def plate_norm(self) -> str: ...


T = TypeVar("T", bound=Trackable)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @classmethod
    def of(cls, b: HasBox) -> "Box":
        return cls(float(b.x), float(b.y), float(b.w), float(b.h))

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def iou(self, other: "Box") -> float:
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


def text_similarity(a: str, b: str) -> float:
    """1 - edit distance / longer length: 1.0 for equal texts, ~0.7 for a plate read with two
    characters hidden ("EH561" against "EH561ZR"), low for unrelated plates."""
    if not a or not b:
        return 0.0
    return 1.0 - edit_distance(a, b) / max(len(a), len(b))


def text_overlap(a: str, b: str) -> float:
    """Share of the shorter text's characters found in place in some window of the longer one:
    1.0 when one is a piece of the other ("4821" of "4821TX62")."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if not short:
        return 0.0
    best = max(sum(x == y for x, y in zip(short, long_[off:off + len(short)]))
               for off in range(len(long_) - len(short) + 1))
    return best / len(short)


@dataclass(frozen=True)
class TrackerConfig:
    idle_s: float = 2.0            # a track no read joined for this long (frame time) is closed
    min_iou: float = 0.05          # predicted and read box must overlap at least this much ...
    max_distance: float = 1.5      # ... or their centres be within this many plate widths
    min_text_similarity: float = 0.4  # a read far from the prediction still joins when its text is this alike
    text_weight: float = 0.5       # how much text similarity counts against overlap in the score
    smoothing: float = 0.5         # weight of the newest motion in the velocity estimate
    fragment_inside: float = 0.6   # a second read lying this much inside a track's expected box ...
    fragment_overlap: float = 0.75  # ... and reading a piece of its plate is a fragment of that plate,
    fragment_within: float = 0.85  # ... and so is one lying this much inside it, whatever it reads


@dataclass(eq=False)
class Track(Generic[T]):
    """One vehicle's plate followed through a camera's frames."""

    id: int
    observations: list[tuple[float, T]] = field(default_factory=list)  # (frame time, read) whole plates
    velocity: tuple[float, float] = (0.0, 0.0)  # centre, pixels per second
    growth: float = 0.0            # box height change, pixels per second (approaching plates grow)
    label: str = ""                # the caller's best idea of the plate (running consensus), for matching
    pieces: int = 0                # reads of part of the plate (occluded, or boxed in two): seen, not moved
    last_seen: float = 0.0         # frame time of its latest read, whole or piece

    def __post_init__(self) -> None:
        if self.observations:
            self.last_seen = max(self.last_seen, self.observations[-1][0])

    @property
    def first_seen(self) -> float:
        return self.observations[0][0]

    @property
    def last_box(self) -> Box:
        return Box.of(self.observations[-1][1].box)

    def predicted(self, t: float) -> Box:
        """Where the plate should be at time ``t`` at its current velocity and growth."""
        b = self.last_box
        dt = max(0.0, t - self.observations[-1][0])
        scale = max(0.5, min(2.0, 1.0 + self.growth * dt / b.h)) if b.h > 0 else 1.0
        cx, cy = b.centre
        cx, cy = cx + self.velocity[0] * dt, cy + self.velocity[1] * dt
        w, h = b.w * scale, b.h * scale
        return Box(cx - w / 2, cy - h / 2, w, h)

    def texts(self) -> set[str]:
        """What the plate was read as lately, and the caller's label: what a new read is compared with."""
        return ({read.plate_norm for _, read in self.observations[-3:]} | {self.label}) - {""}


@dataclass(frozen=True)
class TrackerUpdate(Generic[T]):
    assigned: list[Track[T]]       # the track each read of the frame joined (or started), in read order;
                                   # two reads share a track when one is a fragment of its plate
    started: list[Track[T]]        # tracks begun by this frame
    closed: list[Track[T]]         # tracks closed because they went idle before this frame


class PlateTracker(Generic[T]):
    """The open tracks of one camera; feed it the camera's frames in time order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track[T]] = []
        self.now: float | None = None
        self._next_id = 1

    def close_idle(self, now: float) -> list[Track[T]]:
        """Close and return the tracks idle for longer than ``idle_s`` at frame time ``now``."""
        closed = [tr for tr in self.tracks if now - tr.last_seen > self.config.idle_s]
        self.tracks = [tr for tr in self.tracks if tr not in closed]
        return closed

    def flush(self) -> list[Track[T]]:
        """Close every open track (the source stopped, or the service is shutting down)."""
        closed, self.tracks = self.tracks, []
        return closed

    def update(self, t: float, reads: Sequence[T]) -> TrackerUpdate[T]:
        """Associate a frame's reads, taken at ``t`` (seconds), with the open tracks.

        A frame older than the last one seen is taken as if at the last one's time: the store may
        receive stills out of order, and time must not run backwards inside a track.
        """
        if self.now is not None and t < self.now:
            t = self.now
        self.now = t
        closed = self.close_idle(t)
        cfg = self.config
        candidates: list[tuple[float, int, int]] = []  # (-score, track index, read index)
        expected = {track.id: track.predicted(t) for track in self.tracks}
        for ti, track in enumerate(self.tracks):
            pred = expected[track.id]
            for ri, read in enumerate(reads):
                box = Box.of(read.box)
                iou = pred.iou(box)
                (px, py), (rx, ry) = pred.centre, box.centre
                distance = math.hypot(px - rx, py - ry) / max(pred.w, box.w, 1.0)
                similarity = max((text_similarity(read.plate_norm, s) for s in track.texts()), default=0.0)
                near = iou >= cfg.min_iou or distance <= cfg.max_distance
                if not near or (iou < cfg.min_iou and similarity < cfg.min_text_similarity):
                    continue  # too far, or only loosely near with a text that does not fit
                score = iou + cfg.text_weight * similarity - 0.1 * distance
                candidates.append((-score, ti, ri))
        candidates.sort()
        assigned: list[Track[T] | None] = [None] * len(reads)
        used: set[int] = set()
        for _, ti, ri in candidates:
            if ti in used or assigned[ri] is not None:
                continue
            used.add(ti)
            assigned[ri] = self.tracks[ti]
            self._extend(self.tracks[ti], t, reads[ri])
        self._fragments(reads, assigned, expected)
        started = []
        for ri, read in enumerate(reads):
            if assigned[ri] is None:
                track: Track[T] = Track(self._next_id, [(t, read)])
                self._next_id += 1
                self.tracks.append(track)
                started.append(track)
                assigned[ri] = track
        return TrackerUpdate([a for a in assigned if a is not None], started, closed)

    def _fragments(self, reads: Sequence[T], assigned: list[Track[T] | None], expected: dict[int, Box]) -> None:
        """A detector sometimes boxes one plate twice ("4821" and "21TX62" of "4821 TX 62", or the
        two sides of a post in front of it): a leftover read lying inside the box expected of a
        track that already has a read in this frame, and reading a piece of that track's plate or
        lying almost wholly inside that box (two plates cannot overlap), belongs to it too: it is
        not a vehicle of its own.  It does not move the track."""
        cfg = self.config
        for ri, read in enumerate(reads):
            if assigned[ri] is not None:
                continue
            box = Box.of(read.box)
            area = box.w * box.h
            for track in self.tracks:
                if area <= 0 or track.id not in expected or not any(a is track for a in assigned):
                    continue  # only tracks that were open before this frame and got a read in it
                e = expected[track.id]
                ex = max(0.0, min(box.x + box.w, e.x + e.w) - max(box.x, e.x))
                ey = max(0.0, min(box.y + box.h, e.y + e.h) - max(box.y, e.y))
                piece = max((text_overlap(read.plate_norm, s) for s in track.texts()), default=0.0)
                inside = ex * ey / area
                if inside >= cfg.fragment_within or (inside >= cfg.fragment_inside and piece >= cfg.fragment_overlap):
                    assigned[ri] = track
                    track.pieces += 1
                    break

    def _is_piece(self, track: Track[T], read: T) -> bool:
        """A read of part of the track's plate: shorter than what the plate reads as, and in it."""
        texts = track.texts()
        longest = max((len(s) for s in texts), default=0)
        return len(read.plate_norm) < longest and \
            max((text_overlap(read.plate_norm, s) for s in texts), default=0.0) >= self.config.fragment_overlap

    def _extend(self, track: Track[T], t: float, read: T) -> None:
        """Add a read to the track; a piece of the plate (its box is a piece too) does not move it."""
        track.last_seen = max(track.last_seen, t)
        if self._is_piece(track, read):
            track.pieces += 1
            return
        before, b0 = track.observations[-1][0], track.last_box
        dt = t - before
        track.observations.append((t, read))
        if dt <= 0:
            return
        b1 = Box.of(read.box)
        (x0, y0), (x1, y1) = b0.centre, b1.centre
        vx, vy, g = (x1 - x0) / dt, (y1 - y0) / dt, (b1.h - b0.h) / dt
        a = 1.0 if len(track.observations) == 2 else self.config.smoothing
        track.velocity = (a * vx + (1 - a) * track.velocity[0], a * vy + (1 - a) * track.velocity[1])
        track.growth = a * g + (1 - a) * track.growth
