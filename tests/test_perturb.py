"""lapi.perturb: photos changed as another camera or day would change them, the plate box moved along."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from lapi.perturb import PERTURBATIONS, Perturbation, perturb


def photo() -> np.ndarray:
    rng = np.random.default_rng(3)
    image = rng.integers(60, 200, (300, 400, 3), dtype=np.uint8)
    image[200:230, 250:350] = 255  # the "plate"
    return image


def test_scale_moves_the_box_with_the_pixels():
    image, box = perturb(photo(), (250.0, 200.0, 100.0, 30.0), PERTURBATIONS["scale0.7"])
    assert image.shape == (210, 280, 3)
    assert box == pytest.approx((175.0, 140.0, 70.0, 21.0))
    x, y, w, h = (round(v) for v in box)
    assert image[y + 3:y + h - 3, x + 3:x + w - 3].min() > 240  # the plate is where the box says


def test_border_crop_stops_at_the_plate_and_shifts_the_box():
    tight = Perturbation("t", "", border_crop=0.5)  # would take 100 px off each side
    image, box = perturb(photo(), (250.0, 200.0, 100.0, 30.0), tight)
    # right margin is 50 px, bottom 70 px: the crop stops there so the plate stays whole
    assert box == (200.0, 130.0, 100.0, 30.0)
    assert image.shape == (300 - 2 * 70, 400 - 2 * 50, 3)
    assert image[132:158, 202:298].min() == 255
    no_box_image, no_box = perturb(photo(), None, tight)
    assert no_box is None and no_box_image.shape == (150, 200, 3)


def test_gain_blur_and_jpeg_change_pixels_not_geometry():
    original = photo()
    for name in ("dark0.6", "blur1", "jpeg50"):
        image, box = perturb(original, (250.0, 200.0, 100.0, 30.0), PERTURBATIONS[name])
        assert image.shape == original.shape and image.dtype == np.uint8, name
        assert box == (250.0, 200.0, 100.0, 30.0), name
        assert not np.array_equal(image, original), name
    dark, _ = perturb(original, None, PERTURBATIONS["dark0.6"])
    assert dark.mean() == pytest.approx(0.6 * original.mean(), rel=0.01)


def test_cli_eval_refuses_an_unknown_perturbation(tmp_path):
    (tmp_path / "m.csv").write_text("file,plate_norm\nx.jpg,AB123CD\n")
    out = subprocess.run([sys.executable, "-m", "lapi.cli", "eval", "--manifest", str(tmp_path / "m.csv"),
                          "--perturb", "sepia"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode != 0
    assert "--perturb: unknown perturbation 'sepia'" in out.stderr and "scale0.7" in out.stderr
