"""Plate de-skew: a rolled plate comes back level, a slanted one upright; a level, upright one and a blank
crop are left alone."""

import random

import cv2
import numpy as np
import pytest

from lapi import synth
from lapi.reading.rectify import MIN_SHEAR, correction_angle, deskew, level_and_tighten, shear_correction


def rolled_plate(angle: float) -> np.ndarray:
    plate = synth.render_plate("GV-073-KP", synth.STYLES["fr_siv"], 110, random.Random(0))
    padded = cv2.copyMakeBorder(plate, 30, 30, 20, 20, cv2.BORDER_CONSTANT, value=(60, 60, 60))
    h, w = padded.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(padded, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("angle", [-12, -7, -3, 4, 9])
def test_roll_is_undone(angle):
    assert abs(correction_angle(rolled_plate(angle)) + angle) <= 1.0
    assert abs(correction_angle(deskew(rolled_plate(angle)))) <= 1.0


def test_level_plate_and_featureless_crop_are_unchanged():
    level = rolled_plate(0)
    assert deskew(level) is level
    blank = np.full((40, 160, 3), 128, np.uint8)
    assert correction_angle(blank) == 0.0 and deskew(blank) is blank
    assert correction_angle(np.zeros((4, 4, 3), np.uint8)) == 0.0


def slanted_plate(shear: float) -> np.ndarray:
    """A plate whose strokes lean by ``shear`` pixels per row (seen from the side, or an italic face)."""
    plate = synth.render_plate("GV-073-KP", synth.STYLES["fr_siv"], 110, random.Random(0))
    h, w = plate.shape[:2]
    m = np.float64([[1.0, shear, abs(shear) * h / 2 - shear * h / 2], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(plate, m, (w + int(abs(shear) * h), h), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("shear", [-0.4, -0.25, 0.2, 0.35, 0.5])
def test_slant_is_undone(shear):
    assert abs(shear_correction(slanted_plate(shear)) + shear) <= 0.1
    upright = level_and_tighten(slanted_plate(shear))
    assert abs(shear_correction(upright)) <= MIN_SHEAR
    assert upright.shape[1] > slanted_plate(shear).shape[1]  # widened: no column is cut off


def test_upright_plate_and_featureless_band_keep_their_shape():
    plate = slanted_plate(0.0)
    assert shear_correction(plate) == 0.0
    assert level_and_tighten(plate).shape == plate.shape
    assert shear_correction(np.full((40, 160, 3), 128, np.uint8)) == 0.0
    assert shear_correction(np.zeros((4, 4, 3), np.uint8)) == 0.0


def test_tall_crop_is_cut_to_the_text_rows():
    from lapi.reading.rectify import text_rows

    plate = synth.render_plate("GV-073-KP", synth.STYLES["fr_siv"], 60, random.Random(0))
    rng = np.random.default_rng(0)
    above = np.clip(rng.normal(70, 3, (80, plate.shape[1], 3)), 0, 255).astype(np.uint8)  # smooth bumper
    tall = np.vstack([above, plate, above[:50]])
    top, bottom = text_rows(tall)
    assert top <= 80 + 8 and bottom >= 80 + 52, "characters must stay inside the kept rows"
    assert bottom - top < 0.6 * tall.shape[0]
    assert level_and_tighten(tall).shape[0] == bottom - top
    assert level_and_tighten(plate).shape == plate.shape  # already tight: unchanged


def test_bold_lettering_below_a_plate_is_not_taken_for_its_text():
    """A van's name under the plate (bigger, bolder letters) must not be joined to the plate's text as
    a second line, nor win the text rows: the box is wide and centred on the plate."""
    from lapi.reading.rectify import text_rows

    plate = synth.render_plate("DH-605-TQ", synth.STYLES["fr_siv"], 40, random.Random(3))
    h, w = plate.shape[:2]
    crop = np.full((96, w + 50, 3), 235, np.uint8)  # a white van; the box centred on the plate
    crop[26:26 + h, 25:25 + w] = plate
    cv2.putText(crop, "SCHMITZ", (4, 100), cv2.FONT_HERSHEY_DUPLEX, 1.7, (20, 20, 20), 6)  # cut by the box
    top, bottom = text_rows(crop)
    assert top <= 26 + 0.2 * h and bottom >= 26 + 0.8 * h  # the plate's characters are kept
    assert bottom <= 26 + h + 4  # and the lettering below is left out


def test_two_line_plate_splits_between_its_lines_and_one_line_does_not():
    from lapi import synth_ocr
    from lapi.reading.rectify import split_two_lines

    rng = random.Random(5)
    two = synth_ocr.render_training_crop("AB123CD", "FR", (2, 3, 2), "-", rng, two_line_split=5, style="fr_siv")
    halves = split_two_lines(two)
    assert halves is not None
    top, bottom = halves
    assert 0.3 < top.shape[0] / two.shape[0] < 0.7 and 0.3 < bottom.shape[0] / two.shape[0] < 0.7
    one = synth.render_plate("AB-123-CD", synth.STYLES["fr_siv"], 60, rng)
    assert split_two_lines(one) is None


def test_lettering_under_a_plate_in_a_squarish_box_is_not_joined_as_a_second_line():
    """A box squarish enough to hold a two-line plate, around a one-line plate and a dealer's name
    just under it: the two text rows together are too wide to be a two-line plate (the recogniser
    would read them as one line, squeezed), so only the plate's row is kept."""
    from lapi import synth_ocr
    from lapi.reading.rectify import TWO_LINE_MAX_ASPECT, text_rows

    plate = synth.render_plate("DH-605-TQ", synth.STYLES["fr_siv"], 40, random.Random(3))
    h, w = plate.shape[:2]
    crop = np.full((120, w + 20, 3), 235, np.uint8)
    crop[30:30 + h, 10:10 + w] = plate
    cv2.putText(crop, "SCHMITZ", (12, 30 + h + 22), cv2.FONT_HERSHEY_DUPLEX, 1.1, (20, 20, 20), 3)
    assert crop.shape[1] / crop.shape[0] < TWO_LINE_MAX_ASPECT
    top, bottom = text_rows(crop)
    assert top <= 30 + 0.2 * h and bottom >= 30 + 0.8 * h  # the plate's characters are kept
    assert bottom <= 30 + h + 4  # the name under it is not

    # a real two-line plate keeps both its lines
    two = synth_ocr.render_training_crop("AB123CD", "FR", (2, 3, 2), "-", random.Random(5), two_line_split=5,
                                         style="fr_siv")
    top, bottom = text_rows(two)
    assert (bottom - top) / two.shape[0] > 0.6
