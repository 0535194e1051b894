"""Frames turned for a second look (lapi/reading/turn.py) and the reader's retries of frames with no read: turned, resized."""

import asyncio
import copy
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from conftest import FIXTURES
from lapi.boxes import iou
from lapi.reading.detector import Detection
from lapi.reading.batcher import ReadBatcher
from lapi.reading.pipeline import PlateRead
from lapi.reading.turn import best_per_place, map_box, turn_frame


def _forward(back: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(back)


@pytest.mark.parametrize("angle", [-20.0, -10.0, 10.0, 20.0, 45.0])
def test_turned_canvas_holds_the_whole_frame(angle):
    frame = np.full((120, 200, 3), 255, np.uint8)
    turned, back = turn_frame(frame, angle)
    forward = _forward(back)
    corners = np.array([[0, 0], [199, 0], [199, 119], [0, 119]], np.float64)
    inside = corners @ forward[:, :2].T + forward[:, 2]
    h, w = turned.shape[:2]
    assert (inside >= -1).all() and (inside[:, 0] <= w).all() and (inside[:, 1] <= h).all()
    # every frame corner lands on frame pixels, not on the black fill
    for x, y in np.clip(np.rint(inside).astype(int), 0, [w - 1, h - 1]):
        assert turned[max(0, y - 1):y + 2, max(0, x - 1):x + 2].max() > 200


def test_box_found_in_a_turned_frame_maps_back_around_the_plate():
    frame = np.zeros((300, 400, 3), np.uint8)
    plate = Detection(150, 120, 100, 30, 0.9)
    turned, back = turn_frame(frame, 20.0)
    forward = _forward(back)
    corners = np.array([[150, 120], [250, 120], [250, 150], [150, 150]], np.float64) @ forward[:, :2].T + forward[:, 2]
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    seen = Detection(int(x0), int(y0), int(x1 - x0), int(y1 - y0), 0.7)
    mapped = map_box(seen, back, frame.shape)
    assert mapped.score == 0.7
    assert mapped.x <= plate.x and mapped.y <= plate.y
    assert mapped.x + mapped.w >= plate.x + plate.w and mapped.y + mapped.h >= plate.y + plate.h
    assert abs(mapped.x + mapped.w / 2 - 200) <= 1 and abs(mapped.y + mapped.h / 2 - 135) <= 1  # same centre


def test_mapped_box_is_clipped_to_the_frame():
    frame = np.zeros((100, 100, 3), np.uint8)
    turned, back = turn_frame(frame, 30.0)
    whole = Detection(0, 0, turned.shape[1], turned.shape[0], 0.5)
    assert map_box(whole, back, frame.shape) == Detection(0, 0, 100, 100, 0.5)


def _read(text: str, confidence: float, box: Detection) -> PlateRead:
    return PlateRead(text, text, confidence, (confidence,) * len(text), box, b"")


def test_one_read_per_plate_the_most_confident():
    here, overlapping, elsewhere = Detection(10, 10, 100, 30, 0.5), Detection(15, 12, 100, 30, 0.4), Detection(300, 10, 100, 30, 0.3)
    reads = [_read("AB123CD", 0.7, here), _read("AB128CD", 0.9, overlapping), _read("XY456ZT", 0.65, elsewhere)]
    assert [r.text for r in best_per_place(reads)] == ["AB128CD", "XY456ZT"]
    assert best_per_place([]) == []


def _rolled_fixture(angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The FNI fixture frame rolled by ``angle`` degrees (as a hand-held photo), its roll matrix."""
    frame = cv2.imread(str(FIXTURES / "frame_4821TX62.jpg"))
    h, w = frame.shape[:2]
    roll = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return frame, cv2.warpAffine(frame, roll, (w, h), borderMode=cv2.BORDER_REFLECT), roll


@pytest.mark.parametrize("angle", [25.0, -25.0])
def test_a_rolled_plate_is_read_on_the_retry(reader, angle):
    frame, rolled, roll = _rolled_fixture(angle)
    level = max(reader.read_frames([frame])[0], key=lambda r: r.box.score)
    b = level.box
    corners = np.array([[b.x, b.y], [b.x + b.w, b.y], [b.x + b.w, b.y + b.h], [b.x, b.y + b.h]], np.float64)
    moved = corners @ roll[:, :2].T + roll[:, 2]
    expected = (*moved.min(axis=0), *(moved.max(axis=0) - moved.min(axis=0)))

    ((detections, reads),) = reader.detect_and_read([rolled])
    plate = [r for r in reads if r.plate_norm == "4821TX62"]
    assert plate, f"rolled by {angle} degrees: read {[r.plate_norm for r in reads]}"
    assert iou((plate[0].box.x, plate[0].box.y, plate[0].box.w, plate[0].box.h), expected) >= 0.5
    assert plate[0].box in detections  # the box mapped back is also among the frame's detections

    # the retry is what finds it: the level pass alone reads nothing on this frame
    level_only = copy.copy(reader)
    level_only.retry_rotations, level_only.retry_sizes = (), ()
    assert level_only.read_frames([rolled]) == [[]]


async def test_video_frames_skip_the_second_look_in_a_shared_batch(reader):
    """Pushed photos and video frames share batches; only the photos pay for a second look."""
    _, rolled, _ = _rolled_fixture(25.0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        batcher = ReadBatcher(reader, pool, max_frames=4, max_wait_ms=500)
        batcher.start()
        try:
            photo, video = await asyncio.gather(batcher.read(rolled), batcher.read(rolled, second_look=False))
        finally:
            await batcher.stop()
    assert photo.batch_size == video.batch_size == 2
    assert [r.plate_norm for r in photo.reads] == ["4821TX62"] and video.reads == []


def _small_plate_frame() -> np.ndarray:
    """The 4821 TX 62 fixture shrunk to 40 % in a grey 1920 x 1080 frame."""
    small = cv2.resize(cv2.imread(str(FIXTURES / "frame_4821TX62.jpg")), None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas = np.full((1080, 1920, 3), 128, np.uint8)
    canvas[540:540 + small.shape[0], 640:640 + small.shape[1]] = small
    return canvas


def test_a_frame_missed_at_the_detector_size_is_read_at_a_retry_size(reader):
    """A first pass that sees the frame too small to find the plate (input 64 px), then a retry at 960 px."""
    blind = copy.copy(reader.detector)
    blind.imgsz = 64
    first_pass_blind = copy.copy(reader)
    first_pass_blind.detector, first_pass_blind.retry_rotations = blind, ()
    frame = _small_plate_frame()
    first_pass_blind.retry_sizes = ()
    assert first_pass_blind.read_frames([frame]) == [[]]

    first_pass_blind.retry_sizes = (960,)
    ((detections, reads),) = first_pass_blind.detect_and_read([frame])
    assert [r.plate_norm for r in reads] == ["4821TX62"]
    assert reads[0].box in detections
    assert 640 <= reads[0].box.x and 540 <= reads[0].box.y  # where the plate was pasted, in frame pixels
    # a frame whose retries are turned off (video frames) gets no second look at another size either
    assert first_pass_blind.detect_and_read([frame], second_look=[False]) == [([], [])]
