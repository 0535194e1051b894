"""Synthetic recogniser crops (lapi.synth_ocr): deterministic, well-formed, every layout drawn, text present, fast."""

from __future__ import annotations

import random
import statistics
import time

import cv2
import numpy as np
import pytest

from lapi import synth_ocr
from lapi.synth_ocr import render_training_crop, style_names

# country -> (text, groups, separator, two-line split), as the grammars print them
CASES = {
    "FR": ("GV073KP", (2, 3, 2), "-", 5),
    "DE": ("MAB1234", (1, 2, 4), " ", 3),
    "BE": ("1ABC123", (1, 3, 3), "-", None),
    "NL": ("GBH12X", (2, 3, 1), "-", None),
    "ES": ("1234BCD", (4, 3), " ", 4),
    "IT": ("AB123CD", (2, 3, 2), " ", None),
    "GB": ("AB12CDE", (4, 3), " ", 4),
    "PL": ("WA12345", (2, 5), " ", None),
    "CZ": ("1T43213", (3, 4), " ", 3),
    "SK": ("BA123AB", (2, 5), "-", None),
    "RO": ("CJ12ABC", (2, 2, 3), " ", None),
    "US": ("ABC1234", (3, 4), " ", 3),
    "BR": ("ABC1D23", (7,), "", 3),
    "ZZ": ("XY12345", (7,), "", None),
}
FNI = ("1234AB56", (4, 2, 2), " ", 6)
BR_OLD = ("ABC1234", (3, 4), "-", 3)


def _crop(seed: int, country: str = "FR", spec=None, two_line: bool = False, style: str | None = None) -> np.ndarray:
    text, groups, sep, split = spec or CASES[country]
    return render_training_crop(text, country, groups, sep, random.Random(seed), split if two_line else None, style=style)


def _check_crop(img: np.ndarray) -> None:
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.uint8
    assert img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] >= 6 and img.shape[1] >= 8
    assert float(img.std()) > 2.0, "crop is a flat blank image"


def test_same_seed_same_crop_other_seed_other_crop():
    a = _crop(123)
    b = _crop(123)
    c = _crop(124)
    assert a.shape == b.shape and np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_only_the_given_rng_is_used():
    random.seed(1)
    np.random.seed(1)
    a = _crop(7, "US")
    random.seed(2)
    np.random.seed(2)
    random.random()
    b = _crop(7, "US")
    assert np.array_equal(a, b)


@pytest.mark.parametrize("country", sorted(CASES))
def test_every_country_renders_one_and_two_lines(country):
    for seed in range(6):
        _check_crop(_crop(seed, country))
        if CASES[country][3] is not None:
            _check_crop(_crop(seed, country, two_line=True))


@pytest.mark.parametrize("style", style_names())
def test_every_style_renders(style):
    spec = FNI if style.startswith("fr_fni") else BR_OLD if style == "br_grey" else CASES["FR"]
    for seed in range(5):
        _check_crop(_crop(seed, "ZZ", spec=spec, style=style))
        _check_crop(_crop(seed, "ZZ", spec=spec, style=style, two_line=True))


def test_country_picks_its_layouts():
    rng = random.Random(0)
    assert synth_ocr.pick_style("FR", "GV073KP", "-", rng) in ("fr_siv", "fr_fni_black")
    assert synth_ocr.pick_style("FR", "1234AB56", " ", rng).startswith("fr_fni")
    assert synth_ocr.pick_style("BR", "ABC1D23", "", rng) == "br_mercosur"
    assert synth_ocr.pick_style("DE", "MAB1234", " ", rng) == "de"
    assert synth_ocr.pick_style("US", "ABC1234", " ", rng) == "us"
    assert all(synth_ocr.pick_style("XX", "AB123", "", rng) in style_names() for _ in range(20))
    with pytest.raises(ValueError):
        _crop(0, style="no_such_style")


def test_two_line_split_puts_the_rest_on_the_second_line():
    lines = synth_ocr._split_lines("GV073KP", (2, 3, 2), "-", 5)
    chars = ["".join(v for t, v in line if t == "c") for line in lines]
    assert chars == ["GV073", "KP"]
    assert lines[1][0][0] == "c", "the second line must not start with a separator"
    assert len(synth_ocr._split_lines("GV073KP", (2, 3, 2), "-", None)) == 1
    # groups that do not add up fall back to one group instead of failing
    assert "".join(v for t, v in synth_ocr._split_lines("ABC12", (2, 2), "-", None)[0] if t == "c") == "ABC12"


def test_two_line_plates_are_squarer():
    one = [(lambda im: im.shape[1] / im.shape[0])(_crop(s, "FR")) for s in range(25)]
    two = [(lambda im: im.shape[1] / im.shape[0])(_crop(s, "FR", two_line=True)) for s in range(25)]
    assert statistics.median(one) > 2.2
    assert statistics.median(two) < 1.9
    assert statistics.median(two) < statistics.median(one) * 0.6


def test_text_height_and_crop_size_vary():
    heights = [_crop(s, "FR").shape[0] for s in range(40)]
    assert min(heights) < 25 and max(heights) > 70  # low-resolution and close-up crops both drawn


