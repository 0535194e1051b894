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
    """Fraction of strongly blue pixels in each column of a BGR crop."""
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    h, s, v = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
    blue = (h >= 95) & (h <= 130) & (s >= 90) & (v >= 40)
    return blue.mean(axis=0)


def band_limits(crop: np.ndarray, threshold: float = 0.45) -> tuple[int, int]:
    """Columns [left, right) of the registration field once side bands are excluded."""
    if crop.ndim != 3 or crop.shape[1] < 20:
        return 0, crop.shape[1] if crop.ndim >= 2 else 0
    frac = blue_columns(crop)
    width = len(frac)
    limit = int(width * _MAX_BAND_FRACTION)
    left = 0
    blue_left = np.nonzero(frac[:limit] >= threshold)[0]
    if len(blue_left) >= max(2, width // 40):
        left = int(blue_left.max()) + 1
    right = width
    blue_right = np.nonzero(frac[width - limit:] >= threshold)[0]
    if len(blue_right) >= max(2, width // 40):
        right = width - limit + int(blue_right.min())
    return left, right


def trim_bands(crop: np.ndarray) -> np.ndarray:
    """The crop without its blue side bands (unchanged when there are none)."""
    left, right = band_limits(crop)
    return crop[:, left:right] if right - left >= crop.shape[1] // 2 else crop
