"""A short roadside video rendered by project code: vehicles with known plates drive through a
background frame, some frames motion-blurred or with the plate partly hidden.

Why: tracking and consensus are judged on what a camera really produces (many frames of each
vehicle, a few of them bad), and the ground truth of every frame must be known.  The same scenario
serves the tests and ``lapi bench passes``; it is deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lapi import grammars
from lapi.synth_ocr import render_flat_plate

FIXTURE_BACKGROUND = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "frame_GV073KP.jpg"
FIXTURE_PLATE_BOX = (185, 298, 270, 80)  # x, y, w, h of the fixture's own plate, painted out


@dataclass(frozen=True)
class Vehicle:
    """One vehicle's drive through the picture: plate, frames it is seen in, path and size."""

    plate: str                      # as printed, e.g. "EH-561-ZR"
    country: str
    first_frame: int
    frames: int
    start: tuple[float, float]      # plate centre at its first frame (fraction of width, height)
    end: tuple[float, float]        # ... and at its last
    width: tuple[float, float]      # plate width in pixels at first and last frame
    body: tuple[int, int, int]      # BGR of the car body

    @property
    def plate_norm(self) -> str:
        return "".join(ch for ch in self.plate.upper() if ch.isalnum())

    def visible(self, frame: int) -> bool:
        return self.first_frame <= frame < self.first_frame + self.frames


@dataclass(frozen=True)
class FrameTruth:
    """What frame ``index`` shows: the plates visible, each with its box and what spoils it."""

    index: int
    plates: tuple[tuple[str, tuple[int, int, int, int], str], ...]  # (plate_norm, box x,y,w,h, "clear"|"blur"|"occluded")


# Three vehicles, the last two in the picture together (two lanes); all approach the camera.
DEFAULT_VEHICLES = (
    Vehicle("EH-561-ZR", "FR", 0, 11, (0.30, 0.42), (0.40, 0.80), (120, 190), (40, 40, 150)),
    Vehicle("BD-808-QS", "FR", 13, 12, (0.28, 0.40), (0.36, 0.82), (115, 195), (150, 120, 40)),
    Vehicle("4821 TX 62", "FR", 17, 12, (0.70, 0.42), (0.66, 0.80), (110, 180), (60, 60, 60)),
)


def background(size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """The fixture frame with its parked plate painted out, scaled to ``size`` (width, height)."""
    frame = cv2.imread(str(FIXTURE_BACKGROUND), cv2.IMREAD_COLOR)
    if frame is None:
        raise FileNotFoundError(f"background frame missing: {FIXTURE_BACKGROUND}")
    mask = np.zeros(frame.shape[:2], np.uint8)
    x, y, w, h = FIXTURE_PLATE_BOX
    mask[y:y + h, x:x + w] = 255
    frame = cv2.inpaint(frame, mask, 5, cv2.INPAINT_TELEA)
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _plate_image(vehicle: Vehicle, seed: int) -> tuple[np.ndarray, np.ndarray]:
    norm = vehicle.plate_norm
    fmt = next(iter(grammars.matching_formats(norm, [vehicle.country])), None)
    groups = fmt.groups if fmt else (len(norm),)
    separator = fmt.separator if fmt else ""
    style = "fr_fni_black" if fmt is not None and fmt.name == "FNI" else None
    return render_flat_plate(norm, vehicle.country, groups, separator, random.Random(f"{seed}:{norm}"),
                             style=style, ppm=1.0)


def _motion_blur(img: np.ndarray, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return cv2.filter2D(img, -1, kernel)


def render_frames(vehicles: tuple[Vehicle, ...] = DEFAULT_VEHICLES, size: tuple[int, int] = (640, 360),
                  seed: int = 5, blur_every: int = 4, occlude_every: int = 5) -> tuple[list[np.ndarray], list[FrameTruth]]:
    """Every frame of the scenario and its ground truth.

    A vehicle's ``k``-th frame is motion-blurred when ``k % blur_every == 2`` and has a post
    hiding part of its plate when ``k % occlude_every == 3``: a few bad frames per pass, never two
    in a row, as a real camera sees them.
    """
    rng = random.Random(seed)
    base = background(size)
    plates = {v.plate_norm: _plate_image(v, seed) for v in vehicles}
    n_frames = max(v.first_frame + v.frames for v in vehicles) + 3
    frames, truths = [], []
    width, height = size
    for i in range(n_frames):
        frame = base.astype(np.float32)
        visible = []
        for v in vehicles:
            if not v.visible(i):
                continue
            k = i - v.first_frame
            f = k / max(1, v.frames - 1)
            cx = (v.start[0] + (v.end[0] - v.start[0]) * f) * width
            cy = (v.start[1] + (v.end[1] - v.start[1]) * f) * height
            pw = v.width[0] + (v.width[1] - v.width[0]) * f
            img, alpha = plates[v.plate_norm]
            ph = pw * img.shape[0] / img.shape[1]
            # the car: a body around the plate, a darker windscreen above it
            bw, bh = pw * 2.4, pw * 1.5
            x0, y0 = int(cx - bw / 2), int(cy - bh * 0.75)
            cv2.rectangle(frame, (x0, y0), (int(x0 + bw), int(y0 + bh)), v.body, -1)
            cv2.rectangle(frame, (int(x0 + bw * 0.12), int(y0 + bh * 0.08)), (int(x0 + bw * 0.88), int(y0 + bh * 0.4)),
                          (35, 30, 28), -1)
            quad = np.array([[cx - pw / 2, cy - ph / 2], [cx + pw / 2, cy - ph / 2 + pw * 0.02],
                             [cx + pw / 2, cy + ph / 2 + pw * 0.02], [cx - pw / 2, cy + ph / 2]], np.float32)
            src = np.array([[0, 0], [img.shape[1], 0], [img.shape[1], img.shape[0]], [0, img.shape[0]]], np.float32)
            m = cv2.getPerspectiveTransform(src, quad)
            warped = cv2.warpPerspective(img, m, size, flags=cv2.INTER_AREA).astype(np.float32)
            a = cv2.warpPerspective(alpha, m, size, flags=cv2.INTER_AREA).astype(np.float32)[:, :, None] / 255.0
            layer = frame * (1 - a) + warped * a
            spoil = "clear"
            if k % blur_every == 2:
                spoil = "blur"
                bx0, by0 = max(0, x0 - 20), max(0, y0)
                bx1, by1 = min(width, int(x0 + bw) + 20), min(height, int(y0 + bh))
                layer[by0:by1, bx0:bx1] = _motion_blur(layer[by0:by1, bx0:bx1], 6 + rng.randint(0, 2))
            frame = layer
            if k % occlude_every == 3:
                spoil = "occluded"  # a lamp post in front of the plate
                px = int(cx - pw / 2 + pw * rng.uniform(0.45, 0.7))
                cv2.rectangle(frame, (px, 0), (px + int(pw * 0.09), height), (70, 75, 80), -1)
            box = (int(cx - pw / 2), int(cy - ph / 2), int(pw), int(ph + pw * 0.02))
            visible.append((v.plate_norm, box, spoil))
        noise = np.random.default_rng(seed * 1000 + i).normal(0, 3.0, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
        truths.append(FrameTruth(i, tuple(visible)))
    return frames, truths


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Frames to a Motion-JPEG AVI (an OpenCV codec available everywhere)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write video {path}")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path
