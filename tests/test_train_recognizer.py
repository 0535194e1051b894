"""Pure parts of the recogniser's training script (models/train_recognizer.py)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from lapi.boxes import iou
from lapi.reading.detector import Detection

SCRIPT = Path(__file__).resolve().parents[1] / "models" / "train_recognizer.py"


def _script():
    spec = importlib.util.spec_from_file_location("train_recognizer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _iou(a: Detection, b: Detection) -> float:
    return iou((a.x, a.y, a.w, a.h), (b.x, b.y, b.w, b.h))


def test_jittered_boxes_stay_on_the_plate_and_move():
    """A moved box overlaps the plate as a detection the eval counts as captured does (IoU >= 0.5)."""
    train = _script()
    box = Detection(400, 300, 200, 44, 1.0)
    rng = random.Random(3)
    boxes = [train.jittered_box(box, rng) for _ in range(500)]
    ious = [_iou(box, b) for b in boxes]
    assert min(ious) >= 0.6
    assert sum(i < 0.95 for i in ious) > 250  # most cuts really differ from the ground truth
    assert {b.x for b in boxes} > {box.x} and {b.h for b in boxes} > {box.h}


def test_jittered_box_never_leaves_the_frame_origin():
    train = _script()
    rng = random.Random(0)
    for _ in range(200):
        b = train.jittered_box(Detection(0, 0, 60, 14, 1.0), rng)
        assert b.x >= 0 and b.y >= 0 and b.w >= 1 and b.h >= 1


def test_detector_cuts_are_the_detections_that_found_the_plate():
    train = _script()
    truth = Detection(400, 300, 200, 44, 1.0)
    short = Detection(400, 298, 150, 46, 0.9)  # stops short of the plate's end: still the plate (IoU 0.72)
    tall = Detection(395, 290, 210, 70, 0.8)  # takes in the lettering under the plate (IoU 0.60)
    sign = Detection(900, 100, 120, 40, 0.95)
    half = Detection(400, 300, 90, 44, 0.7)  # IoU 0.45: not a capture
    assert train.detector_cuts([sign, short, tall, half], truth) == [short, tall]
    assert train.detector_cuts([], truth) == []
