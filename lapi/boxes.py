"""Box geometry shared by evaluation and tracking. Pure functions."""

from __future__ import annotations

Box = tuple[float, float, float, float]  # top-left x, y, width, height in pixels


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0 when either is empty."""
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


EDGE_MARGIN = 0.015
"""Share of a frame's width or height within which a box counts as touching the frame's border.  The
detector's box of a cut plate often stops a few pixels short of the border, before a partial glyph
(up to 9 px in a 640-px rendered video; whole plates came no nearer than 14 px)."""


def touches_frame_edge(box: Box, width: int, height: int, margin: float = EDGE_MARGIN) -> bool:
    """Whether a box reaches the frame's border (within ``margin`` of its size, at least a pixel).

    Why: a plate cut by the frame may be missing characters, and what sits on a photo's border is
    often a passing car's half plate or the photographer's watermark, not the photo's subject.
    """
    x, y, w, h = box
    mx, my = max(1.0, margin * width), max(1.0, margin * height)
    return x <= mx or y <= my or x + w >= width - mx or y + h >= height - my
