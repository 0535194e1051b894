"""Plate crops cut, rectified and resized on the recogniser's device, a whole batch in one sampling op.

On a GPU, cutting each plate out of its frame on the host, levelling and resizing it with OpenCV
and copying every crop over costs more than the network.  Here the host sends its frames once
(side by side in one uint8 tensor) with one quadrilateral per plate, and the device does the rest:
grey conversion, one homography per plate (batched solve), one ``grid_sample`` for every plate at
the network's height and its own width, the last column repeated up to the batch width as EasyOCR
pads, and scaling to [-1, 1].  The same code runs on a CPU (tests); there OpenCV's per-crop path
is as fast.

Quadrilaterals are corners in frame pixels, clockwise from top-left (top-left, top-right,
bottom-right, bottom-left), in pixel-edge coordinates: the box (x, y, w, h) is
((x, y), (x+w, y), (x+w, y+h), (x, y+h)).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from lapi.reading.recognizer import padded_width

_GREY = (0.114, 0.587, 0.299)  # B, G, R weights of OpenCV's BGR2GRAY


def plate_width(quad: np.ndarray, height: int) -> int:
    """The network-image width of a plate: its quad's aspect at ``height`` rows, at least square
    (as :func:`lapi.reading.recognizer.network_image` sizes a crop)."""
    q = np.asarray(quad, np.float64)
    top, bottom = np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3])
    # height across the text, not along the quad's sides: a de-sheared plate's quad is a
    # parallelogram whose sides are longer than the plate is tall (area / mean width)
    x, y = q[:, 0], q[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    qh = max(area / max((top + bottom) / 2, 1e-6), 1e-6)
    return max(height, int(math.ceil(height * (top + bottom) / 2 / qh)))


def homographies(quads: torch.Tensor, widths: torch.Tensor, height: int) -> torch.Tensor:
    """(N, 3, 3) maps from each plate's output rectangle [0, w] x [0, height] to its quad (batched solve)."""
    n = quads.shape[0]
    w = widths.to(quads.dtype)
    zeros, hs = torch.zeros_like(w), torch.full_like(w, float(height))
    src = torch.stack([torch.stack([zeros, zeros], 1), torch.stack([w, zeros], 1),
                       torch.stack([w, hs], 1), torch.stack([zeros, hs], 1)], 1)  # (N, 4, 2)
    x, y = src[..., 0], src[..., 1]
    u, v = quads[..., 0], quads[..., 1]
    one, nil = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, nil, nil, nil, -x * u, -y * u], 2)
    rows_v = torch.stack([nil, nil, nil, x, y, one, -x * v, -y * v], 2)
    a = torch.cat([rows_u, rows_v], 1)  # (N, 8, 8)
    b = torch.cat([u, v], 1)  # (N, 8)
    h = torch.linalg.solve(a, b)
    return torch.cat([h, torch.ones(n, 1, dtype=h.dtype, device=h.device)], 1).view(n, 3, 3)


def sample_plates(frames: list[np.ndarray], owners: list[int], quads: list[np.ndarray], height: int,
                  device: torch.device | str = "cpu") -> tuple[torch.Tensor, list[int]]:
    """Network input (N, 1, height, W) for every plate, and each plate's padded width.

    ``owners[i]`` is the index in ``frames`` (BGR uint8) of the frame plate ``i`` lies in.
    One host-to-device transfer for the frames, one for the quads; no per-plate work on the device side.
    """
    device = torch.device(device)
    if not quads:
        return torch.empty((0, 1, height, 0), device=device), []
    widths = [plate_width(q, height) for q in quads]
    padded = [padded_width(w) for w in widths]
    out_w = max(padded)
    fh = [f.shape[0] for f in frames]
    fw = [f.shape[1] for f in frames]
    atlas_h, atlas_w = max(fh), sum(fw)
    offsets = np.concatenate([[0], np.cumsum(fw)[:-1]])
    atlas = np.zeros((atlas_h, atlas_w, 3), np.uint8)
    for f, x0 in zip(frames, offsets):
        atlas[: f.shape[0], x0: x0 + f.shape[1]] = f
    pixels = torch.from_numpy(atlas).to(device, non_blocking=True)
    # per plate: its quad, its frame's offset and size in the atlas (one small transfer)
    meta = torch.from_numpy(np.concatenate([
        np.asarray(quads, np.float64).reshape(len(quads), 8),
        np.asarray([[offsets[o], fw[o], fh[o], w] for o, w in zip(owners, widths)], np.float64)], 1)).to(device)
    quad_t, x_off, f_w, f_h, w_t = meta[:, :8].view(-1, 4, 2), meta[:, 8], meta[:, 9], meta[:, 10], meta[:, 11]

    weights = torch.tensor(_GREY, dtype=torch.float32, device=device)
    grey = (pixels.float() @ weights)[None, None]  # (1, 1, H, W)

    hom = homographies(quad_t, w_t, height)  # (N, 3, 3)
    cols = torch.arange(out_w, device=device, dtype=torch.float64)[None, :].expand(len(quads), -1)
    cols = torch.minimum(cols, (w_t - 1)[:, None]) + 0.5  # past its width a plate repeats its last column
    rows = torch.arange(height, device=device, dtype=torch.float64) + 0.5
    px = cols[:, None, :].expand(-1, height, -1)
    py = rows[None, :, None].expand(len(quads), -1, out_w)
    pts = torch.stack([px, py, torch.ones_like(px)], -1)  # (N, H, W, 3)
    src = pts @ hom.transpose(1, 2)[:, None]
    sx = src[..., 0] / src[..., 2]
    sy = src[..., 1] / src[..., 2]
    # stay inside the plate's own frame (its neighbours in the atlas are other cameras): edges repeat
    sx = torch.maximum(torch.minimum(sx, (f_w - 0.5)[:, None, None]), torch.full_like(sx, 0.5))
    sy = torch.maximum(torch.minimum(sy, (f_h - 0.5)[:, None, None]), torch.full_like(sy, 0.5))
    gx = 2 * (sx + x_off[:, None, None]) / atlas_w - 1
    gy = 2 * sy / atlas_h - 1
    grid = torch.stack([gx, gy], -1).to(torch.float32).reshape(1, len(quads) * height, out_w, 2)
    sampled = F.grid_sample(grey, grid, mode="bicubic", padding_mode="border", align_corners=False)
    images = sampled.clamp(0, 255).reshape(len(quads), 1, height, out_w)
    return images / 127.5 - 1.0, padded
