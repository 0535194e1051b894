"""Pass consensus (pure): character vote weighted by confidence and crop quality, grammar-constrained,
with a confidence that grows with agreeing evidence; best crop and direction of travel."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytest

from lapi.consensus import Observation, consensus, crop_quality, crop_sharpness, direction_of_travel
from lapi.tracking import Box


@dataclass(frozen=True)
class Det:
    x: int
    y: int
    w: int
    h: int
    score: float = 0.9


@dataclass(frozen=True)
class Read:
    plate_norm: str
    char_confidences: tuple[float, ...]
    box: Det
    country: str | None = "FR"
    format_name: str | None = "SIV"
    crop_jpeg: bytes = b""
    at_frame_edge: bool = False

    @property
    def confidence(self) -> float:
        return float(np.exp(np.mean(np.log(self.char_confidences))))

    @property
    def text(self) -> str:
        return self.plate_norm


def ob(t: float, text: str, confs: tuple[float, ...] | float = 0.98, h: int = 40, x: int = 100, y: int = 100,
       country: str | None = "FR", fmt: str | None = "SIV", at_frame_edge: bool = False) -> Observation:
    confs = confs if isinstance(confs, tuple) else (confs,) * len(text)
    read = Read(text, confs, Det(x, y, h * 4, h), country, fmt, at_frame_edge=at_frame_edge)
    return Observation(t, read, crop_quality(read))


def test_each_read_wrong_somewhere_the_vote_right_everywhere():
    """No single read is right, but each error is a low-confidence character outvoted by the others."""
    c = consensus([
        ob(0.0, "GV073KB", (0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.30)),
        ob(0.1, "GX073KP", (0.99, 0.30, 0.99, 0.99, 0.99, 0.99, 0.99)),
        ob(0.2, "GV078KP", (0.99, 0.99, 0.99, 0.99, 0.35, 0.99, 0.99)),
    ])
    assert c.plate_norm == "GV073KP" and c.text == "GV-073-KP"
    assert (c.country, c.format_name, c.frames, c.agreeing) == ("FR", "SIV", 3, 0)


def test_a_large_sharp_crop_outweighs_small_ones():
    small = [ob(0.1 * i, "GV073KR", 0.9, h=10) for i in range(3)]
    large = ob(0.5, "GV073KP", 0.9, h=50)
    c = consensus([*small, large])
    assert c.plate_norm == "GV073KP"
    assert c.best_index == 3


def test_a_plate_cut_by_the_frame_border_weighs_less_than_its_whole_reads():
    """Leaving the picture, the plate is at its largest as the border cuts off its first digit: the cut
    read is a valid FNI plate too, but the smaller whole reads of the same pass decide."""
    whole = [ob(0.0, "9343ZH68", 0.95, h=16, fmt="FNI"), ob(0.1, "9343ZH68", 0.95, h=20, fmt="FNI")]
    cut = ob(0.2, "343ZH68", 0.99, h=48, x=0, fmt="FNI", at_frame_edge=True)
    assert consensus([*whole, cut]).plate_norm == "9343ZH68"
    # the same large read inside the frame would have outvoted them
    whole_read = replace(cut.read, at_frame_edge=False)
    inside = Observation(cut.t, whole_read, crop_quality(whole_read))
    assert cut.quality == pytest.approx(0.25 * inside.quality)
    assert consensus([*whole, inside]).plate_norm == "343ZH68"


def test_grammar_rule_the_vote_would_break_is_repaired_at_the_weakest_position():
    """Position by position the vote gives SS-123-CD, which SIV never issues (SS series)."""
    c = consensus([
        ob(0.0, "SB123CD", (0.90, 0.40, 0.99, 0.99, 0.99, 0.99, 0.99)),
        ob(0.1, "AS123CD", (0.40, 0.90, 0.99, 0.99, 0.99, 0.99, 0.99)),
    ])
    assert c.plate_norm in ("AS123CD", "SB123CD")
    assert c.format_name == "SIV"


def test_occluded_partial_read_does_not_vote_nor_weaken_the_pass():
    full = [ob(0.1 * i, "EH561ZR", 0.99) for i in range(4)]
    partial = ob(0.5, "EH561", 0.99, country=None, fmt=None)
    alone = consensus(full)
    with_partial = consensus([*full, partial])
    assert with_partial.plate_norm == "EH561ZR"
    assert with_partial.confidence == pytest.approx(alone.confidence, abs=1e-3)
    # a read of another plate, though, is evidence against this one
    other = consensus([*full, ob(0.5, "XZ9", 0.99, country=None, fmt=None)])
    assert other.plate_norm == "EH561ZR" and other.confidence < alone.confidence - 0.02


def test_confidence_grows_with_agreeing_reads_and_drops_with_contradiction():
    one = consensus([ob(0.0, "EH561ZR", 0.8)])
    three = consensus([ob(0.1 * i, "EH561ZR", 0.8) for i in range(3)])
    contradicted = consensus([*(ob(0.1 * i, "EH561ZR", 0.8) for i in range(3)), ob(0.3, "EH561ZP", 0.8)])
    assert one.confidence == pytest.approx(0.8, abs=0.01)  # one read: its own confidence
    assert three.confidence > one.confidence + 0.1
    assert contradicted.plate_norm == "EH561ZR"
    four = consensus([ob(0.1 * i, "EH561ZR", 0.8) for i in range(4)])
    assert contradicted.confidence < four.confidence - 0.02
    assert contradicted.char_confidences[-1] < min(contradicted.char_confidences[:-1]) - 0.1


def test_generic_reads_lose_to_a_real_format_of_equal_weight():
    c = consensus([ob(0.0, "AB12345", 0.95, country=None, fmt=None), ob(0.1, "AB123CD", 0.95)])
    assert c.plate_norm == "AB123CD" and c.format_name == "SIV"


def test_direction_of_travel_from_motion_and_camera_heading():
    approaching = [(0.1 * i, Box(100 + i, 100 + 8 * i, 120 + 4 * i, 30 + i)) for i in range(6)]
    receding = list(reversed([(0.5 - t, b) for t, b in approaching]))
    across = [(0.1 * i, Box(100 + 30 * i, 200, 120, 30)) for i in range(6)]
    assert direction_of_travel(approaching, 90.0) == ("approaching", 270.0)
    assert direction_of_travel(receding, 90.0) == ("receding", 90.0)
    assert direction_of_travel(across, 350.0) == ("left_to_right", 80.0)
    assert direction_of_travel(list(reversed([(0.5 - t, b) for t, b in across])), None) == ("right_to_left", None)
    assert direction_of_travel([(0.1 * i, Box(100, 100, 120, 30)) for i in range(6)], 0.0) == ("stationary", None)
    assert direction_of_travel(approaching[:1], 0.0) == (None, None)
    c = consensus([Observation(t, Read("EH561ZR", (0.99,) * 7, Det(int(b.x), int(b.y), int(b.w), int(b.h))), 1.0)
                   for t, b in approaching], heading=90.0)
    assert (c.direction, c.bearing, c.first_seen, c.last_seen) == ("approaching", 270.0, 0.0, 0.5)


def test_crop_sharpness_sees_motion_blur_whatever_the_contrast():
    img = np.full((40, 160), 230, np.uint8)
    cv2.putText(img, "GV073KP", (4, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 20, 2, cv2.LINE_AA)
    kernel = np.zeros((9, 9), np.float32)
    kernel[4, :] = 1 / 9
    blurred = cv2.filter2D(img, -1, kernel)
    dim = (img.astype(np.float32) * 0.3 + 60).astype(np.uint8)  # same plate, a third of the contrast

    def jpeg(a: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()

    sharp, soft, low = crop_sharpness(jpeg(img)), crop_sharpness(jpeg(blurred)), crop_sharpness(jpeg(dim))
    assert soft < 0.7 * sharp
    assert low == pytest.approx(sharp, rel=0.25)
    assert crop_sharpness(b"") == 1.0


def test_no_reads_is_an_error():
    with pytest.raises(ValueError):
        consensus([])
