"""Trim the blue side bands of EU plates (country code, French department) before recognition.

The EU band's "F"/"D" and the French department number are printed on the plate but are not part of
the registration; left in the crop, the recogniser reads them as characters.  The bands are
saturated blue while the registration field is white or yellow, so a per-column colour test finds
them.  Pure image code, no model.
"""

from __future__ import annotations

import cv2
import numpy as np

_MAX_BAND_FRACTION = 0.2  # a band is never wider than ~1/5 of the plate


def blue_columns(crop: np.ndarray) -> np.ndarray:
    """Fraction of strongly blue pixels in each column of a BGR crop, over its middle rows.

    Only the middle half of the rows counts: a detector's crop has car body above and below the
    plate, and a blue car would otherwise make the columns of the last characters look like a band.
    """
    h = crop.shape[0]
    crop = crop[h // 4: max(h // 4 + 1, 3 * h // 4)]
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    blue = (h >= 95) & (h <= 130) & (s >= 90) & (v >= 40)
    return blue.mean(axis=0)


def _band_run(is_blue: np.ndarray, max_band: int, min_band: int, max_gap: int) -> int:
    """Width of the band at the start of ``is_blue`` (0: none): a run of blue columns at least
    ``min_band`` wide, beginning within ``max_gap`` columns of the edge (plate border, margin), and
    ending within ``max_band`` columns.  A blue character's stem is far narrower than a band."""
    col = 0
    while col < max_gap and col < len(is_blue) and not is_blue[col]:
        col += 1
    start = col
    while col < len(is_blue) and is_blue[col]:
        col += 1
    if col - start >= min_band and col <= max_band:
        return col
    return 0


def band_limits(crop: np.ndarray, threshold: float = 0.45) -> tuple[int, int]:
    """Columns [left, right) of the registration field once side bands are excluded."""
    if crop.ndim != 3 or crop.shape[1] < 20:
        return 0, crop.shape[1] if crop.ndim >= 2 else 0
    is_blue = blue_columns(crop) >= threshold
    width = len(is_blue)
    # close short gaps: the white "F" and stars, or a thin plate border between body and band
    gap = max(2, int(width * 0.03))
    closed = cv2.morphologyEx(is_blue.astype(np.uint8)[None], cv2.MORPH_CLOSE, np.ones((1, gap + 1), np.uint8))[0]
    is_blue = closed.astype(bool) | is_blue
    max_band, min_band, max_gap = int(width * _MAX_BAND_FRACTION), max(3, int(width * 0.04)), int(width * 0.1)
    left = _band_run(is_blue, max_band, min_band, max_gap)
    right = width - _band_run(is_blue[::-1], max_band, min_band, max_gap)
    return left, right


def trim_bands(crop: np.ndarray) -> np.ndarray:
    """The crop without its blue side bands (unchanged when there are none)."""
    left, right = band_limits(crop)
    return crop[:, left:right] if right - left >= crop.shape[1] // 2 else crop
