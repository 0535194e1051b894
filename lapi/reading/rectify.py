"""De-skew a plate crop before recognition.

Cameras at the roadside see plates rolled by a few degrees (camera mount, road camber, a car
turning) and sheared by yaw.  The recogniser reads a line of text left to right; a plate rolled by
8 degrees spreads each character over several rows of its features and costs accuracy.

The roll is found the way a document scanner finds it: among candidate angles, the one whose
rotated image has the sharpest row profile (characters' tops and bottoms line up, so row sums of
the edge map vary most) is the plate's baseline.  Pure image code on a small grey copy, no model.
"""

from __future__ import annotations

import cv2
import numpy as np

_WORK_HEIGHT = 48  # the angle search runs on a copy this tall: fast, and enough for a 1-degree step
_ANGLES = np.arange(-25.0, 25.5, 1.0)


def _edge_map(grey: np.ndarray) -> np.ndarray:
    """Vertical-gradient magnitude: character tops/bottoms and the plate border, not the glyph stems."""
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.abs(gy)


def correction_angle(crop: np.ndarray) -> float:
    """Degrees to rotate the crop (counter-clockwise positive, as OpenCV) to level its text; 0 when unsure."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape[:2]
    if h < 8 or w < 16:
        return 0.0
    scale = _WORK_HEIGHT / h
    small = cv2.resize(grey, (max(16, int(w * scale)), _WORK_HEIGHT), interpolation=cv2.INTER_AREA)
    edges = _edge_map(small)
    sh, sw = edges.shape
    centre = (sw / 2, sh / 2)
    scores = []
    for angle in _ANGLES:
        m = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
        rotated = cv2.warpAffine(edges, m, (sw, sh), flags=cv2.INTER_LINEAR, borderValue=0)
        scores.append(float(np.var(rotated.sum(axis=1))))
    scores_arr = np.asarray(scores)
    best = int(scores_arr.argmax())
    # a flat profile (no clear text lines) gives no evidence: keep the crop as it is
    if scores_arr[best] <= 1.15 * scores_arr[len(_ANGLES) // 2] or scores_arr[best] < 1e-6:
        return 0.0
    return float(_ANGLES[best])


def deskew(crop: np.ndarray) -> np.ndarray:
    """The crop rotated so that the plate's text lines are horizontal (same size, edges replicated)."""
    return _rotated(crop, correction_angle(crop))


def _rotation(crop: np.ndarray, angle: float) -> np.ndarray:
    h, w = crop.shape[:2]
    return cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)


def _rotated(crop: np.ndarray, angle: float) -> np.ndarray:
    """The crop turned by ``angle`` degrees about its centre (same size, edges replicated)."""
    if angle == 0.0:
        return crop
    h, w = crop.shape[:2]
    return cv2.warpAffine(crop, _rotation(crop, angle), (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _row_stroke_energy(crop: np.ndarray) -> np.ndarray:
    """Per row, the sum of horizontal-gradient magnitude: high across characters' vertical strokes."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)).sum(axis=1)


def text_rows(crop: np.ndarray, keep: float = 0.3, pad: float = 0.3) -> tuple[int, int]:
    """Rows [top, bottom) holding the plate's characters, with a margin.

    A detector's box (and a crop with margin) often leaves bumper, grille or road above and below
    the plate; once levelled, the characters are the band of rows with the most vertical edges
    (horizontal gradient).  Cutting to it lets the recogniser see the text at its full input height.
    """
    h = crop.shape[0]
    if h < 12:
        return 0, h
    energy = np.convolve(_row_stroke_energy(crop), np.ones(3) / 3, mode="same")
    peak = int(energy.argmax())
    if energy[peak] <= 0:
        return 0, h
    strong = energy >= keep * energy[peak]
    runs = _runs(strong)
    # the registration is the band with the most edge energy in total: tall characters beat the
    # thin but busy rows of a slogan, a state name or a dealer frame
    top, bottom = max(runs, key=lambda r: float(energy[r[0]:r[1]].sum()))
    height = bottom - top
    # a second text line of similar height close by (two-line plates) belongs to the text too
    for r_top, r_bottom in runs:
        gap = r_top - bottom if r_top >= bottom else top - r_bottom
        if 0 <= gap <= 0.6 * height and r_bottom - r_top >= 0.5 * height:
            top, bottom = min(top, r_top), max(bottom, r_bottom)
    margin = int(round(height * pad))
    return max(0, top - margin), min(h, bottom + margin)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True values."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def level_and_tighten(crop: np.ndarray) -> np.ndarray:
    """De-skew, then cut to the text rows when that removes a sizeable part of the crop."""
    levelled = deskew(crop)
    top, bottom = _tight_rows(levelled)
    return levelled[top:bottom]


def _tight_rows(levelled: np.ndarray) -> tuple[int, int]:
    top, bottom = text_rows(levelled)
    if bottom - top < 0.85 * levelled.shape[0] and bottom - top >= 8:
        return top, bottom
    return 0, levelled.shape[0]


def text_quads(crop: np.ndarray, origin: tuple[int, int]) -> list[np.ndarray]:
    """Where :func:`level_and_tighten` and :func:`split_two_lines` would cut, as quadrilaterals in
    frame pixels (``origin``: the crop's top-left in the frame), for sampling on the device.

    One quad for a one-line plate, three (whole, top line, bottom line) for a two-line one; corners
    clockwise from top-left in pixel-edge coordinates.
    """
    angle = correction_angle(crop)
    h, w = crop.shape[:2]
    levelled = _rotated(crop, angle)
    top, bottom = _tight_rows(levelled)
    bands = [(top, bottom)]
    cut = _line_cut(levelled[top:bottom])
    if cut is not None:
        bands += [(top, top + cut[0]), (top + cut[1], bottom)]
    # levelled pixel (index coordinates) -> crop: the inverse of the rotation about the centre
    back = cv2.invertAffineTransform(_rotation(crop, angle))
    quads = []
    for b_top, b_bottom in bands:
        corners = np.array([[0, b_top], [w, b_top], [w, b_bottom], [0, b_bottom]], np.float64) - 0.5
        in_crop = corners @ back[:, :2].T + back[:, 2] + 0.5
        quads.append(in_crop + np.asarray(origin, np.float64))
    return quads


TWO_LINE_MAX_ASPECT = 2.0  # text block narrower than this (width / height) may be two lines


def split_two_lines(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Top and bottom line of a square two-line plate (motorbikes), or None for a one-line crop.

    The cut is the row between the lines with the fewest vertical edges, searched in the middle
    third; each half keeps a few rows of overlap so that no glyph loses its top or bottom.
    """
    cut = _line_cut(crop)
    return None if cut is None else (crop[: cut[0]], crop[cut[1]:])


def _line_cut(crop: np.ndarray) -> tuple[int, int] | None:
    """(end of the top line, start of the bottom line) in rows, or None for a one-line crop."""
    h, w = crop.shape[:2]
    if h < 16 or w / h >= TWO_LINE_MAX_ASPECT:
        return None
    energy = _row_stroke_energy(crop)
    lo, hi = h // 3, max(h // 3 + 1, 2 * h // 3)
    cut = lo + int(energy[lo:hi].argmin())
    overlap = max(1, h // 20)
    return min(h, cut + overlap), max(0, cut - overlap)
