"""A DIN-style plate typeface drawn from strokes, for synthetic training plates.

Why: the machine has DejaVu fonts only, and a recogniser trained on condensed DejaVu misreads the
engineered plate faces of French (and German, Italian, Dutch...) plates where they differ most:
the D with straight sides read as C, the flat-shouldered 3 and 5, the 7 with its straight leg, the
K and H under blur.  These faces are built from straight strokes and circular arcs of one width,
so a centre-line description of each character, drawn with a round pen, comes close to them.

Pure geometry: :data:`GLYPHS` maps each of A-Z0-9 to its strokes in a unit box (x right, y down,
cap height 1, the cap line at y = 0 and the baseline at y = 1); :func:`render_glyph` draws one as
an 8-bit ink mask.  :mod:`lapi.synth_ocr` uses it as one more face beside the DejaVu ones.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Point = tuple[float, float]
Stroke = list[Point]

# centre-line box of a digit-wide glyph: the pen's half width keeps the ink inside 0..WIDTH x 0..1
WIDTH = 0.56
STROKE = 0.13  # pen width, in cap heights (DIN 1451 Mittelschrift: about 0.13)
_H = STROKE / 2
_L, _R, _T, _B = _H, WIDTH - _H, _H, 1.0 - _H
_C = WIDTH / 2
_RAD = (_R - _L) / 2  # radius of the round ends of 0, O, U, C...


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, steps: int = 24) -> Stroke:
    """Points of an elliptical arc from ``start`` to ``end`` degrees (0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, steps)]


def _join(*parts: Stroke) -> Stroke:
    out: Stroke = []
    for p in parts:
        out.extend(p)
    return out


def _stadium(left: float, right: float) -> Stroke:
    cx, r = (left + right) / 2, (right - left) / 2
    return _join(arc(cx, _T + r, r, r, 180, 360), arc(cx, _B - r, r, r, 0, 180), [(left, _T + r)])


def _lobe(top: float, bottom: float, right: float) -> Stroke:
    """The bowl of B, P, R: from the stem at ``top`` round to the stem at ``bottom``."""
    ry = (bottom - top) / 2
    rx = min(ry, (right - _L) * 0.6)
    return _join([(_L, top)], arc(right - rx, top + ry, rx, ry, -90, 90), [(_L, bottom)])


