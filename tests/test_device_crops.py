"""Plates cut, levelled and resized on the recogniser's device (lapi/reading/device_crops.py), run on the CPU."""

from __future__ import annotations

import dataclasses
import random

import cv2
import numpy as np
import pytest
import torch

from lapi.reading.device_crops import homographies, plate_width, sample_plates
from lapi.reading.pipeline import PlateReader
from lapi.reading.recognizer import network_image, pad_batch, padded_width
from lapi.reading.rectify import text_quads
from lapi.synth import STYLES, paste_plate, render_plate, synthetic_scene
from tests.conftest import FIXTURES


def _box_quad(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)


def test_homographies_map_the_output_rectangle_onto_each_quad():
    quads = torch.tensor(np.stack([_box_quad(10, 20, 200, 50),
                                   np.array([[5, 5], [120, 15], [118, 60], [2, 48]], np.float64)]))
    widths = torch.tensor([256.0, 160.0], dtype=torch.float64)
    hom = homographies(quads, widths, 64)
    for i, w in enumerate([256.0, 160.0]):
        corners = torch.tensor([[0, 0, 1], [w, 0, 1], [w, 64, 1], [0, 64, 1]], dtype=torch.float64)
        mapped = corners @ hom[i].T
        assert torch.allclose(mapped[:, :2] / mapped[:, 2:], quads[i], atol=1e-6)


def test_an_axis_aligned_plate_samples_like_the_opencv_path():
    frame = cv2.imread(str(FIXTURES / "frame_GV073KP.jpg"))
    x, y, w, h = 240, 330, 160, 40
    crop = frame[y:y + h, x:x + w]
    ref_img = network_image(crop, 64)
    ref = pad_batch([ref_img], padded_width(ref_img.shape[1]))
    got, widths = sample_plates([frame], [0], [_box_quad(x, y, w, h)], 64)
    assert widths == [padded_width(ref_img.shape[1])] and got.shape == ref.shape
    # bicubic sampling against OpenCV's resize: the same picture up to interpolation
    assert float((got - ref).abs().mean()) * 127.5 < 4.0


def test_a_slanted_plate_samples_like_the_opencv_path():
    """The quads carry the de-shear too: the device cuts the picture that ``prepare_crop`` gives the host."""
    from lapi.reading.pipeline import prepare_crop

    plate = render_plate("AB-123-CD", STYLES["fr_siv"], height=80, rng=random.Random(4))
    h, w = plate.shape[:2]
    frame = np.full((300, 600, 3), 70, np.uint8)
    frame[100:100 + h, 120:120 + w] = plate
    m = np.float64([[1.0, 0.35, -0.35 * 140], [0.0, 1.0, 0.0]])  # strokes lean right about the plate's middle row
    frame = cv2.warpAffine(frame, m, (600, 300), borderMode=cv2.BORDER_REPLICATE)
    x0, y0, x1, y1 = 100, 90, 160 + w, 110 + h
    crop = frame[y0:y1, x0:x1]
    host = network_image(prepare_crop(crop), 64)
    assert host.shape[1] > network_image(crop, 64).shape[1]  # widened by the de-shear
    quads = text_quads(crop, (x0, y0))
    got, widths = sample_plates([frame], [0], [quads[0]], 64)
    assert abs(widths[0] - padded_width(host.shape[1])) <= 64
    ref = pad_batch([host], widths[0])
    assert float((got - ref[..., : got.shape[-1]]).abs().mean()) * 127.5 < 6.0


def test_odd_batches_empty_one_and_very_different_sizes_from_different_frames():
    x, widths = sample_plates([], [], [], 64)
    assert x.shape[0] == 0 and widths == []
    small = np.full((120, 200, 3), 90, np.uint8)
    large = np.full((1080, 1440, 3), 160, np.uint8)
    quads = [_box_quad(10, 10, 40, 12), _box_quad(100, 500, 900, 200), _box_quad(1400, 1000, 80, 70)]  # last: past the edge
    x, widths = sample_plates([small, large], [0, 1, 1], quads, 64)
    assert x.shape == (3, 1, 64, max(widths)) and widths == [padded_width(plate_width(q, 64)) for q in quads]
    # each plate reads only its own frame (grey 90 vs 160), out-of-frame corners repeat the edge
    assert torch.allclose(x[0], torch.tensor(90 / 127.5 - 1.0), atol=1e-3)
    assert torch.allclose(x[1:], torch.tensor(160 / 127.5 - 1.0), atol=1e-3)


def _rotated_scene(text: str, angle: float, seed: int) -> np.ndarray:
    rng = random.Random(seed)
    frame = np.full((480, 640, 3), 70, np.uint8)
    plate = render_plate(text, STYLES["fr_siv"], height=110, rng=rng)
    frame, _ = paste_plate(frame, plate, (320, 300), 260, rng)
    m = cv2.getRotationMatrix2D((320, 300), angle, 1.0)
    return cv2.warpAffine(frame, m, (640, 480), borderMode=cv2.BORDER_REPLICATE)


def test_text_quads_follow_a_rolled_plate(reader):
    frame = _rotated_scene("AB-123-CD", 9.0, seed=1)
    det = reader.detector.detect([frame])[0][0]
    from lapi.reading.pipeline import crop_bounds

    x0, y0, x1, y1 = crop_bounds(frame, det)
    quad = text_quads(frame[y0:y1, x0:x1], (x0, y0))[0]
    top = quad[1] - quad[0]
    assert 4.0 < abs(np.degrees(np.arctan2(top[1], top[0]))) < 14.0  # the quad is turned with the plate
    rec = reader.recognizer.recognise_quads([frame], [0], [text_quads(frame[y0:y1, x0:x1], (x0, y0))])[0]
    assert rec.text == "AB123CD"


@pytest.fixture(scope="module")
def device_reader(reader):
    twin = PlateReader.__new__(PlateReader)
    twin.__dict__.update(reader.__dict__)  # the same loaded models: only where crops are cut differs
    twin.device_crops = True
    return twin


def test_the_device_path_reads_what_the_opencv_path_reads(reader, device_reader):
    frames = [cv2.imread(str(FIXTURES / n)) for n in ("frame_GV073KP.jpg", "frame_4821TX62.jpg")]
    rng = random.Random(11)
    frames += [synthetic_scene(rng, (960, 720))[0] for _ in range(14)]
    host = [[r.plate_norm for r in reads] for reads in reader.read_frames(frames)]
    device = [[r.plate_norm for r in reads] for reads in device_reader.read_frames(frames)]
    assert device[0] == ["GV073KP"] and device[1] == ["4821TX62"]
    same = sum(h == d for h, d in zip(host, device))
    assert same >= 0.85 * len(frames), list(zip(host, device))


def test_device_crops_auto_is_off_on_a_cpu_and_can_be_forced(settings):
    assert settings.device_crops is None
    assert PlateReader.from_settings(settings).device_crops is False
    forced = PlateReader.from_settings(dataclasses.replace(settings, device_crops=True))
    assert forced.device_crops is True
