"""Synthetic plate crops for training the recogniser, drawn to look like real detector crops.

:mod:`lapi.synth` draws clean plates for the detector; the recogniser needs something else: the
crop a plate detector cuts out of a photo — a plate in its real layout (bands, stickers, state
names, dealer print) seen at an angle, with a bit of car body around it, lit by day, dusk or an
infra-red flash, dirty, blurred and JPEG-compressed, its characters anywhere from ~10 to ~80 px
tall.  :func:`render_training_crop` draws one such crop from a registration text and a country.

Only DejaVu fonts are available, so the condensed, uniform-stroke plate fonts (FE-Schrift, the
French DIN-like font, Charles Wright...) are approximated two ways: glyphs of several DejaVu faces
condensed horizontally, and a DIN-style face drawn from strokes (:mod:`lapi.plate_font`); the
strokes of both are thickened or thinned to a random uniform weight.

Everything random comes from the ``random.Random`` passed in: a seed gives the same crop.
Glyph masks are rendered once per process and cached, so a crop costs a few milliseconds.

``python -m lapi.synth_ocr --sheet OUT.png --n 48 --seed 0`` writes a contact sheet to look at.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lapi import plate_font

Colour = tuple[float, float, float]  # BGR, 0..255

# --- fonts and glyphs ---------------------------------------------------------------------------

_SYSTEM_FONTS = Path("/usr/share/fonts/truetype/dejavu")


def _font_dirs() -> list[Path]:
    dirs = [_SYSTEM_FONTS]
    spec = importlib.util.find_spec("matplotlib")  # matplotlib ships DejaVu copies (no import needed)
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf")
    return dirs


# font key -> file names in preference order (the first one found is used)
_FONT_FILES = {
    "cond_b": ("DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Bold.ttf"),
    "sans_b": ("DejaVuSans-Bold.ttf",),
    "mono_b": ("DejaVuSansMono-Bold.ttf", "DejaVuSans-Bold.ttf"),
    "cond": ("DejaVuSansCondensed.ttf", "DejaVuSans.ttf"),
    "sans": ("DejaVuSans.ttf",),
    "mono": ("DejaVuSansMono.ttf", "DejaVuSans.ttf"),
    "serif_b": ("DejaVuSerif-Bold.ttf", "DejaVuSans-Bold.ttf"),
    "serif_bi": ("DejaVuSerif-BoldItalic.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSans-Bold.ttf"),
    "sans_bo": ("DejaVuSans-BoldOblique.ttf", "DejaVuSans-Bold.ttf"),
}
_STROKE_FACE = "din"  # the stroke-drawn DIN-style face of lapi.plate_font
# faces used for registration characters, with their draw weights
_PLATE_FONTS = (("cond_b", 5), ("sans_b", 3), ("mono_b", 2), ("cond", 1), ("sans", 1), ("mono", 1),
                (_STROKE_FACE, 6))


@dataclass(frozen=True)
class _Glyph:
    mask: np.ndarray | None  # uint8 ink mask cropped to the ink, None for a blank glyph
    top: float  # ink top below the cap line, in cap heights (0: on the cap line)
    width: float  # ink width, in cap heights
    height: float  # ink height, in cap heights


class _GlyphFont:
    """One face rendered large once; glyphs are cut to their ink and cached per character."""

    SIZE = 112

    def __init__(self, path: Path | None) -> None:
        self.font = ImageFont.truetype(str(path), self.SIZE) if path else ImageFont.load_default(size=self.SIZE)
        top = self.font.getbbox("H", anchor="ls")[1]
        self.cap = float(max(1, -top))
        self._glyphs: dict[str, _Glyph] = {}
        self.stem, self.bar = self._stroke_widths()
        zero = self.glyph("0")
        self.digit_aspect = zero.width if zero.mask is not None else 0.6

    def glyph(self, ch: str) -> _Glyph:
        g = self._glyphs.get(ch)
        if g is None:
            g = self._glyphs[ch] = self._render(ch)
        return g

    def _stroke_widths(self) -> tuple[float, float]:
        """(vertical stem width, horizontal bar thickness) of the face, in cap heights, measured on "H"."""
        h = self.glyph("H")
        if h.mask is None:
            return 0.15, 0.14
        m = h.mask > 127
        row = m[m.shape[0] // 4]
        col = m[:, m.shape[1] // 2]
        stem = int(np.argmin(row)) if row[0] and not row.all() else max(1, int(row.sum()) // 2)
        bar = max(1, int(col.sum()))
        return stem / self.cap, bar / self.cap

    def _render(self, ch: str) -> _Glyph:
        left, top, right, bottom = self.font.getbbox(ch, anchor="ls")
        if right <= left or bottom <= top:
            return _Glyph(None, 0.0, max(0.2, self.font.getlength(ch) / self.cap), 0.0)
        img = Image.new("L", (right - left + 4, bottom - top + 4), 0)
        ImageDraw.Draw(img).text((2 - left, 2 - top), ch, font=self.font, fill=255, anchor="ls")
        arr = np.asarray(img)
        ys, xs = np.nonzero(arr > 8)
        if len(ys) == 0:
            return _Glyph(None, 0.0, max(0.2, self.font.getlength(ch) / self.cap), 0.0)
        arr = _plate_shape(ch, arr.copy())
        ys, xs = np.nonzero(arr > 8)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        mask = np.ascontiguousarray(arr[y0:y1, x0:x1])
        top_from_baseline = y0 - 2 + top  # negative: above the baseline
        return _Glyph(mask, 1.0 + top_from_baseline / self.cap, (x1 - x0) / self.cap, (y1 - y0) / self.cap)


class _StrokeFont(_GlyphFont):
    """The DIN-style face of :mod:`lapi.plate_font` behind :class:`_GlyphFont`'s interface; a character
    it does not draw comes from DejaVu Sans Condensed Bold."""

    def __init__(self) -> None:  # noqa: D107 - no font file: the strokes are the face
        self.cap = float(self.SIZE)
        self._glyphs = {}
        self.stem = self.bar = plate_font.STROKE
        self.digit_aspect = self.glyph("0").width

    def _render(self, ch: str) -> _Glyph:
        if ch not in plate_font.GLYPHS:
            return _font("cond_b").glyph(ch)
        mask = plate_font.render_glyph(ch, self.SIZE)
        return _Glyph(mask, plate_font.ink_top(ch), mask.shape[1] / self.cap, mask.shape[0] / self.cap)


def _plate_shape(ch: str, arr: np.ndarray) -> np.ndarray:
    """Nudge DejaVu shapes towards plate fonts: no dot in "0", no foot on "1", no serifs on "I"."""
    if ch == "0":  # DejaVu Mono's zero has a dot inside: keep the ring only
        n, labels, stats, _ = cv2.connectedComponentsWithStats((arr > 8).astype(np.uint8), connectivity=8)
        if n > 2:
            keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            arr[(labels != keep) & (labels != 0)] = 0
    elif ch in "1I":
        if ch == "1":  # room on the left for the flag
            arr = np.pad(arr, ((0, 0), (arr.shape[0] // 3, 0)))
        ys, xs = np.nonzero(arr > 127)
        if len(ys):
            top, bottom = ys.min(), ys.max()
            height = bottom - top + 1
            mid = arr[top + height // 2] > 127
            cols = np.nonzero(mid)[0]
            if len(cols):
                outside = np.ones(arr.shape[1], bool)
                outside[max(0, cols.min() - 1):cols.max() + 2] = False
                foot = top + int(height * 0.8)
                arr[foot:, outside] = 0
                if ch == "1":  # DejaVu's flag is short: draw the long plate-font flag over it
                    stem = cols.max() - cols.min() + 1
                    x0 = cols.min() + stem * 0.5
                    tip = (max(stem * 0.5, x0 - height * 0.3), top + height * 0.3)
                    cv2.line(arr, (int(round(x0)), int(top + stem * 0.5)), (int(round(tip[0])), int(round(tip[1]))),
                             255, max(1, int(round(stem * 0.85))), cv2.LINE_AA)
                if ch == "I":
                    arr[:top + int(height * 0.2) + 1, outside] = 0
    return arr


@lru_cache(maxsize=None)
def _font(key: str) -> _GlyphFont:
    if key == _STROKE_FACE:
        return _StrokeFont()
    for name in _FONT_FILES[key]:
        for d in _font_dirs():
            if (d / name).exists():
                return _GlyphFont(d / name)
    return _GlyphFont(None)


# --- text lines ---------------------------------------------------------------------------------

_SEP_GAP = "gap"
_SEP_DASH = "dash"
_SEP_DOT = "dot"
_SEP_NONE = "none"


def _separator_kind(separator: str) -> str:
    if separator == "":
        return _SEP_NONE
    if separator.isspace():
        return _SEP_GAP
    if separator in ("·", ".", "•"):
        return _SEP_DOT
    return _SEP_DASH


def _split_lines(text: str, groups: tuple[int, ...], separator: str,
                 two_line_split: int | None) -> list[list[tuple[str, str]]]:
    """Token lines: ("c", char) for characters, ("s", kind) for a separator between groups.

    Groups that do not cover the text fall back to one group; a line break drops the separator.
    """
    if not groups or sum(groups) != len(text) or any(g <= 0 for g in groups):
        groups = (len(text),)
    kind = _separator_kind(separator)
    tokens: list[tuple[str, str]] = []
    start = 0
    for gi, size in enumerate(groups):
        if gi and kind != _SEP_NONE:
            tokens.append(("s", kind))
        tokens.extend(("c", ch) for ch in text[start:start + size])
        start += size
    if two_line_split is None or not 0 < two_line_split < len(text):
        return [tokens]
    count = 0
    for i, (t, _) in enumerate(tokens):
        if t == "c":
            count += 1
            if count == two_line_split:
                top = tokens[:i + 1]
                bottom = tokens[i + 1:]
                while bottom and bottom[0][0] == "s":
                    bottom = bottom[1:]
                return [top, bottom]
    return [tokens]


@dataclass
class _LineStyle:
    font: str
    char_aspect: float  # width / height of a "0"
    spacing: float  # gap between characters, in character heights
    gap: float  # width of a blank separator, in character heights
    dash_w: float
    dash_h: float
    dash_y: float  # dash centre below the cap line, in character heights
    emblem_w: float = 0.0  # width of the first separator gap when it carries stickers/emblem
    jitter: float = 0.015  # baseline jitter, in character heights
    stroke: float = 0.13  # target stroke width, in character heights
    fill: float = 0.95  # share of the box width the line stretches to when it is narrower
    cells: bool = False  # fixed-width cells: a narrow glyph (I, 1) sits centred in a digit-wide cell,
    # as in the Slovak, Czech and Polish plate fonts, instead of hugging its neighbours


def _compose_line(tokens: list[tuple[str, str]], style: _LineStyle, th: float, box_w: float,
                  rng: random.Random, stretch: bool = True,
                  normalise: bool = True) -> tuple[np.ndarray, list[float], float]:
    """Draw one line as an ink mask fitted into ``box_w`` pixels, characters ``th`` px tall.

    Returns (uint8 mask whose row ``ceil(0.15 * th)`` is the cap line, separator centres in x, th
    actually used: shrunk when the line cannot fit condensed enough).
    """
    font = _font(style.font)
    cond = style.char_aspect / max(0.2, font.digit_aspect)
    widths: list[float] = []
    first_sep = True
    for t, v in tokens:
        if t == "c":
            ink_w = font.glyph(v).width
            widths.append((max(ink_w, font.digit_aspect) if style.cells else ink_w) * cond)
            continue
        if v == _SEP_GAP:
            w = style.gap
        elif v == _SEP_DASH:
            w = style.dash_w
        elif v == _SEP_DOT:
            w = style.dash_h * 1.6
        else:
            w = 0.0
        if first_sep and style.emblem_w:
            w = max(w, style.emblem_w)
        first_sep = False
        widths.append(w)
    n = len(tokens)
    unit = sum(widths) + style.spacing * max(0, n - 1)  # line width per pixel of character height
    natural = unit * th
    xs = 1.0
    if natural > box_w:
        xs = box_w / natural
        if xs < 0.62:  # cannot condense further: make the characters smaller instead
            th *= xs / 0.62
            xs = 0.62
    elif stretch and natural < box_w * style.fill:
        xs = min(box_w * style.fill / natural, 1.18)
    line_w = unit * th * xs
    pad = int(math.ceil(0.15 * th))
    mask = np.zeros((int(math.ceil(th * 1.35)) + pad, max(1, int(math.ceil(box_w)))), np.uint8)
    x = (box_w - line_w) / 2.0
    seps: list[tuple[float, str, bool]] = []
    for (t, v), w in zip(tokens, widths):
        wpx = w * th * xs
        if t == "c":
            g = font.glyph(v)
            if g.mask is not None:
                gw = max(1, int(round(g.width * cond * th * xs)))
                gh = max(1, int(round(g.height * th)))
                interp = cv2.INTER_AREA if gh < g.mask.shape[0] else cv2.INTER_LINEAR
                gm = cv2.resize(g.mask, (gw, gh), interpolation=interp)
                gy = int(round(pad + g.top * th + rng.gauss(0, style.jitter) * th))
                _max_into(mask, gm, int(round(x + max(0.0, wpx - gw) / 2.0)), gy)
        else:
            seps.append((x + wpx / 2.0, v, bool(style.emblem_w) and not seps))
        x += wpx + style.spacing * th * xs
    if normalise:
        mask = _normalise_stroke(mask, style, th, cond * xs)
    stroke = max(1.0, style.stroke * th)
    for cx, kind, emblem in seps:
        cy = pad + style.dash_y * th
        if kind == _SEP_DASH and not emblem:
            dw = style.dash_w * th * xs * 0.8
            dh = max(1.0, stroke * rng.uniform(0.7, 1.0))
            _fill_rect(mask, cx - dw / 2, cy - dh / 2, cx + dw / 2, cy + dh / 2)
        elif kind == _SEP_DOT:
            r = max(0.8, stroke * 0.6)
            cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 16)), 255, -1, cv2.LINE_AA, 4)
    return mask, [cx for cx, _, _ in seps], th


def _fill_rect(mask: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> None:
    """Anti-aliased filled axis-aligned rectangle (sub-pixel edges)."""
    f = 16
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) * f
    cv2.fillConvexPoly(mask, np.round(pts).astype(np.int32), 255, cv2.LINE_AA, 4)


def _max_into(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    h, w = src.shape[:2]
    H, W = dst.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    sub = src[y0 - y:y1 - y, x0 - x:x1 - x]
    np.maximum(dst[y0:y1, x0:x1], sub, out=dst[y0:y1, x0:x1])


def _normalise_stroke(mask: np.ndarray, style: _LineStyle, th: float, cond: float) -> np.ndarray:
    """Thicken/thin strokes towards ``style.stroke`` so condensed glyphs keep a uniform stroke."""
    font = _font(style.font)
    target = style.stroke * th
    stems = font.stem * cond * th  # vertical strokes after condensation
    bars = font.bar * th  # horizontal strokes
    kx, ky = target - stems, target - bars
    dx, dy = max(0, int(round(kx))), max(0, int(round(ky)))
    if dx or dy:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (dx + 1, dy + 1)))
    ex = max(0, int(round(min(-kx, 0.45 * stems))))
    ey = max(0, int(round(min(-ky, 0.45 * bars))))
    if ex or ey:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ex + 1, ey + 1)))
    return mask


def _label_mask(text: str, font_key: str, box_w: float, box_h: float, aspect: float,
                rng: random.Random) -> tuple[np.ndarray, int]:
    """A small text (band code, state name, dealer print) fitted into a box. Returns (mask, pad)."""
    style = _LineStyle(font=font_key, char_aspect=aspect, spacing=0.06, gap=0.3, dash_w=0.3,
                       dash_h=0.1, dash_y=0.5, jitter=0.0)
    tokens = [("c", ch) if not ch.isspace() else ("s", _SEP_GAP) for ch in text]
    mask, _, th = _compose_line(tokens, style, box_h, box_w, rng, stretch=False, normalise=False)
    return mask, int(math.ceil(0.15 * th))


# --- small drawing helpers ----------------------------------------------------------------------


def _blend_mask(canvas: np.ndarray, mask: np.ndarray, x: float, y: float, colour: Colour, opacity: float = 1.0) -> None:
    """Paint ``colour`` through a uint8 ``mask`` whose top-left goes at (x, y) of a float canvas."""
    bx, by, bw, bh = cv2.boundingRect(mask)  # only the inked part costs anything
    if bw == 0 or bh == 0:
        return
    H, W = canvas.shape[:2]
    xi, yi = int(round(x)) + bx, int(round(y)) + by
    mask = mask[by:by + bh, bx:bx + bw]
    x0, y0, x1, y1 = max(0, xi), max(0, yi), min(W, xi + bw), min(H, yi + bh)
    if x1 <= x0 or y1 <= y0:
        return
    a = cv2.cvtColor(mask[y0 - yi:y1 - yi, x0 - xi:x1 - xi], cv2.COLOR_GRAY2BGR)
    region = canvas[y0:y1, x0:x1]
    diff = np.asarray(colour, np.float32) - region  # region += (colour - region) * alpha
    diff = cv2.multiply(diff, a, scale=opacity / 255.0, dtype=cv2.CV_32F)
    region += diff


def _draw_label(canvas: np.ndarray, text: str, box: tuple[float, float, float, float], colour: Colour,
                font_key: str, rng: random.Random, aspect: float = 0.6, align: str = "center",
                opacity: float = 1.0) -> None:
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    if bw < 2 or bh < 2:
        return
    mask, pad = _label_mask(text, font_key, bw, bh, aspect, rng)
    cols = np.nonzero(mask.max(axis=0))[0]
    if len(cols) == 0:
        return
    if align == "left":
        x = x0 - cols[0]
    elif align == "right":
        x = x1 - cols[-1] - 1
    else:
        x = x0
    _blend_mask(canvas, mask, x, y0 - pad, colour, opacity)


def _rounded_rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, r: float, value) -> None:
    s = 4  # sub-pixel bits
    f = 1 << s
    r = max(0.0, min(r, (x1 - x0) / 2, (y1 - y0) / 2))
    X0, Y0, X1, Y1, R = (int(round(v * f)) for v in (x0, y0, x1, y1, r))
    cv2.rectangle(img, (X0 + R, Y0), (X1 - R, Y1), value, -1, cv2.LINE_AA, s)
    cv2.rectangle(img, (X0, Y0 + R), (X1, Y1 - R), value, -1, cv2.LINE_AA, s)
    if R > 0:
        for cx, cy in ((X0 + R, Y0 + R), (X1 - R, Y0 + R), (X0 + R, Y1 - R), (X1 - R, Y1 - R)):
            cv2.circle(img, (cx, cy), R, value, -1, cv2.LINE_AA, s)


def _jit(c: Colour, rng: random.Random, amount: float = 12.0) -> Colour:
    return tuple(float(min(255.0, max(0.0, v + rng.uniform(-amount, amount)))) for v in c)  # type: ignore[return-value]


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


# --- layouts ------------------------------------------------------------------------------------

EU_BLUE: Colour = (153.0, 51.0, 0.0)
_STAR_YELLOW: Colour = (0.0, 204.0, 255.0)
_WHITE: Colour = (242.0, 242.0, 240.0)
_BLACK_INK: Colour = (25.0, 25.0, 25.0)
_FR_DEPARTMENTS = [f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B", "971", "972", "973", "974", "976"]
_IT_PROVINCES = ["RM", "MI", "TO", "NA", "FI", "BO", "GE", "VE", "PA", "BA", "CT", "VR", "BS", "PD", "BG"]
_US_STATES = [
    "CALIFORNIA", "California", "TEXAS", "Texas", "NEW YORK", "Florida", "FLORIDA", "Illinois", "OHIO", "Georgia",
    "Michigan", "MICHIGAN", "ARIZONA", "Washington", "WASHINGTON", "Oregon", "NEVADA", "UTAH", "Colorado",
    "Virginia", "VIRGINIA", "Maryland", "New Jersey", "PENNSYLVANIA", "Massachusetts", "Tennessee", "Louisiana",
    "ALABAMA", "Kentucky", "INDIANA", "Wisconsin", "Minnesota", "IOWA", "MISSOURI", "Kansas", "OKLAHOMA",
    "IDAHO", "Montana", "WYOMING", "ALASKA", "HAWAII", "Maine", "Vermont", "NEW HAMPSHIRE", "Connecticut",
    "DELAWARE", "North Carolina", "SOUTH CAROLINA", "Mississippi", "Arkansas", "NEBRASKA", "South Dakota",
    "NORTH DAKOTA", "New Mexico", "West Virginia", "Rhode Island", "WASHINGTON, DC",
]
_US_SLOGANS = [
    "Sunshine State", "THE EMPIRE STATE", "Garden State", "Land of Lincoln", "Pure Michigan", "Live Free or Die",
    "FAMOUS POTATOES", "The Lone Star State", "Evergreen State", "Grand Canyon State", "Peach State",
    "Heart of Dixie", "Vacationland", "SHOW-ME STATE", "Explore Minnesota", "Wild, Wonderful",
    "America's Dairyland", "ALOHA STATE", "Colorful Colorado", "IN GOD WE TRUST", "Constitution State",
    "Ocean State", "First in Flight", "Discover the Spirit", "Volunteer State", "Sportsman's Paradise",
    "Land of Enchantment", "The First State", "Greatest Snow on Earth", "Centennial State", "Big Sky Country",
    "dmv.ca.gov", "Keystone State", "Great Faces. Great Places.", "Spirit of America", "Preserve the Trust",
]
_BR_CITIES = [
    "SP-SAO PAULO", "BA-SALVADOR", "RJ-RIO DE JANEIRO", "MG-BELO HORIZONTE", "PR-CURITIBA", "RS-PORTO ALEGRE",
    "SC-FLORIANOPOLIS", "GO-GOIANIA", "PE-RECIFE", "CE-FORTALEZA", "DF-BRASILIA", "ES-VITORIA", "BA-CAMACARI",
    "SP-CAMPINAS", "BA-LAURO DE FREITAS", "AM-MANAUS", "PA-BELEM", "MG-UBERLANDIA", "SP-SANTOS", "BA-ITABUNA",
]
_CAR_COLOURS: tuple[Colour, ...] = (
    (235, 235, 235), (200, 200, 205), (160, 160, 165), (110, 110, 115), (40, 40, 45), (20, 20, 22),
    (40, 40, 170), (30, 30, 120), (140, 70, 20), (90, 40, 10), (50, 90, 40), (150, 190, 210), (60, 110, 170),
    (180, 180, 175), (70, 60, 55),
)


@dataclass
class _Layout:
    """A concrete plate design in millimetres (drawn from a style with random details)."""

    name: str
    w: float
    h: float
    bg: Colour
    ink: Colour
    text_h: float  # character height, mm
    line: _LineStyle
    left: str | None = None  # "EU", "UK", "GREEN", "SKNEW"
    left_code: str = ""
    left_w: float = 0.0
    right: str | None = None  # "FR", "IT"
    right_w: float = 0.0
    header: str | None = None  # "MERCOSUR", "US", "CITY"
    header_h: float = 0.0
    footer: str | None = None  # "US", "DEALER"
    footer_h: float = 0.0
    border: Colour | None = None
    border_w: float = 1.2
    emblem: str | None = None  # drawn in the first separator gap: "DE2", "DE1", "CZSK", "SKARMS", "PL", "LOGO"
    emboss: float = 0.0  # relief of embossed characters, mm
    corner: float = 4.0
    margin: float = 6.0  # between bands/edges and the characters, mm
    gradient: tuple[Colour, Colour] | None = None  # US-style background gradient (top, bottom)
    graphics: int = 0  # US-style background shapes
    stickers: int = 0  # US registration stickers in the corners
    text_dy: float = 0.0  # vertical offset of the characters, mm
    extra: dict = field(default_factory=dict)


def _line_style(rng: random.Random, aspect: tuple[float, float], stroke: tuple[float, float] = (0.11, 0.16),
                fonts=_PLATE_FONTS, spacing: tuple[float, float] = (0.05, 0.16),
                dash: tuple[float, float] = (0.18, 0.3), gap: tuple[float, float] = (0.28, 0.6),
                cells_p: float = 0.2) -> _LineStyle:
    font = rng.choices([f for f, _ in fonts], weights=[w for _, w in fonts])[0]
    return _LineStyle(
        font=font, char_aspect=rng.uniform(*aspect), spacing=rng.uniform(*spacing), gap=rng.uniform(*gap),
        dash_w=rng.uniform(*dash), dash_h=rng.uniform(0.08, 0.13), dash_y=rng.uniform(0.45, 0.55),
        jitter=rng.uniform(0.0, 0.02), stroke=rng.uniform(*stroke), fill=rng.uniform(0.86, 0.99),
        cells=rng.random() < cells_p)


def _eu(rng: random.Random, name: str, code: str, bg: Colour = _WHITE, ink: Colour = _BLACK_INK,
        text_h: float = 75.0, aspect=(0.47, 0.6), **kw) -> _Layout:
    band = kw.pop("left", "EU")
    lay = _Layout(name=name, w=520.0, h=rng.uniform(110, 114), bg=_jit(bg, rng, 10), ink=_jit(ink, rng, 12),
                  text_h=text_h * rng.uniform(0.94, 1.03), line=kw.pop("line", None) or _line_style(rng, aspect),
                  left=band, left_code=code, left_w=rng.uniform(40, 48) if band else 0.0,
                  border=kw.pop("border", (30, 30, 30) if rng.random() < 0.45 else None),
                  corner=rng.uniform(2, 8), margin=rng.uniform(4, 10), **kw)
    if rng.random() < 0.3:
        lay.footer, lay.footer_h = "DEALER", rng.uniform(6, 10)
    return lay


def _style_fr_siv(rng: random.Random) -> _Layout:
    lay = _eu(rng, "fr_siv", "F", bg=(245, 245, 245), text_h=75, aspect=(0.46, 0.62), right="FR")
    lay.right_w = lay.left_w * rng.uniform(0.95, 1.05)
    if rng.random() < 0.5:
        lay.footer, lay.footer_h = "DEALER", rng.uniform(6, 10)
    return lay


def _style_fr_fni_black(rng: random.Random) -> _Layout:
    silver = rng.uniform(190, 235)
    lay = _eu(rng, "fr_fni_black", "", bg=(rng.uniform(15, 45),) * 3, ink=(silver, silver, silver * 0.97),
              text_h=72, aspect=(0.5, 0.66), left=None, border=None)
    lay.emboss = rng.uniform(0.6, 1.6) if rng.random() < 0.7 else 0.0
    lay.footer = None
    lay.border = (200, 200, 200) if rng.random() < 0.4 else None
    return lay


def _style_fr_fni_white(rng: random.Random) -> _Layout:
    return _eu(rng, "fr_fni_white", "F", text_h=72, aspect=(0.48, 0.64), left="EU" if rng.random() < 0.5 else None)


def _style_fr_fni_yellow(rng: random.Random) -> _Layout:
    return _eu(rng, "fr_fni_yellow", "F", bg=(30, 195, 245), text_h=72, aspect=(0.48, 0.64),
               left="EU" if rng.random() < 0.5 else None)


def _style_de(rng: random.Random) -> _Layout:
    lay = _eu(rng, "de", "D", text_h=75, aspect=(0.42, 0.55), border=(25, 25, 25) if rng.random() < 0.8 else None)
    lay.emblem = rng.choices(["DE2", "DE1", None], weights=[0.6, 0.25, 0.15])[0]
    lay.line.emblem_w = 0.62 if lay.emblem else 0.0
    return lay


def _style_be(rng: random.Random) -> _Layout:
    red = (rng.uniform(30, 60), rng.uniform(15, 40), rng.uniform(130, 175))
    return _eu(rng, "be", "B", ink=red, text_h=rng.uniform(62, 72), aspect=(0.5, 0.62), border=red)


def _style_nl(rng: random.Random) -> _Layout:
    return _eu(rng, "nl", "NL", bg=(0, 190, 250), text_h=rng.uniform(66, 75), aspect=(0.45, 0.58),
               border=(25, 25, 25) if rng.random() < 0.7 else None)


def _style_es(rng: random.Random) -> _Layout:
    return _eu(rng, "es", "E", text_h=rng.uniform(70, 78), aspect=(0.48, 0.6), border=(25, 25, 25))


def _style_it(rng: random.Random) -> _Layout:
    lay = _eu(rng, "it", "I", text_h=rng.uniform(64, 72), aspect=(0.45, 0.58), right="IT")
    lay.right_w = lay.left_w * rng.uniform(0.9, 1.05)
    return lay


def _style_gb(rng: random.Random) -> _Layout:
    rear = rng.random() < 0.5
    band = rng.choices([None, "EU", "UK", "GREEN"], weights=[0.45, 0.25, 0.2, 0.1])[0]
    lay = _eu(rng, "gb_yellow" if rear else "gb_white", "GB", bg=(0, 205, 255) if rear else _WHITE,
              text_h=79, aspect=(0.55, 0.7), left=band, border=None,
              line=_line_style(rng, (0.55, 0.7), stroke=(0.12, 0.16), fonts=(("sans_b", 3), ("cond_b", 2), ("mono_b", 1))))
    if band == "UK":
        lay.left_code = "UK"
    return lay


def _style_pl(rng: random.Random) -> _Layout:
    lay = _eu(rng, "pl", "PL", text_h=rng.uniform(70, 78), aspect=(0.45, 0.58))
    lay.line.cells = rng.random() < 0.7
    if rng.random() < 0.5:
        lay.emblem = "PL"
        lay.line.emblem_w = 0.45
    return lay


def _style_cz(rng: random.Random) -> _Layout:
    lay = _eu(rng, "cz", "CZ", text_h=rng.uniform(70, 78), aspect=(0.42, 0.55))
    lay.line.cells = rng.random() < 0.7
    if rng.random() < 0.7:
        lay.emblem = "CZSK"
        lay.line.emblem_w = 0.4
    return lay


def _style_sk(rng: random.Random) -> _Layout:
    lay = _eu(rng, "sk", "SK", text_h=rng.uniform(70, 78), aspect=(0.42, 0.55),
              left="SKNEW" if rng.random() < 0.4 else "EU")
    lay.line.cells = rng.random() < 0.7
    lay.emblem = rng.choice(["SKARMS", "CZSK", None])
    if lay.emblem:
        lay.line.emblem_w = 0.45
    return lay


def _style_ro(rng: random.Random) -> _Layout:
    return _eu(rng, "ro", "RO", text_h=rng.uniform(70, 78), aspect=(0.45, 0.58))


def _style_eu_generic(rng: random.Random) -> _Layout:
    code = rng.choice(["A", "H", "S", "FIN", "DK", "L", "P", "IRL", "SLO", "HR", "LT", "LV", "EST", "BG", "GR", "CY", "M"])
    bg = _WHITE if rng.random() < 0.85 else (30, 200, 250)
    return _eu(rng, "eu_generic", code, bg=bg, text_h=rng.uniform(66, 78), aspect=(0.45, 0.65))


_US_INKS: tuple[Colour, ...] = ((110, 30, 10), (90, 20, 0), (20, 20, 20), (30, 30, 150), (40, 90, 20),
                                 (60, 20, 90), (120, 60, 10), (40, 40, 110))
_US_LIGHT_BG: tuple[Colour, ...] = ((245, 245, 245), (240, 235, 225), (235, 220, 200), (200, 235, 250),
                                    (180, 230, 250), (230, 240, 230), (250, 225, 200), (215, 215, 215))


def _style_us(rng: random.Random) -> _Layout:
    dark = rng.random() < 0.12
    if dark:
        bg = rng.choice(((30, 30, 30), (90, 30, 10), (100, 50, 10), (30, 60, 20), (30, 20, 90)))
        ink = rng.choice(((240, 240, 240), (40, 200, 240)))
    else:
        bg = rng.choice(_US_LIGHT_BG)
        ink = rng.choice(_US_INKS)
    lay = _Layout(
        name="us", w=305.0, h=152.0, bg=_jit(bg, rng, 12), ink=_jit(ink, rng, 15), text_h=rng.uniform(62, 80),
        line=_line_style(rng, (0.45, 0.66), stroke=(0.1, 0.16), gap=(0.2, 0.5), dash=(0.2, 0.35)),
        header="US", header_h=rng.uniform(18, 30), footer="US" if rng.random() < 0.8 else None,
        footer_h=rng.uniform(13, 20), border=(rng.choice([None, (60, 60, 60), ink])), corner=rng.uniform(8, 14),
        margin=rng.uniform(10, 22), emboss=rng.uniform(0.5, 1.5) if rng.random() < 0.5 else 0.0)
    if not dark and rng.random() < 0.55:
        lay.gradient = (_jit(rng.choice(_US_LIGHT_BG + ((230, 180, 120), (120, 200, 240))), rng, 20),
                        _jit(rng.choice(_US_LIGHT_BG), rng, 20))
    lay.graphics = 0 if dark else rng.choice((0, 0, 1, 2, 3))
    lay.stickers = rng.choice((0, 1, 1, 2))
    if rng.random() < 0.2:
        lay.emblem = "LOGO"
        lay.line.emblem_w = rng.uniform(0.5, 0.8)
    lay.extra["state"] = rng.choice(_US_STATES)
    lay.extra["slogan"] = rng.choice(_US_SLOGANS)
    lay.extra["head_ink"] = _jit(rng.choice(_US_INKS + ((40, 40, 200), (20, 20, 20))), rng, 20) if not dark else ink
    lay.extra["head_font"] = rng.choice(["serif_b", "serif_bi", "sans_b", "cond_b", "sans_bo"])
    lay.text_dy = rng.uniform(-3, 3)
    return lay


def _style_br_mercosur(rng: random.Random) -> _Layout:
    lay = _Layout(name="br_mercosur", w=400.0, h=130.0, bg=_jit((242, 242, 242), rng, 10), ink=_jit(_BLACK_INK, rng, 10),
                  text_h=rng.uniform(60, 68),
                  line=_line_style(rng, (0.46, 0.6), fonts=(("cond_b", 4), ("mono_b", 2), ("sans_b", 2))),
                  header="MERCOSUR", header_h=rng.uniform(24, 30), border=(30, 30, 30) if rng.random() < 0.7 else None,
                  corner=rng.uniform(4, 10), margin=rng.uniform(6, 14))
    lay.text_dy = rng.uniform(2, 6)
    return lay


def _style_br_grey(rng: random.Random) -> _Layout:
    red = rng.random() < 0.12
    g = rng.uniform(160, 205)
    lay = _Layout(name="br_grey", w=400.0, h=130.0,
                  bg=(40, 40, rng.uniform(150, 190)) if red else (g, g, g * rng.uniform(0.95, 1.02)),
                  ink=(235, 235, 235) if red else _jit(_BLACK_INK, rng, 10), text_h=rng.uniform(62, 72),
                  line=_line_style(rng, (0.5, 0.68), dash=(0.12, 0.2), fonts=(("cond_b", 3), ("sans_b", 3), ("mono_b", 2))),
                  header="CITY", header_h=rng.uniform(14, 20), border=(30, 30, 30) if rng.random() < 0.5 else None,
                  corner=rng.uniform(6, 12), margin=rng.uniform(8, 16),
                  emboss=rng.uniform(0.6, 1.5) if rng.random() < 0.6 else 0)
    lay.extra["city"] = rng.choice(_BR_CITIES)
    lay.text_dy = rng.uniform(2, 6)
    return lay


_STYLES = {
    "fr_siv": _style_fr_siv,
    "fr_fni_black": _style_fr_fni_black,
    "fr_fni_white": _style_fr_fni_white,
    "fr_fni_yellow": _style_fr_fni_yellow,
    "de": _style_de,
    "be": _style_be,
    "nl": _style_nl,
    "es": _style_es,
    "it": _style_it,
    "gb": _style_gb,
    "pl": _style_pl,
    "cz": _style_cz,
    "sk": _style_sk,
    "ro": _style_ro,
    "eu_generic": _style_eu_generic,
    "us": _style_us,
    "br_mercosur": _style_br_mercosur,
    "br_grey": _style_br_grey,
}

_COUNTRY_STYLES = {"DE": "de", "BE": "be", "NL": "nl", "ES": "es", "IT": "it", "GB": "gb", "UK": "gb", "PL": "pl",
                   "CZ": "cz", "SK": "sk", "RO": "ro", "US": "us"}


def style_names() -> list[str]:
    """Names of the plate layouts :func:`render_training_crop` can draw."""
    return list(_STYLES)


def pick_style(country: str, text: str, separator: str, rng: random.Random) -> str:
    """The layout a plate of ``country`` with this text would be drawn in."""
    country = (country or "ZZ").upper()
    if country == "FR":
        siv = len(text) == 7 and text[:2].isalpha() and text[2:5].isdigit() and text[5:].isalpha()
        if siv or text[:1] == "W" and text[1:4].isdigit():  # SIV numbers: black plates only on old cars
            return "fr_siv" if rng.random() < 0.97 else "fr_fni_black"
        return rng.choices(["fr_fni_black", "fr_fni_white", "fr_fni_yellow"], weights=[0.3, 0.3, 0.4])[0]
    if country == "BR":
        mercosur = len(text) == 7 and text[4].isalpha()
        return "br_mercosur" if mercosur or rng.random() < 0.05 else "br_grey"
    if country in _COUNTRY_STYLES:
        return _COUNTRY_STYLES[country]
    return rng.choices(["eu_generic", "us", "fr_fni_black", "gb", "de", "br_grey"],
                       weights=[0.45, 0.25, 0.08, 0.1, 0.06, 0.06])[0]


def _make_two_line(lay: _Layout, rng: random.Random) -> None:
    """Turn a one-line design into the square-ish two-line one (motorbikes, some rear plates)."""
    old_h = lay.h
    lay.h = rng.uniform(125, 170)
    lay.w = lay.h * rng.uniform(1.3, 1.6)
    k = lay.h / old_h
    lay.left_w = min(lay.left_w, lay.w * 0.14) if lay.left else 0.0
    lay.right_w = min(lay.right_w, lay.w * 0.14) if lay.right else 0.0
    lay.header_h *= min(1.0, k * 0.8)
    lay.footer_h *= min(1.0, k * 0.7)
    if lay.footer == "DEALER":
        lay.footer = None
        lay.footer_h = 0.0
    lay.margin = min(lay.margin, 6.0)
    avail = lay.h - lay.header_h - lay.footer_h - 10.0
    lay.text_h = avail * rng.uniform(0.38, 0.44)
    lay.text_dy = 0.0
    lay.extra["line_gap"] = rng.uniform(0.08, 0.16)


# --- the plate canvas ---------------------------------------------------------------------------


def _draw_eu_band(c: np.ndarray, x0: float, y0: float, w: float, h: float, kind: str, code: str,
                  rng: random.Random, ppm: float) -> None:
    x1, y1 = x0 + w, y0 + h
    if kind == "GREEN":
        cv2.rectangle(c, _pt(x0, y0), _pt(x1, y1), _jit((60, 150, 20), rng), -1)
        return
    if kind == "SKNEW":  # 2023 Slovak plates: white band, coat of arms over "SK"
        _draw_arms(c, x0 + w / 2, y0 + h * 0.32, w * 0.55, rng)
        _draw_label(c, "SK", (x0 + w * 0.15, y0 + h * 0.62, x1 - w * 0.15, y0 + h * 0.86), (140, 60, 10), "sans_b", rng)
        return
    blue = _jit(EU_BLUE, rng, 18)
    cv2.rectangle(c, _pt(x0, y0), _pt(x1, y1), blue, -1)
    if kind == "UK":  # union flag over "UK"
        fw, fh = w * 0.7, w * 0.42
        fx, fy = x0 + (w - fw) / 2, y0 + h * 0.15
        cv2.rectangle(c, _pt(fx, fy), _pt(fx + fw, fy + fh), (110, 40, 10), -1)
        t = max(1, int(round(fh * 0.2)))
        cv2.line(c, _pt(fx, fy), _pt(fx + fw, fy + fh), _WHITE, t)
        cv2.line(c, _pt(fx + fw, fy), _pt(fx, fy + fh), _WHITE, t)
        cv2.rectangle(c, _pt(fx + fw * 0.4, fy), _pt(fx + fw * 0.6, fy + fh), _WHITE, -1)
        cv2.rectangle(c, _pt(fx, fy + fh * 0.33), _pt(fx + fw, fy + fh * 0.67), _WHITE, -1)
        cv2.rectangle(c, _pt(fx + fw * 0.45, fy), _pt(fx + fw * 0.55, fy + fh), (40, 30, 200), -1)
        cv2.rectangle(c, _pt(fx, fy + fh * 0.4), _pt(fx + fw, fy + fh * 0.6), (40, 30, 200), -1)
    else:
        cx, cy = x0 + w / 2, y0 + min(h * 0.32, w * 0.62)
        ring = w * rng.uniform(0.26, 0.32)
        r = max(0.7, w * 0.055)
        for k in range(12):
            a = 2 * math.pi * k / 12
            cv2.circle(c, (int(round((cx + ring * math.cos(a)) * 8)), int(round((cy + ring * math.sin(a)) * 8))),
                       int(round(r * 8)), _jit(_STAR_YELLOW, rng, 15), -1, cv2.LINE_AA, 3)
    if code:
        ch = min(h * rng.uniform(0.22, 0.3), w * (0.75 if len(code) == 1 else 0.45))
        ty = y0 + min(h * 0.62, w * 1.25)
        _draw_label(c, code, (x0 + w * 0.08, ty, x1 - w * 0.08, ty + ch), _jit(_WHITE, rng, 10),
                    rng.choice(["sans_b", "cond_b"]), rng, aspect=0.7)


def _draw_arms(c: np.ndarray, cx: float, cy: float, size: float, rng: random.Random) -> None:
    """A small shield: red with a white double cross on blue hills (Slovak arms, and stand-in for others)."""
    w, h = size, size * 1.2
    pts = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx + w / 2, cy + h * 0.1],
                    [cx, cy + h / 2], [cx - w / 2, cy + h * 0.1]], np.float32)
    cv2.fillPoly(c, [np.round(pts * 8).astype(np.int32)], _jit((40, 30, 200), rng), cv2.LINE_AA, 3)
    t = max(1, int(round(w * 0.12)))
    cv2.line(c, _pt(cx, cy - h * 0.35), _pt(cx, cy + h * 0.15), _WHITE, t)
    cv2.line(c, _pt(cx - w * 0.25, cy - h * 0.18), _pt(cx + w * 0.25, cy - h * 0.18), _WHITE, t)
    cv2.line(c, _pt(cx - w * 0.18, cy - h * 0.02), _pt(cx + w * 0.18, cy - h * 0.02), _WHITE, t)
    cv2.ellipse(c, _pt(cx, cy + h * 0.3), (max(1, int(w * 0.3)), max(1, int(h * 0.12))), 0, 180, 360, (150, 60, 10), -1)


def _draw_right_band(c: np.ndarray, lay: _Layout, x0: float, y0: float, w: float, h: float,
                     rng: random.Random, ppm: float) -> None:
    cv2.rectangle(c, _pt(x0, y0), _pt(x0 + w, y0 + h), _jit(EU_BLUE, rng, 18), -1)
    if lay.right == "FR":
        # regional logo on top (not part of the registration), department number below it
        lx0, ly0, s = x0 + w * 0.12, y0 + h * 0.1, w * 0.76
        if rng.random() < 0.85:
            base = rng.choice(((240, 240, 240), (40, 40, 200), (200, 120, 20), (30, 180, 230)))
            cv2.rectangle(c, _pt(lx0, ly0), _pt(lx0 + s, ly0 + s * rng.uniform(0.8, 1.0)), _jit(base, rng, 20), -1)
            for _ in range(rng.randint(1, 4)):
                col = _jit(rng.choice(((40, 40, 200), (0, 200, 255), (200, 120, 20), (60, 160, 40),
                                       (250, 250, 250), (30, 30, 30))), rng, 20)
                px, py = lx0 + rng.uniform(0, s), ly0 + rng.uniform(0, s * 0.8)
                if rng.random() < 0.5:
                    cv2.circle(c, _pt(px, py), max(1, int(s * rng.uniform(0.1, 0.35))), col, -1)
                else:
                    cv2.rectangle(c, _pt(px - s * 0.3, py - s * 0.08), _pt(px + s * 0.3, py + s * 0.08), col, -1)
        dept = rng.choice(_FR_DEPARTMENTS)
        dh = min(h * rng.uniform(0.22, 0.3), w * 0.7)
        ty = y0 + h * rng.uniform(0.58, 0.64)
        _draw_label(c, dept, (x0 + w * 0.08, ty, x0 + w * 0.92, ty + dh), _jit(_WHITE, rng, 10), "sans_b", rng, aspect=0.6)
    elif lay.right == "IT":
        if rng.random() < 0.7:
            yy = f"{rng.randint(0, 99):02d}"
            _draw_label(c, yy, (x0 + w * 0.2, y0 + h * 0.12, x0 + w * 0.8, y0 + h * 0.3), _jit((0, 200, 250), rng),
                        "sans_b", rng)
        if rng.random() < 0.6:
            _draw_label(c, rng.choice(_IT_PROVINCES), (x0 + w * 0.12, y0 + h * 0.62, x0 + w * 0.88, y0 + h * 0.84),
                        _jit(_WHITE, rng), "sans_b", rng)


def _draw_emblem(c: np.ndarray, kind: str, cx: float, cy: float, th: float, rng: random.Random) -> None:
    """Stickers / emblems sitting between district and number (DE, CZ, SK, PL) or a US logo."""
    if kind in ("DE2", "DE1"):
        r = th * rng.uniform(0.22, 0.26)
        seal_y = cy + (r * 1.08 if kind == "DE2" else 0)
        if kind == "DE2":  # inspection sticker (colour changes by year) above the state seal
            col = _jit(rng.choice(((0, 140, 255), (200, 120, 20), (0, 210, 250), (40, 80, 140),
                                   (160, 110, 230), (60, 170, 60))), rng, 15)
            hy = cy - r * 1.08
            cv2.circle(c, _pt(cx, hy), max(1, int(round(r))), col, -1, cv2.LINE_AA)
            cv2.circle(c, _pt(cx, hy), max(1, int(round(r * 0.45))), (40, 40, 40), max(1, int(r * 0.08)), cv2.LINE_AA)
        cv2.circle(c, _pt(cx, seal_y), max(1, int(round(r))), _jit((210, 210, 205), rng, 15), -1, cv2.LINE_AA)
        cv2.circle(c, _pt(cx, seal_y), max(1, int(round(r * 0.55))),
                   _jit(rng.choice(((40, 40, 180), (30, 30, 30), (150, 80, 20), (40, 120, 40))), rng, 20), -1, cv2.LINE_AA)
    elif kind == "CZSK":
        r = th * rng.uniform(0.12, 0.16)
        cv2.circle(c, _pt(cx, cy - r * 1.3), max(1, int(round(r))), _jit((40, 60, 220), rng, 20), -1, cv2.LINE_AA)
        cv2.circle(c, _pt(cx, cy + r * 1.3), max(1, int(round(r))), _jit((60, 160, 60), rng, 20), -1, cv2.LINE_AA)
    elif kind == "SKARMS":
        _draw_arms(c, cx, cy - th * 0.1, th * 0.32, rng)
    elif kind == "PL":
        r = th * rng.uniform(0.14, 0.2)
        cv2.circle(c, _pt(cx, cy - th * 0.2), max(1, int(round(r))), _jit((220, 220, 220), rng, 15), -1, cv2.LINE_AA)
        cv2.circle(c, _pt(cx, cy - th * 0.2), max(1, int(round(r * 0.6))), (40, 40, 200), -1, cv2.LINE_AA)
    elif kind == "LOGO":
        col = _jit(rng.choice(((40, 40, 200), (30, 140, 220), (40, 120, 40), (150, 60, 20))), rng, 25)
        r = th * rng.uniform(0.18, 0.28)
        if rng.random() < 0.5:
            cv2.circle(c, _pt(cx, cy), max(1, int(round(r))), col, -1, cv2.LINE_AA)
        else:
            pts = np.array([[cx + r * math.cos(a) * rng.uniform(0.6, 1.2), cy + r * math.sin(a) * rng.uniform(0.6, 1.2)]
                            for a in np.linspace(0, 2 * math.pi, 7)[:-1]], np.int32)
            cv2.fillPoly(c, [pts], col, cv2.LINE_AA)


def _random_print(rng: random.Random, n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPRSTUVZ0123456789   "
    return "".join(rng.choice(alphabet) for _ in range(n)).strip() or "AUTO"


def _render_plate(lay: _Layout, lines: list[list[tuple[str, str]]], ppm: float, rng: random.Random,
                  frame_pad_mm: float, frame_colour: Colour | None
                  ) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """The flat plate (plus an optional holder frame) at ``ppm`` px/mm.

    Returns (BGR float canvas, alpha float mask, plate rectangle in canvas px).
    """
    pad = frame_pad_mm * ppm
    pw, ph = lay.w * ppm, lay.h * ppm
    W, H = int(math.ceil(pw + 2 * pad)), int(math.ceil(ph + 2 * pad))
    c = np.empty((H, W, 3), np.float32)
    c[:] = frame_colour if frame_colour is not None else lay.bg
    alpha = np.zeros((H, W), np.float32)
    px0, py0, px1, py1 = pad, pad, pad + pw, pad + ph
    if frame_colour is not None:
        _rounded_rect(alpha, 0, 0, W - 1, H - 1, (lay.corner + frame_pad_mm) * ppm, 1.0)
        if lay.footer == "US" and rng.random() < 0.3:  # dealer frame print at the bottom
            _draw_label(c, _random_print(rng, rng.randint(8, 16)), (px0 + pw * 0.2, py1 + pad * 0.15, px1 - pw * 0.2,
                        py1 + pad * 0.85), (230, 230, 230), "sans_b", rng)
    else:
        _rounded_rect(alpha, px0, py0, px1, py1, lay.corner * ppm, 1.0)
    plate = c.copy() if frame_colour is not None else c
    # background
    if lay.gradient is not None:
        ramp = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None, None]
        plate[:] = np.asarray(lay.gradient[0], np.float32) * (1 - ramp) + np.asarray(lay.gradient[1], np.float32) * ramp
    elif frame_colour is not None:
        plate[:] = lay.bg
    if lay.graphics:
        over = plate.copy()
        for _ in range(lay.graphics):
            col = _jit(rng.choice(((40, 120, 40), (200, 140, 60), (40, 160, 230), (120, 120, 200), (90, 60, 30),
                                   (230, 200, 120))), rng, 30)
            if rng.random() < 0.5:  # hills / mountains along the bottom
                n = rng.randint(3, 6)
                xs = np.linspace(px0, px1, n)
                pts = [[x, py1 - ph * rng.uniform(0.1, 0.55)] for x in xs] + [[px1, py1], [px0, py1]]
                cv2.fillPoly(over, [np.array(pts, np.int32)], col, cv2.LINE_AA)
            else:
                cv2.circle(over, _pt(rng.uniform(px0, px1), rng.uniform(py0, py1)),
                           max(1, int(ph * rng.uniform(0.15, 0.45))), col, -1, cv2.LINE_AA)
        a = rng.uniform(0.2, 0.55)
        plate = plate * (1 - a) + over * a
    # bands / header
    tx0, tx1 = px0 + lay.margin * ppm, px1 - lay.margin * ppm
    ty0, ty1 = py0, py1
    if lay.left:
        bw = lay.left_w * ppm
        _draw_eu_band(plate, px0, py0, bw, ph, lay.left, lay.left_code, rng, ppm)
        tx0 = px0 + bw + lay.margin * ppm
    if lay.right:
        bw = lay.right_w * ppm
        _draw_right_band(plate, lay, px1 - bw, py0, bw, ph, rng, ppm)
        tx1 = px1 - bw - lay.margin * ppm
    hh = lay.header_h * ppm
    if lay.header == "MERCOSUR":
        cv2.rectangle(plate, _pt(px0, py0), _pt(px1, py0 + hh), _jit((150, 70, 0), rng, 20), -1)
        _draw_label(plate, "BRASIL", (px0 + pw * 0.35, py0 + hh * 0.22, px1 - pw * 0.35, py0 + hh * 0.78),
                    _WHITE, "sans_b", rng, aspect=0.7)
        fx1, fy0 = px1 - pw * 0.04, py0 + hh * 0.2
        fw, fh = hh * 0.9, hh * 0.6
        cv2.rectangle(plate, _pt(fx1 - fw, fy0), _pt(fx1, fy0 + fh), (50, 150, 0), -1)
        d = np.array([[fx1 - fw / 2, fy0 + fh * 0.1], [fx1 - fw * 0.1, fy0 + fh / 2], [fx1 - fw / 2, fy0 + fh * 0.9],
                      [fx1 - fw * 0.9, fy0 + fh / 2]], np.int32)
        cv2.fillPoly(plate, [d], (0, 210, 250))
        cv2.circle(plate, _pt(fx1 - fw / 2, fy0 + fh / 2), max(1, int(fh * 0.22)), (120, 40, 0), -1)
        for k in range(4):
            cv2.circle(plate, _pt(px0 + pw * 0.05 + k * hh * 0.2, py0 + hh * (0.35 + 0.1 * (k % 2))),
                       max(1, int(hh * 0.05)), _WHITE, -1)
        if rng.random() < 0.7:  # "BR" and the QR code under the band
            _draw_label(plate, "BR", (px0 + pw * 0.02, py0 + hh * 1.15, px0 + pw * 0.07, py0 + hh * 1.55),
                        _BLACK_INK, "sans_b", rng)
            q = max(2, int(round(hh * 0.5)))
            qr = (np.random.default_rng(rng.randint(0, 2**31)).random((6, 6)) < 0.5).astype(np.uint8) * 255
            qr = cv2.resize(qr, (q, q), interpolation=cv2.INTER_NEAREST)
            _blend_mask(plate, qr, px0 + pw * 0.02, py0 + hh * 1.7, _BLACK_INK, 0.9)
        ty0 = py0 + hh
    elif lay.header == "CITY":
        _draw_label(plate, lay.extra["city"], (px0 + pw * 0.2, py0 + hh * 0.25, px1 - pw * 0.2, py0 + hh * 0.95),
                    lay.ink, rng.choice(["sans_b", "cond_b"]), rng, aspect=0.6)
        ty0 = py0 + hh
    elif lay.header == "US":
        _draw_label(plate, lay.extra["state"], (px0 + pw * 0.15, py0 + hh * 0.12, px1 - pw * 0.15, py0 + hh * 0.92),
                    lay.extra["head_ink"], lay.extra["head_font"], rng, aspect=rng.uniform(0.55, 0.8))
        ty0 = py0 + hh
        for k in range(lay.stickers):
            sw, sh = pw * rng.uniform(0.1, 0.16), hh * rng.uniform(0.7, 1.0)
            sx = px0 + pw * 0.03 if k == 0 else px1 - pw * 0.03 - sw
            sy = py0 + ph * 0.04 if rng.random() < 0.75 else py1 - ph * 0.04 - sh
            col = _jit(rng.choice(((40, 40, 220), (0, 200, 250), (60, 170, 60), (200, 120, 30), (200, 200, 200),
                                   (150, 60, 160))), rng, 20)
            cv2.rectangle(plate, _pt(sx, sy), _pt(sx + sw, sy + sh), col, -1)
            _draw_label(plate, f"{rng.randint(0, 99):02d}", (sx + sw * 0.15, sy + sh * 0.2, sx + sw * 0.85,
                        sy + sh * 0.8), (30, 30, 30), "sans_b", rng)
    fh = lay.footer_h * ppm
    if lay.footer == "US":
        _draw_label(plate, lay.extra["slogan"], (px0 + pw * 0.15, py1 - fh * 0.95, px1 - pw * 0.15, py1 - fh * 0.2),
                    lay.extra["head_ink"], rng.choice(["serif_b", "serif_bi", "sans_b", "sans_bo", "cond"]), rng,
                    aspect=rng.uniform(0.5, 0.75))
        ty1 = py1 - fh
    if lay.border is not None:
        bw = max(1, int(round(lay.border_w * ppm * rng.uniform(0.7, 1.4))))
        inset = rng.uniform(1.0, 3.5) * ppm
        b = np.zeros((H, W), np.uint8)
        _rounded_rect(b, px0 + inset, py0 + inset, px1 - inset, py1 - inset, max(0.0, lay.corner * ppm - inset), 255)
        inner = cv2.erode(b, np.ones((2 * bw + 1, 2 * bw + 1), np.uint8)) if bw else b
        ring = cv2.subtract(b, inner)
        _blend_mask(plate, ring, 0, 0, _jit(lay.border, rng, 10))
    # registration characters
    th = lay.text_h * ppm
    ink_mask = np.zeros((H, W), np.uint8)
    emblem_at: list[tuple[float, float, float]] = []
    if len(lines) == 1:
        centres = [(ty0 + ty1) / 2 + lay.text_dy * ppm]
    else:
        gap = lay.extra.get("line_gap", 0.12) * th
        mid = (ty0 + ty1) / 2
        centres = [mid - gap / 2 - th / 2, mid + gap / 2 + th / 2]
    for i, tokens in enumerate(lines):
        box_w = tx1 - tx0
        mask, seps, used_th = _compose_line(tokens, lay.line, th, box_w, rng)
        top = centres[i] - used_th / 2 - math.ceil(0.15 * used_th)
        _max_into(ink_mask, mask, int(round(tx0)), int(round(top)))
        if lay.emblem and seps and i == 0:
            emblem_at.append((tx0 + seps[0], centres[i], used_th))
    if lay.footer == "DEALER":
        ch = lay.footer_h * ppm * 0.55
        y = min(py1 - ch - 1.5 * ppm, centres[-1] + th / 2 + 1.5 * ppm)
        _draw_label(plate, _random_print(rng, rng.randint(10, 28)), (tx0 + pw * 0.05, y, tx1 - pw * 0.05, y + ch),
                    _jit((70, 70, 70), rng, 30), rng.choice(["sans", "sans_b", "cond"]), rng, opacity=rng.uniform(0.5, 1.0))
    for cx, cy, eth in emblem_at:
        _draw_emblem(plate, lay.emblem or "", cx, cy, eth, rng)
    if lay.emboss > 0:  # pressed characters: a highlight and a shadow edge
        d = max(1, int(round(lay.emboss * ppm * 0.6)))
        a = ink_mask.astype(np.float32)[:, :, None] / 255.0
        shadow = np.roll(a, (d, d), axis=(0, 1))
        light = np.roll(a, (-d, -d), axis=(0, 1))
        plate = plate * (1 - 0.45 * shadow) + 0.0
        plate = plate * (1 - 0.35 * light) + 255.0 * 0.35 * light
    _blend_mask(plate, ink_mask, 0, 0, lay.ink)
    _plate_wear(plate, lay, (px0, py0, px1, py1), ppm, rng, lines, centres, th)
    if frame_colour is None:  # the alpha mask already rounds the corners
        return plate, alpha, (px0, py0, px1, py1)
    plate_mask = np.zeros((H, W), np.uint8)
    _rounded_rect(plate_mask, px0, py0, px1, py1, lay.corner * ppm, 255)
    _blend_image(c, plate, plate_mask)
    return c, alpha, (px0, py0, px1, py1)


def _blend_image(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> None:
    """dst = src where mask (uint8) is set, in place, anti-aliased edges blended."""
    m = mask.astype(np.float32)[:, :, None] * (1.0 / 255.0)
    dst *= 1.0 - m
    dst += src * m


def _plate_wear(plate: np.ndarray, lay: _Layout, rect: tuple[float, float, float, float], ppm: float,
                rng: random.Random, lines, centres, th) -> None:
    """Screws, dirt spots, smudges and road grime, drawn on the flat plate."""
    px0, py0, px1, py1 = rect
    pw, ph = px1 - px0, py1 - py0
    if rng.random() < 0.55:
        r = max(1.0, rng.uniform(3.0, 5.5) * ppm)
        kind = rng.random()
        if lay.header == "US" or rng.random() < 0.3:
            ys = [py0 + ph * rng.uniform(0.08, 0.16)] * 2
        else:
            ys = [centres[0] + rng.uniform(-0.1, 0.1) * th] * 2
        xs = [px0 + pw * rng.uniform(0.2, 0.32), px1 - pw * rng.uniform(0.2, 0.32)]
        for x, y in zip(xs, ys):
            if kind < 0.45:  # bare metal screw
                g = rng.uniform(110, 210)
                cv2.circle(plate, _pt(x, y), int(round(r)), (g, g, g), -1, cv2.LINE_AA)
                cv2.circle(plate, _pt(x, y), int(round(r)), (g * 0.5,) * 3, max(1, int(r * 0.15)), cv2.LINE_AA)
                a = rng.uniform(0, math.pi)
                cv2.line(plate, _pt(x - r * 0.7 * math.cos(a), y - r * 0.7 * math.sin(a)),
                         _pt(x + r * 0.7 * math.cos(a), y + r * 0.7 * math.sin(a)), (g * 0.35,) * 3, max(1, int(r * 0.2)))
            elif kind < 0.75:  # cap of the plate's colour
                cv2.circle(plate, _pt(x, y), int(round(r)), _jit(lay.bg, rng, 15), -1, cv2.LINE_AA)
                cv2.circle(plate, _pt(x, y), int(round(r)), (120, 120, 120), 1, cv2.LINE_AA)
            else:  # black cap / rusty
                col = rng.choice(((30, 30, 30), (30, 60, 110)))
                cv2.circle(plate, _pt(x, y), int(round(r)), col, -1, cv2.LINE_AA)
    if rng.random() < 0.35:  # dirt spots
        n = rng.randint(3, 30)
        col = _jit((40, 60, 80), rng, 25)
        dirt = np.zeros(plate.shape[:2], np.uint8)
        for _ in range(n):
            cv2.circle(dirt, _pt(rng.uniform(px0, px1), rng.uniform(py0, py1)),
                       max(1, int(rng.uniform(0.3, 2.5) * ppm)), int(rng.uniform(80, 255)), -1, cv2.LINE_AA)
        _blend_mask(plate, dirt, 0, 0, col, rng.uniform(0.4, 0.9))
    if rng.random() < 0.25:  # smudges
        sm = np.zeros(plate.shape[:2], np.uint8)
        for _ in range(rng.randint(1, 3)):
            cv2.ellipse(sm, _pt(rng.uniform(px0, px1), rng.uniform(py0, py1)),
                        (max(1, int(pw * rng.uniform(0.05, 0.25))), max(1, int(ph * rng.uniform(0.1, 0.4)))),
                        rng.uniform(0, 180), 0, 360, int(rng.uniform(120, 255)), -1)
        k = max(3, int(ph * 0.15) | 1)
        sm = cv2.GaussianBlur(sm, (k, k), 0)
        _blend_mask(plate, sm, 0, 0, _jit((60, 80, 100), rng, 30), rng.uniform(0.15, 0.45))
    if rng.random() < 0.3:  # road grime rising from the bottom edge
        ramp = np.clip((np.arange(plate.shape[0], dtype=np.float32) - (py1 - ph * rng.uniform(0.2, 0.6))) /
                       max(1.0, ph * 0.4), 0, 1)
        a = (ramp * rng.uniform(0.15, 0.5))[:, None, None]
        plate *= 1 - a
        plate += a * np.asarray(_jit((50, 70, 90), rng, 20), np.float32)


# --- camera -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _noise_field() -> np.ndarray:
    return np.random.default_rng(20240601).standard_normal((640, 1280), dtype=np.float32)


def _noise(rng: random.Random, h: int, w: int) -> np.ndarray:
    f = _noise_field()
    if h > f.shape[0] or w > f.shape[1]:
        return np.random.default_rng(rng.randint(0, 2**31)).standard_normal((h, w), dtype=np.float32)
    y, x = rng.randint(0, f.shape[0] - h), rng.randint(0, f.shape[1] - w)
    return f[y:y + h, x:x + w]


def _rot(roll: float, yaw: float, pitch: float) -> np.ndarray:
    cr, sr = math.cos(roll), math.sin(roll)
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rz @ ry @ rx


def _clipped_gauss(rng: random.Random, sigma: float, limit: float) -> float:
    return max(-limit, min(limit, rng.gauss(0, sigma)))


def _margin(rng: random.Random, tight: tuple[float, float], loose: tuple[float, float], clip: float) -> float:
    r = rng.random()
    if r < 0.12:
        return -rng.uniform(0, clip)
    if r < 0.7:
        return rng.uniform(*tight)
    return rng.uniform(*loose)


def _place(plate_rect, scale: float, rng: random.Random) -> tuple[np.ndarray, int, int, np.ndarray]:
    """Perspective of the plate in the crop. Returns (homography canvas->crop, crop w, crop h, plate quad)."""
    x0, y0, x1, y1 = plate_rect
    pw, ph = (x1 - x0) * scale, (y1 - y0) * scale
    roll = math.radians(_clipped_gauss(rng, 3.0, 8.0))
    yaw = math.radians(_clipped_gauss(rng, 15.0, 42.0))
    pitch = math.radians(_clipped_gauss(rng, 9.0, 28.0))
    f = pw * rng.uniform(1.3, 6.0)
    pts = np.array([[-pw / 2, -ph / 2, 0], [pw / 2, -ph / 2, 0], [pw / 2, ph / 2, 0], [-pw / 2, ph / 2, 0]])
    p = pts @ _rot(roll, yaw, pitch).T + np.array([0, 0, f])
    quad = f * p[:, :2] / p[:, 2:3]
    if rng.random() < 0.2:  # rolling-shutter / lens shear
        quad[:, 0] += quad[:, 1] * rng.uniform(-0.12, 0.12)
    bx0, by0 = quad.min(axis=0)
    bx1, by1 = quad.max(axis=0)
    bw, bh = bx1 - bx0, by1 - by0
    ml = _margin(rng, (0.0, 0.05), (0.05, 0.17), 0.04) * bw
    mr = _margin(rng, (0.0, 0.05), (0.05, 0.17), 0.04) * bw
    mt = _margin(rng, (0.0, 0.12), (0.12, 0.4), 0.06) * bh
    mb = _margin(rng, (0.0, 0.12), (0.12, 0.4), 0.06) * bh
    cw = max(8, int(round(bw + ml + mr)))
    ch = max(6, int(round(bh + mt + mb)))
    quad = quad - np.array([bx0 - ml, by0 - mt])
    src = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    hm = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    return hm, cw, ch, quad


def _background(cw: int, ch: int, hm: np.ndarray, plate_rect, rng: random.Random) -> np.ndarray:
    """Car body around the plate: paint with a gradient, maybe a dark recess and bumper edges."""
    body = np.asarray(_jit(rng.choice(_CAR_COLOURS), rng, 15), np.float32)
    top, bottom = rng.uniform(0.6, 1.25), rng.uniform(0.5, 1.2)
    ramp = np.linspace(top, bottom, ch, dtype=np.float32)[:, None, None]
    img = np.clip(body[None, None, :] * ramp, 0, 255).astype(np.float32)
    x0, y0, x1, y1 = plate_rect
    pw, ph = x1 - x0, y1 - y0
    if rng.random() < 0.5:  # recess / plastic plate holder area
        ex, ey = pw * rng.uniform(0.02, 0.2), ph * rng.uniform(0.05, 0.6)
        rect = np.array([[[x0 - ex, y0 - ey], [x1 + ex, y0 - ey], [x1 + ex, y1 + ey], [x0 - ex, y1 + ey]]], np.float32)
        q = cv2.perspectiveTransform(rect, hm)[0]
        g = rng.uniform(15, 80)
        cv2.fillConvexPoly(img, np.round(q * 4).astype(np.int32), (g, g, g * rng.uniform(0.9, 1.1)), cv2.LINE_AA, 2)
    for _ in range(rng.choice((0, 0, 1, 2, 3))):  # bumper edges / creases
        y = rng.uniform(0, ch)
        slope = rng.uniform(-0.08, 0.08) * cw
        col = tuple(float(v) for v in np.clip(body * rng.uniform(0.3, 1.5), 0, 255))
        cv2.line(img, _pt(0, y), _pt(cw, y + slope), col, max(1, int(ch * rng.uniform(0.01, 0.06))), cv2.LINE_AA)
    return img


_MODES = ("day", "dusk", "ir", "night", "bright")
_MODE_WEIGHTS = (0.5, 0.12, 0.18, 0.08, 0.12)


def render_training_crop(text: str, country: str, groups: tuple[int, ...], separator: str,
                         rng: random.Random, two_line_split: int | None = None, *,
                         style: str | None = None) -> np.ndarray:
    """A BGR uint8 crop of a plate reading ``text`` as a plate detector would cut it from a photo.

    ``groups`` and ``separator`` say how the text is printed (``(2, 3, 2)`` and ``"-"`` give
    ``GV-073-KP``; ``" "`` a gap, ``""`` nothing, ``"·"`` a dot); ``country`` (ISO code, ``"ZZ"``
    unknown) picks the layout, ``style`` (one of :func:`style_names`) forces one; with
    ``two_line_split`` the plate is the square two-line kind, ``text[:split]`` on the top line.
    Deterministic for a given state of ``rng``.
    """
    text = "".join(ch for ch in text.upper() if ch.isalnum()) or "0"
    lines = _split_lines(text, tuple(groups), separator, two_line_split)
    name = style or pick_style(country, text, separator, rng)
    if name not in _STYLES:
        raise ValueError(f"unknown plate style {name!r} (known: {', '.join(_STYLES)})")
    lay = _STYLES[name](rng)
    if len(lines) == 2:
        _make_two_line(lay, rng)
    mode = rng.choices(_MODES, weights=_MODE_WEIGHTS)[0]

    # size: characters 9..80 px tall in the crop (log-uniform); the plate is drawn ~1.2-1.5x larger
    th_final = math.exp(rng.uniform(math.log(9), math.log(80)))
    final_ppm = th_final / lay.text_h
    ppm = min(max(final_ppm * rng.uniform(1.1, 1.4), 0.3), 1.4)
    frame = None
    pad_mm = 0.0
    if rng.random() < 0.35:  # plate holder frame
        pad_mm = rng.uniform(2, 8)
        frame = _jit(rng.choice(((25, 25, 25), (45, 45, 45), (170, 170, 175), (210, 210, 210))), rng, 10)
        if lay.footer == "US":
            pad_mm = rng.uniform(4, 12)
    canvas, alpha, rect = _render_plate(lay, lines, ppm, rng, pad_mm, frame)

    if mode == "ir":  # infra-red: grey, retro-reflective plate bright, dark surroundings
        grey = cv2.cvtColor(np.clip(canvas, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
        lo, hi = rng.uniform(5, 60), rng.uniform(180, 275)
        g = lo + (hi - lo) * np.power(grey, rng.uniform(0.5, 1.2))
        canvas = np.repeat(g[:, :, None], 3, axis=2)
    elif mode == "night":
        canvas *= rng.uniform(0.75, 1.15)

    hm, cw, ch, _ = _place(rect, final_ppm / ppm, rng)
    img = _background(cw, ch, hm, rect, rng)
    if mode in ("ir", "night"):
        img *= rng.uniform(0.05, 0.35)
    premult = np.empty(canvas.shape[:2] + (4,), np.float32)
    np.multiply(canvas, alpha[:, :, None], out=premult[:, :, :3])
    premult[:, :, 3] = alpha
    warped = cv2.warpPerspective(premult, hm, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=(0, 0, 0, 0))
    a = warped[:, :, 3:4]
    img = img * (1 - a) + warped[:, :, :3]
    if mode == "ir":
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    return _camera(img, mode, th_final, rng)


def render_flat_plate(text: str, country: str, groups: tuple[int, ...], separator: str, rng: random.Random,
                      two_line_split: int | None = None, *, style: str | None = None,
                      ppm: float = 1.2) -> tuple[np.ndarray, np.ndarray]:
    """The plate alone, face-on, as (BGR uint8 image, alpha uint8 mask), at ``ppm`` pixels per mm.

    For compositing into whole frames (detector training): the caller chooses pose and scale.
    Same layouts, fonts and wear as :func:`render_training_crop`, sometimes in a holder frame.
    """
    text = "".join(ch for ch in text.upper() if ch.isalnum()) or "0"
    lines = _split_lines(text, tuple(groups), separator, two_line_split)
    name = style or pick_style(country, text, separator, rng)
    if name not in _STYLES:
        raise ValueError(f"unknown plate style {name!r} (known: {', '.join(_STYLES)})")
    lay = _STYLES[name](rng)
    if len(lines) == 2:
        _make_two_line(lay, rng)
    frame, pad_mm = None, 0.0
    if rng.random() < 0.3:
        pad_mm = rng.uniform(2, 6)
        frame = _jit(rng.choice(((25, 25, 25), (45, 45, 45), (170, 170, 175), (210, 210, 210))), rng, 10)
    canvas, alpha, _ = _render_plate(lay, lines, ppm, rng, pad_mm, frame)
    return np.clip(canvas, 0, 255).astype(np.uint8), (np.clip(alpha, 0, 1) * 255).astype(np.uint8)


def _camera(img: np.ndarray, mode: str, th: float, rng: random.Random) -> np.ndarray:
    """Lighting, shadows, glare, colour cast, blur, noise and JPEG on the composed crop."""
    h, w = img.shape[:2]
    grey_only = mode == "ir"
    if mode == "day":
        img *= rng.uniform(0.7, 1.2)
    elif mode == "dusk":
        img *= rng.uniform(0.25, 0.6)
        img += rng.uniform(0, 25)
    elif mode == "bright":
        img = img * rng.uniform(1.15, 1.6) + rng.uniform(0, 30)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) if rng.random() < 0.7 else (None, None)
    if yy is not None:
        if rng.random() < 0.5:  # illumination gradient
            ang = rng.uniform(0, 2 * math.pi)
            ramp = (xx * math.cos(ang) + yy * math.sin(ang)) / max(w, h)
            ramp = ramp - ramp.min()
            img *= (1.0 + (ramp * rng.uniform(-0.5, 0.4)))[:, :, None]
        if rng.random() < 0.25:  # hard-ish shadow edge across the plate
            ang = rng.uniform(0, 2 * math.pi)
            d = (xx - rng.uniform(0, w)) * math.cos(ang) + (yy - rng.uniform(0, h)) * math.sin(ang)
            soft = max(0.5, rng.uniform(0.005, 0.08) * w)
            s = np.clip(d / soft + 0.5, 0, 1)
            img *= (1.0 - s * rng.uniform(0.3, 0.7))[:, :, None]
        if rng.random() < (0.35 if mode in ("bright", "night", "ir") else 0.12):  # glare / specular blob
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            sx, sy = w * rng.uniform(0.05, 0.4), h * rng.uniform(0.1, 0.6)
            blob = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
            img += (blob * rng.uniform(40, 200))[:, :, None]
    if not grey_only:
        if rng.random() < 0.6:  # colour cast: white balance (blue <-> amber) and a little tint
            t, g = rng.uniform(-0.15, 0.15), rng.uniform(-0.05, 0.05)
            cast = np.array([1 + t, 1 + g, 1 - t], np.float32)
            if mode == "dusk" and rng.random() < 0.5:  # sodium street light
                cast = np.array([0.7, 0.9, 1.12], np.float32)
            img *= cast
        if rng.random() < 0.15:  # washed-out colours
            g = img.mean(axis=2, keepdims=True)
            k = rng.uniform(0.3, 0.9)
            img = img * (1 - k) + g * k
    if rng.random() < 0.2:  # haze: low contrast
        k = rng.uniform(0.15, 0.5)
        img = img * (1 - k) + img.mean() * k
    if mode in ("ir", "night", "bright") and rng.random() < 0.5:  # bloom around bright parts
        bright = np.clip(img - 200, 0, None)
        k = max(3, int(th * rng.uniform(0.1, 0.4)) | 1)
        img += cv2.GaussianBlur(bright, (k, k), 0) * rng.uniform(0.5, 1.5)
    img = np.clip(img, 0, 255)
    # optics and motion
    r = rng.random()
    if r < 0.45:
        sigma = rng.uniform(0.3, max(0.5, th * 0.05))
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    elif r < 0.65:
        length = rng.uniform(2, max(2.5, th * 0.2))
        ang = math.radians(rng.gauss(0, 25) if rng.random() < 0.8 else rng.uniform(0, 180))
        k = int(math.ceil(length)) | 1
        kern = np.zeros((k, k), np.float32)
        c = k // 2
        dx, dy = math.cos(ang) * length / 2, math.sin(ang) * length / 2
        cv2.line(kern, _pt(c - dx, c - dy), _pt(c + dx, c + dy), 1.0, 1, cv2.LINE_AA)
        kern /= max(1e-6, kern.sum())
        img = cv2.filter2D(img, -1, kern)
    lowest = max(0.4, 9.0 / th)  # keep characters at least ~9 px tall in the lost-resolution step
    if rng.random() < 0.2 and lowest < 0.85:  # lost resolution (crop of a downscaled frame, digital zoom)
        f = rng.uniform(lowest, 0.85)
        small = cv2.resize(img, (max(2, int(w * f)), max(2, int(h * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=rng.choice((cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST)))
    # sensor noise, stronger in the dark
    sigma = rng.uniform(0, 6) if mode in ("day", "bright") else rng.uniform(2, 12)
    if sigma > 0.5:
        n = _noise(rng, h, w) * sigma
        img = img + n[:, :, None]
        if not grey_only and rng.random() < 0.5:
            img[:, :, rng.randint(0, 2)] += _noise(rng, h, w) * sigma * 0.6
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.9:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, 95)])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return out


# --- contact sheet ------------------------------------------------------------------------------

_SHEET_COUNTRIES = {"FR": 0.4, "DE": 0.05, "BE": 0.04, "NL": 0.04, "ES": 0.04, "IT": 0.04, "GB": 0.04, "PL": 0.03,
                    "CZ": 0.03, "SK": 0.04, "RO": 0.02, "US": 0.12, "BR": 0.08, "ZZ": 0.03}


def random_spec(rng: random.Random, country: str | None = None,
                two_line_p: float = 0.12) -> tuple[str, str, tuple[int, ...], str, int | None]:
    """A random (text, country, groups, separator, two_line_split), French plates over-represented."""
    from lapi import grammars

    if country is None:
        country = rng.choices(list(_SHEET_COUNTRIES), weights=list(_SHEET_COUNTRIES.values()))[0]
    L, D = grammars.LETTERS, grammars.DIGITS
    if country == "US":
        shape = rng.choice(["LLLDDDD", "DLLLDDD", "LLLDDD", "DDDLLL", "LLDDDDD", "DDDDDD", "LLLLDDD", "DLLDDD", "LLLLLL"])
        text = "".join(rng.choice(L if s == "L" else D) for s in shape)
        if len(text) == 7 and rng.random() < 0.6:
            groups = (3, 4)
        elif len(text) == 6 and rng.random() < 0.7:
            groups = (3, 3)
        else:
            groups = (len(text),)
        sep = rng.choice([" ", " ", "-", "·", ""]) if len(groups) > 1 else ""
        split = 3 if rng.random() < two_line_p * 0.5 else None
        return text, country, groups, sep, split
    if country == "BR":
        mercosur = rng.random() < 0.55
        text = "".join(rng.choice(L) for _ in range(3)) + rng.choice(D) + (rng.choice(L) if mercosur else rng.choice(D)) \
            + "".join(rng.choice(D) for _ in range(2))
        split = 3 if rng.random() < two_line_p * 0.5 else None
        return (text, country, (7,), "", split) if mercosur else (text, country, (3, 4), rng.choice(["-", "·"]), split)
    fmt, text = grammars.random_plate_text(rng, countries=[country])
    split = fmt.two_line_split if fmt.two_line_split and rng.random() < two_line_p else None
    return text, country, fmt.groups, fmt.separator, split


def contact_sheet(n: int, seed: int, columns: int = 4, tile_w: int = 340) -> np.ndarray:
    rng = random.Random(seed)
    tiles = []
    for _ in range(n):
        text, country, groups, sep, split = random_spec(rng)
        style = pick_style(country, text, sep, rng)
        crop = render_training_crop(text, country, groups, sep, rng, split, style=style)
        h, w = crop.shape[:2]
        rw = max(1, int(round(w * 64 / h)))
        small = cv2.resize(crop, (rw, 64), interpolation=cv2.INTER_AREA if h > 64 else cv2.INTER_CUBIC)[:, :tile_w]
        tile = np.full((84, tile_w, 3), 255, np.uint8)
        tile[:64, :small.shape[1]] = small
        label = f"{text} {style}{' 2L' if split else ''} {w}x{h}"
        cv2.putText(tile, label, (2, 79), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.full((84, tile_w, 3), 255, np.uint8))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Synthetic plate crops for recogniser training")
    parser.add_argument("--sheet", type=Path, required=True, help="write a contact sheet PNG here")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--columns", type=int, default=4)
    args = parser.parse_args(argv)
    sheet = contact_sheet(args.n, args.seed, args.columns)
    if not cv2.imwrite(str(args.sheet), sheet):
        raise SystemExit(f"could not write {args.sheet}")
    print(f"wrote {args.sheet} ({args.n} crops)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