def test_characters_are_actually_drawn():
    """Same seed, different registration of the same shape: the crops differ, and where the text is."""
    diffs = []
    for seed in range(20):
        a = render_training_crop("AB123CD", "FR", (2, 3, 2), "-", random.Random(seed))
        b = render_training_crop("XZ987WY", "FR", (2, 3, 2), "-", random.Random(seed))
        assert a.shape == b.shape  # only the text changed, nothing else drawn from the rng
        d = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)
        diffs.append(float(d.mean()))
        if seed < 5:
            # the difference concentrates in the middle of the crop (the characters), not at the edges
            h, w = d.shape
            centre = d[h // 4:3 * h // 4, w // 5:4 * w // 5].mean()
            border = np.concatenate([d[:, :max(1, w // 20)].ravel(), d[:, -max(1, w // 20):].ravel()]).mean()
            assert centre > border
    assert statistics.median(diffs) > 4.0


def test_clean_plate_has_dark_ink_on_light_background(monkeypatch):
    """Without camera effects a French plate shows dark characters on white: ink pixels differ from the ground."""
    monkeypatch.setattr(synth_ocr, "_camera", lambda img, mode, th, rng: np.clip(img, 0, 255).astype(np.uint8))
    monkeypatch.setattr(synth_ocr, "_MODE_WEIGHTS", (1.0, 0.0, 0.0, 0.0, 0.0))
    for seed in range(5):
        img = render_training_crop("GV073KP", "FR", (2, 3, 2), "-", random.Random(seed), style="fr_siv")
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape
        centre = grey[h // 3:2 * h // 3, w // 4:3 * w // 4]
        dark = (centre < np.percentile(centre, 90) * 0.5).mean()
        assert 0.05 < dark < 0.7, f"seed {seed}: ink share {dark:.2f} in the plate centre"


def test_fast_enough():
    rng = random.Random(0)
    specs = [synth_ocr.random_spec(rng) for _ in range(120)]
    render_training_crop(*specs[0][:4], rng, specs[0][4])  # warm the glyph cache
    t0 = time.perf_counter()
    for text, country, groups, sep, split in specs:
        render_training_crop(text, country, groups, sep, rng, split)
    rate = len(specs) / (time.perf_counter() - t0)
    print(f"synthetic crops: {rate:.0f}/s")
    assert rate > 30  # ~150/s on one idle core; loose so a busy CI machine does not fail it


def test_contact_sheet_cli(tmp_path):
    out = tmp_path / "sheet.png"
    assert synth_ocr.main(["--sheet", str(out), "--n", "6", "--seed", "3", "--columns", "3"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] == 2 * 84 and sheet.shape[1] == 3 * 340


def test_flat_plate_for_compositing_has_its_alpha_mask():
    rng = random.Random(4)
    plate, alpha = synth_ocr.render_flat_plate("GV073KP", "FR", (2, 3, 2), "-", rng, ppm=1.0)
    assert plate.dtype == np.uint8 and alpha.dtype == np.uint8 and plate.shape[:2] == alpha.shape
    assert 2.5 < plate.shape[1] / plate.shape[0] < 6  # a one-line EU plate is ~520 x 110 mm (+ holder)
    assert alpha.max() == 255 and (alpha > 0).mean() > 0.8


def test_posed_quad_turns_and_rolls_the_plate():
    from lapi.synth import posed_quad, quad_to_box

    flat = posed_quad((100, 50), 104, 104 / 22, 0, 0)
    assert np.allclose(quad_to_box(flat), (48, 39, 104, 22), atol=1e-4)
    x, y, w, h = quad_to_box(posed_quad((100, 50), 104, 104 / 22, 0, 40))
    assert w < 104 * 0.8 and h > 22  # turned away: narrower, near edge taller
    _, _, w_roll, h_roll = quad_to_box(posed_quad((100, 50), 104, 104 / 22, 15, 0))
    assert h_roll > 22 + 104 * 0.2  # rolled: the axis-aligned box grows in height


def test_fixed_width_cells_centre_a_narrow_letter():
    """Slovak/Czech/Polish fonts put I in a digit-wide cell: with cells the line is wider and the I's
    ink sits in the middle of the gap between its neighbours; without, I hugs them."""

    def ink_runs(cells: bool) -> list[tuple[int, int]]:
        style = synth_ocr._LineStyle(font="sans_b", char_aspect=0.5, spacing=0.08, gap=0.4, dash_w=0.3,
                                     dash_h=0.1, dash_y=0.5, jitter=0.0, cells=cells)
        tokens = [("c", "0"), ("c", "I"), ("c", "0")]
        mask, _, _ = synth_ocr._compose_line(tokens, style, 60.0, 400.0, random.Random(0), stretch=False,
                                             normalise=False)
        cols = (mask > 127).any(axis=0)
        runs, start = [], None
        for x, on in enumerate(cols):
            if on and start is None:
                start = x
            elif not on and start is not None:
                runs.append((start, x))
                start = None
        return runs

    proportional, celled = ink_runs(False), ink_runs(True)
    assert len(proportional) == len(celled) == 3
    gap = lambda runs: (runs[1][0] - runs[0][1], runs[2][0] - runs[1][1])  # noqa: E731
    left, right = gap(celled)
    assert abs(left - right) <= 2  # centred in its cell
    assert left > gap(proportional)[0] + 5  # and clear of its neighbours
