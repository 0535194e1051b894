"""Frames turned for a second look, and boxes found in them mapped back.

A plate photographed by hand is often rolled by 10-25 degrees; its axis-aligned box is then
squarish and the detector, which has seen mostly level plates, scores it below its threshold.
Turning the whole frame levels the plate, and the crop cut from the turned frame is level too.
Pure geometry on arrays, no model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from lapi.reading.detector import Detection, mostly_overlap

if TYPE_CHECKING:
    from lapi.reading.pipeline import PlateRead


def turn_frame(frame: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The frame turned by ``angle`` degrees (counter-clockwise, as OpenCV) on a canvas that holds
    all of it, and the 2x3 affine map from the turned image's pixels back to the frame's."""
    h, w = frame.shape[:2]
    forward = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    new_w, new_h = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    forward[0, 2] += new_w / 2 - w / 2
    forward[1, 2] += new_h / 2 - h / 2
    turned = cv2.warpAffine(frame, forward, (new_w, new_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return turned, cv2.invertAffineTransform(forward)


def map_box(box: Detection, back: np.ndarray, frame_shape: tuple[int, ...]) -> Detection:
    """The frame-pixel box enclosing ``box`` (found in a turned image) once turned back, clipped."""
    corners = np.array([[box.x, box.y], [box.x + box.w, box.y], [box.x + box.w, box.y + box.h], [box.x, box.y + box.h]],
                       np.float64)
    mapped = corners @ back[:, :2].T + back[:, 2]
    fh, fw = frame_shape[:2]
    x0, y0 = max(0, int(np.floor(mapped[:, 0].min()))), max(0, int(np.floor(mapped[:, 1].min())))
    x1, y1 = min(fw, int(np.ceil(mapped[:, 0].max()))), min(fh, int(np.ceil(mapped[:, 1].max())))
    return Detection(x0, y0, max(0, x1 - x0), max(0, y1 - y0), box.score)


def best_per_place(reads: Iterable[PlateRead], max_overlap: float = 0.5) -> list[PlateRead]:
    """One read per plate: the same plate is found at several angles; the most confident read wins."""
    kept: list[PlateRead] = []
    for read in sorted(reads, key=lambda r: -r.confidence):
        if not any(mostly_overlap(read.box, k.box, max_overlap) for k in kept):
            kept.append(read)
    return kept
