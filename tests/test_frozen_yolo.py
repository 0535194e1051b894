"""The detector's network frozen for the CPU finds the boxes ``YOLO.predict`` finds."""

from __future__ import annotations

import contextlib
import io

import cv2
import numpy as np
import pytest
import torch

from conftest import FIXTURES, ROOT
from lapi.reading.detector import PlateDetector, keep_threads


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        made = PlateDetector(ROOT / "models" / "detector")
    assert out.getvalue() == ""  # a service's stdout is for its own lines (ultralytics prints a summary when fusing)
    return made


def frames() -> list[np.ndarray]:
    """The fixture frames, and others of new shapes: cut, turned to portrait, shrunk."""
    out = []
    for name in ("frame_GV073KP.jpg", "frame_4821TX62.jpg"):
        frame = cv2.imread(str(FIXTURES / name))
        out += [frame, frame[40:, 25:], cv2.rotate(frame, cv2.ROTATE_90_CLOCKWISE), cv2.resize(frame, None, fx=0.6, fy=0.6)]
    return out


def test_the_frozen_network_finds_the_predictors_boxes(detector):
    """Same letterbox, NMS and scaling as ``YOLO.predict``: only the network's arithmetic differs
    (its layout), so every box and score agrees to a small fraction of a pixel, at every frame
    shape and every detector input size, with one trace."""
    assert detector._frozen is not None
    found = 0
    for frame in frames():
        for size in (640, 480, 960):
            ours = detector._frozen.predict([frame], size)[0]
            threads = torch.get_num_threads()
            theirs = detector.model.predict([frame], imgsz=size, conf=detector.conf, iou=detector.iou, device="cpu",
                                            verbose=False)[0].boxes.data.numpy()
            keep_threads(threads)
            assert ours.shape == theirs.shape, (frame.shape, size)
            assert np.abs(ours - theirs).max(initial=0.0) < 1e-2, (frame.shape, size)
            found += len(ours)
    assert found >= 24  # the plates are found: the comparison is not of empty lists


def test_frames_of_one_shape_are_read_together_as_each_alone(detector):
    frame = cv2.imread(str(FIXTURES / "frame_GV073KP.jpg"))
    other = cv2.flip(frame, 1)
    together = detector._frozen.predict([frame, other], 640)
    for alone, batched in zip((detector._frozen.predict([frame], 640)[0], detector._frozen.predict([other], 640)[0]),
                              together):
        assert alone.shape == batched.shape and np.abs(alone - batched).max(initial=0.0) < 1e-2


def test_the_detector_uses_it_on_a_cpu(detector):
    frame = cv2.imread(str(FIXTURES / "frame_GV073KP.jpg"))
    dets = detector.detect([frame])[0]
    rows = detector._frozen.predict([frame], detector.imgsz)[0]
    assert len(dets) >= 1 and dets[0].score == pytest.approx(float(rows[:, 4].max()), abs=1e-4)
