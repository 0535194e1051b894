"""De-skew a plate crop before recognition.

Cameras at the roadside see plates rolled by a few degrees (camera mount, road camber, a car
turning) and sheared by yaw.  The recogniser reads a line of text left to right; a plate rolled by
8 degrees spreads each character over several rows of its features and costs accuracy.

The roll is found the way a document scanner finds it: among candidate angles, the one whose
rotated image has the sharpest row profile (characters' tops and bottoms line up, so row sums of
the edge map vary most) is the plate's baseline.  The slant left once the text is level (yaw, or an
italic face) is found the same way along the other axis: the shear whose column profile of the
strokes' edges is sharpest.  Pure image code on a small grey copy, no model.
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
    small = _work_copy(crop)
    if small is None:
        return 0.0
    edges = _edge_map(small)
    sh, sw = edges.shape
    centre = (sw / 2, sh / 2)
    scores = []
    for angle in _ANGLES:
        m = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
        rotated = cv2.warpAffine(edges, m, (sw, sh), flags=cv2.INTER_LINEAR, borderValue=0)
        scores.append(float(np.var(rotated.sum(axis=1))))
    return _sharpest(_ANGLES, np.asarray(scores))


def _work_copy(crop: np.ndarray) -> np.ndarray | None:
    """A grey copy ``_WORK_HEIGHT`` rows tall for the angle and shear searches; None when too small to judge."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape[:2]
    if h < 8 or w < 16:
        return None
    scale = _WORK_HEIGHT / h
    return cv2.resize(grey, (max(16, int(w * scale)), _WORK_HEIGHT), interpolation=cv2.INTER_AREA)


def _sharpest(candidates: np.ndarray, scores: np.ndarray, least: float = 0.0) -> float:
    """The candidate of the highest score, or 0 (the middle candidate) when that is no clear win.

    A flat profile (no clear text lines or strokes) gives no evidence: the crop stays as it is
    unless the best beats "do nothing" by 15 %; corrections smaller than ``least`` are not made.
    """
    best = int(scores.argmax())
    if scores[best] <= 1.15 * scores[len(candidates) // 2] or scores[best] < 1e-6 or abs(candidates[best]) < least:
        return 0.0
    return float(candidates[best])


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
    # ... unless a band holds the crop's middle row: the detector centres its box on the plate, and
    # a dealer's name or a sign below it can carry more edges than the registration
    middle = [r for r in runs if r[0] <= h // 2 < r[1]]
    if middle:
        top, bottom = middle[0]
    height = bottom - top
    margin = int(round(height * pad))
    # a second text line of similar height close by (two-line plates) belongs to the text too, in a
    # crop squarish enough to hold a two-line plate; in a wide one it is lettering on the car
    block_top, block_bottom = top, bottom
    for r_top, r_bottom in runs if crop.shape[1] / h < TWO_LINE_MAX_ASPECT else []:
        gap = r_top - block_bottom if r_top >= block_bottom else block_top - r_bottom
        if 0 <= gap <= 0.6 * height and r_bottom - r_top >= 0.5 * height:
            block_top, block_bottom = min(block_top, r_top), max(block_bottom, r_bottom)
    # ... and only when the two lines together are still shaped like a two-line plate, which the
    # recogniser reads line by line (split_two_lines): a wider block would be read as one line of
    # two rows of text squeezed together (a plate and the dealer's lettering under it)
    block_top, block_bottom = max(0, block_top - margin), min(h, block_bottom + margin)
    if crop.shape[1] / max(1, block_bottom - block_top) < TWO_LINE_MAX_ASPECT:
        return block_top, block_bottom
    return max(0, top - margin), min(h, bottom + margin)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True values."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


_SHEARS = np.arange(-0.6, 0.625, 0.05)  # x shift per row of height: +-31 degrees of slant
MIN_SHEAR = 0.1  # a slant under ~6 degrees is left alone: the network reads it, and resampling blurs


def shear_correction(band: np.ndarray) -> float:
    """Horizontal shift per row (x' = x + s * (y - centre)) that stands the text's strokes upright; 0 when unsure.

    Once the text line is level, a plate seen from the side (yaw) or printed in an italic face (old
    black FNI plates) still has slanted strokes.  Upright strokes pile up in a few columns, so the
    shear whose column profile of horizontal gradients varies most is the one that undoes the slant.
    """
    small = _work_copy(band)
    if small is None:
        return 0.0
    strokes = np.abs(cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3))
    # the variance of the column sums over the crop's own width: shearing widens the image by empty
    # columns, and a variance over those would grow with the shear alone
    width = strokes.shape[1]
    columns = [_sheared(strokes, float(s), border=cv2.BORDER_CONSTANT).sum(axis=0) for s in _SHEARS]
    scores = np.asarray([float(np.square(c).sum() / width - (c.sum() / width) ** 2) for c in columns])
    return _sharpest(_SHEARS, scores, least=MIN_SHEAR)


def _shear_matrix(shear: float, height: int) -> tuple[np.ndarray, int]:
    """The affine map (2x3, pixel-index coordinates) of :func:`_sheared` and the columns it adds."""
    extra = int(np.ceil(abs(shear) * height))
    return np.float64([[1.0, shear, extra / 2 - shear * height / 2], [0.0, 1.0, 0.0]]), extra


def _sheared(image: np.ndarray, shear: float, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """``image`` sheared about its middle row, widened so that no column is lost."""
    if shear == 0.0:
        return image
    h, w = image.shape[:2]
    m, extra = _shear_matrix(shear, h)
    return cv2.warpAffine(image, m, (w + extra, h), flags=cv2.INTER_LINEAR, borderMode=border)


def level_and_tighten(crop: np.ndarray) -> np.ndarray:
    """De-skew, cut to the text rows when that removes a sizeable part of the crop, stand the strokes upright."""
    levelled = deskew(crop)
    top, bottom = _tight_rows(levelled)
    band = levelled[top:bottom]
    return _sheared(band, shear_correction(band))


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
    levelled = _rotated(crop, angle)
    top, bottom = _tight_rows(levelled)
    band = levelled[top:bottom]
    shear = shear_correction(band)
    upright = _sheared(band, shear)
    height, width = upright.shape[:2]
    rows = [(0, height)]
    cut = _line_cut(upright)
    if cut is not None:
        rows += [(0, cut[0]), (cut[1], height)]
    # upright pixel (index coordinates) -> band -> levelled (rows from ``top``) -> crop
    unshear = cv2.invertAffineTransform(_shear_matrix(shear, band.shape[0])[0])
    unshear[1, 2] += top
    back = cv2.invertAffineTransform(_rotation(crop, angle))
    to_crop = back[:, :2] @ unshear[:, :2], back[:, :2] @ unshear[:, 2] + back[:, 2]
    quads = []
    for r_top, r_bottom in rows:
        corners = np.array([[0, r_top], [width, r_top], [width, r_bottom], [0, r_bottom]], np.float64) - 0.5
        in_crop = corners @ to_crop[0].T + to_crop[1] + 0.5
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