def _glyphs() -> dict[str, list[Stroke]]:
    mid = 0.5
    g: dict[str, list[Stroke]] = {
        "0": [_stadium(_L, _R)],
        "1": [[(_C + 0.06, _B), (_C + 0.06, _T), (_L + 0.02, _T + 0.26)]],
        "2": [_join(arc(_C, _T + _RAD * 1.05, _RAD, _RAD * 1.05, 195, 360), [(_R, _T + _RAD * 1.3), (_L, _B), (_R, _B)])],
        "3": [_join(arc(_C, 0.28, _RAD * 0.92, 0.22, 200, 450)),
              _join(arc(_C, 0.71, _RAD, 0.22, 270, 520))],
        "4": [[(_R - 0.09, _B), (_R - 0.09, _T), (_L, 0.68), (_R + 0.01, 0.68)]],
        "5": [_join([(_R, _T), (_L + 0.02, _T), (_L, 0.46)], arc(_C, 0.68, _RAD, 0.25, 235, 520))],
        "6": [_join(arc(_C, 0.68, _RAD, 0.25, 0, 360)),
              _join([(_L, 0.68), (_L, _T + _RAD)], arc(_C, _T + _RAD, _RAD, _RAD, 180, 320))],
        "7": [[(_L, _T), (_R, _T), (_C - 0.04, _B)]],
        "8": [_join(arc(_C, 0.27, _RAD * 0.88, 0.21, 0, 360)), _join(arc(_C, 0.71, _RAD, 0.23, 0, 360))],
        "9": [_join(arc(_C, 0.32, _RAD, 0.25, 0, 360)),
              _join([(_R, 0.32), (_R, _B - _RAD)], arc(_C, _B - _RAD, _RAD, _RAD, 0, 140))],
        "A": [[(_L - 0.02, _B), (_C, _T), (_R + 0.02, _B)], [(_L + 0.09, 0.68), (_R - 0.09, 0.68)]],
        "B": [[(_L, _T), (_L, _B)], _lobe(_T, 0.48, _R - 0.03), _lobe(0.48, _B, _R)],
        "C": [_join(arc(_C, _T + _RAD, _RAD, _RAD, 335, 180), [(_L, _B - _RAD)], arc(_C, _B - _RAD, _RAD, _RAD, 180, 25))],
        "D": [_join([(_L, _T), (_R - _RAD * 0.8, _T)], arc(_R - _RAD * 0.8, _T + _RAD * 0.8, _RAD * 0.8, _RAD * 0.8, -90, 0),
                    [(_R, _B - _RAD * 0.8)], arc(_R - _RAD * 0.8, _B - _RAD * 0.8, _RAD * 0.8, _RAD * 0.8, 0, 90),
                    [(_L, _B), (_L, _T)])],
        "E": [[(_R, _T), (_L, _T), (_L, _B), (_R, _B)], [(_L, mid - 0.02), (_R - 0.06, mid - 0.02)]],
        "F": [[(_R, _T), (_L, _T), (_L, _B)], [(_L, mid), (_R - 0.06, mid)]],
        "G": [_join(arc(_C, _T + _RAD, _RAD, _RAD, 335, 180), [(_L, _B - _RAD)], arc(_C, _B - _RAD, _RAD, _RAD, 180, 0),
                    [(_R, 0.54), (_C + 0.02, 0.54)])],
        "H": [[(_L, _T), (_L, _B)], [(_R, _T), (_R, _B)], [(_L, mid), (_R, mid)]],
        "I": [[(_C, _T), (_C, _B)]],
        "J": [_join([(_R, _T), (_R, _B - _RAD)], arc(_C, _B - _RAD, _RAD, _RAD, 0, 180), [(_L, _B - _RAD - 0.06)])],
        "K": [[(_L, _T), (_L, _B)], [(_R, _T), (_L, 0.64)], [(_L + 0.13, 0.5), (_R + 0.01, _B)]],
        "L": [[(_L, _T), (_L, _B), (_R, _B)]],
        "M": [[(_L - 0.02, _B), (_L - 0.02, _T), (_C, 0.62), (_R + 0.02, _T), (_R + 0.02, _B)]],
        "N": [[(_L, _B), (_L, _T), (_R, _B), (_R, _T)]],
        "O": [_stadium(_L - 0.02, _R + 0.02)],
        "P": [[(_L, _B), (_L, _T)], _lobe(_T, 0.55, _R)],
        "Q": [_stadium(_L - 0.02, _R + 0.02), [(_C + 0.04, 0.72), (_R + 0.03, _B + 0.02)]],
        "R": [[(_L, _B), (_L, _T)], _lobe(_T, 0.53, _R), [(_C - 0.02, 0.53), (_R + 0.01, _B)]],
        "S": [_join(arc(_C, 0.28, _RAD * 0.95, 0.215, 335, 90), arc(_C, 0.715, _RAD, 0.215, 270, 505))],
        "T": [[(_L - 0.02, _T), (_R + 0.02, _T)], [(_C, _T), (_C, _B)]],
        "U": [_join([(_L, _T), (_L, _B - _RAD)], arc(_C, _B - _RAD, _RAD, _RAD, 180, 0), [(_R, _T)])],
        "V": [[(_L - 0.02, _T), (_C, _B), (_R + 0.02, _T)]],
        "W": [[(_L - 0.06, _T), (_L + 0.08, _B), (_C, 0.3), (_R - 0.08, _B), (_R + 0.06, _T)]],
        "X": [[(_L, _T), (_R, _B)], [(_R, _T), (_L, _B)]],
        "Y": [[(_L - 0.01, _T), (_C, 0.54), (_R + 0.01, _T)], [(_C, 0.54), (_C, _B)]],
        "Z": [[(_L, _T), (_R, _T), (_L, _B), (_R, _B)]],
    }
    return g


GLYPHS: dict[str, list[Stroke]] = _glyphs()


def render_glyph(ch: str, cap_px: int, stroke: float = STROKE) -> np.ndarray:
    """Ink mask (uint8, 0..255) of ``ch``, ``cap_px`` tall from cap line to baseline, cropped to its ink.

    Raises KeyError for a character the face does not have.
    """
    strokes = GLYPHS[ch]
    pad = cap_px * (stroke + 0.1)
    size = (int(math.ceil(cap_px * 1.3 + 2 * pad)), int(math.ceil(cap_px * (WIDTH + 0.3) + 2 * pad)))
    canvas = np.zeros(size, np.uint8)
    shift = 4  # sub-pixel precision of cv2's drawing
    pen = max(1, int(round(stroke * cap_px)))
    for s in strokes:
        pts = np.array([[(x * cap_px + pad) * (1 << shift), (y * cap_px + pad) * (1 << shift)] for x, y in s])
        cv2.polylines(canvas, [np.round(pts).astype(np.int32)], False, 255, pen, cv2.LINE_AA, shift)
    ys, xs = np.nonzero(canvas > 8)
    return np.ascontiguousarray(canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


def ink_top(ch: str, stroke: float = STROKE) -> float:
    """Where the ink of ``ch`` starts below the cap line, in cap heights (negative: above it)."""
    top = min(y for s in GLYPHS[ch] for _, y in s)
    return top - stroke / 2
