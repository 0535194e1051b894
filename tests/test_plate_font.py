"""The stroke-drawn DIN-style plate face (lapi.plate_font) and its use by the synthetic crops."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from lapi import plate_font, synth_ocr
from lapi.plate_font import GLYPHS, render_glyph

PLATE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CAP = 100


def _ink(ch: str) -> np.ndarray:
    return render_glyph(ch, CAP) > 127


def test_every_plate_character_is_drawn_cap_high():
    assert set(GLYPHS) == set(PLATE_CHARS)
    for ch in PLATE_CHARS:
        ink = _ink(ch)
        assert 0.97 * CAP <= ink.shape[0] <= 1.12 * CAP, f"{ch}: {ink.shape[0]} px tall for a {CAP} px cap"
        assert ink.mean() > 0.08, f"{ch}: almost no ink"


def test_widths_are_those_of_a_condensed_face():
    widths = {ch: _ink(ch).shape[1] for ch in PLATE_CHARS}
    digits = [widths[d] for d in "0234567890"]
    assert max(digits) - min(digits) <= 0.1 * CAP  # digits share one width, as on a plate
    assert widths["I"] < 0.2 * CAP
    assert widths["W"] > widths["M"] >= widths["0"]
    assert widths["O"] > widths["0"]  # the letter is rounder than the digit


def test_no_two_characters_look_alike():
    """Aligned top-left on one canvas, any two glyphs differ on at least 8 % of their ink (O and Q,
    which differ by the tail only, come closest at 10 %)."""
    inks = {ch: _ink(ch) for ch in PLATE_CHARS}
    h = max(i.shape[0] for i in inks.values())
    w = max(i.shape[1] for i in inks.values())
    canvas = {}
    for ch, ink in inks.items():
        c = np.zeros((h, w), bool)
        c[:ink.shape[0], :ink.shape[1]] = ink
        canvas[ch] = c
    for a, b in itertools.combinations(PLATE_CHARS, 2):
        union = (canvas[a] | canvas[b]).sum()
        same = (canvas[a] & canvas[b]).sum()
        assert same / union < 0.92, f"{a} and {b} overlap {same / union:.2f}"


@pytest.mark.parametrize("ch, straight_left_stem", [("D", True), ("B", True), ("E", True), ("C", False), ("0", False)])
def test_stems_where_the_plate_face_has_them(ch, straight_left_stem):
    """D, B, E have a left stem over the full height (what tells D from C and 0 under blur)."""
    ink = _ink(ch)
    left = ink[:, : max(2, int(0.06 * CAP))].any(axis=1).mean()
    assert (left > 0.95) == straight_left_stem, f"{ch}: left edge inked on {left:.2f} of the rows"


def test_middle_bar_tells_h_from_n():
    """Half-way down, H is one bar across; N is two stems and the diagonal between them."""

    def runs(ch: str) -> int:
        row = _ink(ch)[CAP // 2].astype(np.int8)
        return int(row[0]) + int(np.count_nonzero(np.diff(row) == 1))

    assert runs("H") == 1 and _ink("H")[CAP // 2].all()
    assert runs("N") == 3


def test_synthetic_crops_draw_the_stroke_face():
    face = synth_ocr._font(synth_ocr._STROKE_FACE)
    assert synth_ocr._STROKE_FACE in dict(synth_ocr._PLATE_FONTS)
    h = face.glyph("H")
    assert h.mask is not None and abs(h.height - 1.0) < 0.05 and abs(h.top) < 0.03
    assert abs(face.stem - plate_font.STROKE) < 1e-9 and 0.4 < face.digit_aspect < 0.7
    # a character the face lacks comes from DejaVu rather than failing
    assert face.glyph("-").mask is not None
    style = synth_ocr._LineStyle(font=synth_ocr._STROKE_FACE, char_aspect=0.5, spacing=0.08, gap=0.4,
                                 dash_w=0.3, dash_h=0.1, dash_y=0.5, jitter=0.0)
    tokens = [("c", c) for c in "DH"] + [("s", "dash")] + [("c", c) for c in "605"]
    mask, seps, _ = synth_ocr._compose_line(tokens, style, 40.0, 300.0, random.Random(0))
    assert len(seps) == 1 and (mask > 127).mean() > 0.1
    cols = np.nonzero((mask > 127).any(axis=0))[0]
    assert cols[-1] - cols[0] > 120  # five characters and a dash, 40 px tall, condensed to half width
    assert abs((cols[0] + cols[-1]) / 2 - 150) < 15  # centred in the box
