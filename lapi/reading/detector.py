"""Plate detector: an ultralytics YOLO model shipped in ``models/detector``.

The model directory holds the weights and ``model.json`` (input size, thresholds), so a retrained
detector is swapped in by replacing files, not code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
# torch first: ultralytics' import sets OMP_NUM_THREADS=1, and a torch imported after it starts on one thread
import torch

from lapi.reading.frozen_yolo import FrozenYolo

os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics must never try the network


@dataclass(frozen=True)
class Detection:
    """A plate box in frame pixels (top-left x, y, width, height) with the detector's score."""

    x: int
    y: int
    w: int
    h: int
    score: float


class PlateDetector:
    """Finds plate boxes in whole frames, a batch of frames per call."""

    def __init__(self, model_dir: Path, device: str = "cpu") -> None:
        config_path = model_dir / "model.json"
        if not config_path.exists():
            raise FileNotFoundError(f"detector config not found: {config_path}")
        config = json.loads(config_path.read_text())
        weights = model_dir / config["weights"]
        if not weights.exists():
            raise FileNotFoundError(f"detector weights not found: {weights}")
        from ultralytics import YOLO

        self.model = YOLO(str(weights), task="detect")
        self.imgsz = int(config.get("imgsz", 640))
        self.conf = float(config.get("conf", 0.25))
        self.iou = float(config.get("iou", 0.5))
        self.device = device
        # on a CPU the network runs frozen (lapi/reading/frozen_yolo.py); on a GPU through YOLO.predict
        self._frozen = FrozenYolo(self.model.model, self.conf, self.iou) if device == "cpu" else None

    def detect(self, frames: list[np.ndarray], imgsz: int | None = None) -> list[list[Detection]]:
        """Boxes per frame (BGR arrays), best first; ``imgsz``: the network's input size for this call
        (default: the model's, from ``model.json``)."""
        if not frames:
            return []
        # one call per frame size: ultralytics letterboxes a batch of mixed sizes to a full square
        # and a batch of one size (or a lone frame) to the stride, so mixing cameras in a micro-batch
        # would change what a frame's detections are; frames of one camera model still go together
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            by_shape.setdefault(frame.shape, []).append(i)
        results: list = [None] * len(frames)  # per frame: rows x0, y0, x1, y1, score, ...
        threads = torch.get_num_threads()
        for idx in by_shape.values():
            group = [frames[i] for i in idx]
            if self._frozen is not None:
                predicted = self._frozen.predict(group, imgsz or self.imgsz)
            else:
                predicted = [r.boxes.data.cpu().numpy() for r in self.model.predict(
                    group, imgsz=imgsz or self.imgsz, conf=self.conf, iou=self.iou, device=self.device, verbose=False)]
                keep_threads(threads)
            for i, rows in zip(idx, predicted):
                results[i] = rows
        out: list[list[Detection]] = []
        for frame, rows in zip(frames, results):
            fh, fw = frame.shape[:2]
            dets = []
            for (x0, y0, x1, y1), score in zip(rows[:, :4].tolist(), rows[:, 4].tolist()):
                x0, y0 = max(0, int(round(x0))), max(0, int(round(y0)))
                x1, y1 = min(fw, int(round(x1))), min(fh, int(round(y1)))
                if x1 - x0 >= 4 and y1 - y0 >= 2:
                    dets.append(Detection(x0, y0, x1 - x0, y1 - y0, round(float(score), 4)))
            out.append(suppress_contained(sorted(dets, key=lambda d: -d.score)))
        return out


def keep_threads(threads: int) -> None:
    """Give torch back the process's thread count after an ultralytics call.

    ultralytics' device setup (on the first ``predict``) sets torch to ``cpu_count - 1`` threads,
    which it picks for training: on a 2-core reader that left the recogniser and every later
    detection on one core.
    """
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def suppress_contained(dets: list[Detection], max_overlap: float = 0.6) -> list[Detection]:
    """Best-first boxes without those lying mostly inside a better one.

    YOLO's NMS compares IoU, so a box around half a plate ("073KP" inside "GV-073-KP") survives it
    and the plate is read, stored and alerted twice.  Two real plates never overlap that much.
    """
    kept: list[Detection] = []
    for d in dets:
        if not any(mostly_overlap(d, k, max_overlap) for k in kept):
            kept.append(d)
    return kept


def mostly_overlap(a: Detection, b: Detection, max_overlap: float = 0.6) -> bool:
    """Whether the two boxes share more than ``max_overlap`` of the smaller one's area."""
    return _intersection(a, b) >= max_overlap * min(a.w * a.h, b.w * b.h)


def _intersection(a: Detection, b: Detection) -> int:
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, w) * max(0, h)
