"""Photos changed the way another camera, day or upload would change them, the plate box moved along.

Why: a score on one dev set hides how close its reads are.  The same photos a little smaller or
larger, darker, softer, recompressed or framed tighter show whether a figure will hold on photos
never seen (issue 3 asks for that) without tuning to any of them.  ``lapi eval --perturb NAME``
reads every photo of a manifest changed so.  Pure image arithmetic: no files.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lapi.boxes import Box


@dataclass(frozen=True)
class Perturbation:
    """One change of a photo, applied in this order: border crop, scale, gain, blur, JPEG."""

    name: str
    what: str                     # one line said when it is used
    border_crop: float = 0.0      # share of the width and of the height taken off, half each side, never into the plate box
    scale: float = 1.0
    gain: float = 1.0             # pixel values multiplied (below 1: a darker exposure)
    blur_sigma: float = 0.0       # Gaussian blur, pixels (a softer lens or focus)
    jpeg_quality: int | None = None  # re-encoded at this quality (an upload or a camera's compression)


PERTURBATIONS: dict[str, Perturbation] = {p.name: p for p in (
    Perturbation("scale0.7", "30 % fewer pixels each way (a camera farther off or of lower resolution)", scale=0.7),
    Perturbation("scale1.3", "30 % more pixels each way (upscaled)", scale=1.3),
    Perturbation("jpeg50", "re-encoded as JPEG at quality 50", jpeg_quality=50),
    Perturbation("dark0.6", "exposure at 60 %", gain=0.6),
    Perturbation("crop8", "framed 8 % tighter (the plate kept whole)", border_crop=0.08),
    Perturbation("blur1", "Gaussian blur, sigma 1 pixel", blur_sigma=1.0),
)}


def perturb(image: np.ndarray, box: Box | None, p: Perturbation) -> tuple[np.ndarray, Box | None]:
    """``image`` changed by ``p`` and the plate ``box`` (None: no box) where the plate now is."""
    if p.border_crop > 0:
        image, box = _crop_border(image, box, p.border_crop)
    if p.scale != 1.0:
        interpolation = cv2.INTER_AREA if p.scale < 1 else cv2.INTER_CUBIC
        image = cv2.resize(image, None, fx=p.scale, fy=p.scale, interpolation=interpolation)
        if box is not None:
            box = (box[0] * p.scale, box[1] * p.scale, box[2] * p.scale, box[3] * p.scale)
    if p.gain != 1.0:
        image = np.clip(image.astype(np.float32) * p.gain, 0, 255).astype(np.uint8)
    if p.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), p.blur_sigma)
    if p.jpeg_quality is not None:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality])
        if not ok:
            raise ValueError(f"perturbation {p.name}: JPEG encoding failed")
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return image, box


def _crop_border(image: np.ndarray, box: Box | None, share: float) -> tuple[np.ndarray, Box | None]:
    """Take ``share`` of the width and height off, half each side, stopping at the plate box."""
    h, w = image.shape[:2]
    dx, dy = int(w * share / 2), int(h * share / 2)
    if box is not None:
        x, y, bw, bh = box
        dx = max(0, min(dx, int(x), int(w - x - bw)))
        dy = max(0, min(dy, int(y), int(h - y - bh)))
        box = (x - dx, y - dy, bw, bh)
    return image[dy:h - dy, dx:w - dx], box
