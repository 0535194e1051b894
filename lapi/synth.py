"""Synthetic licence plates, rendered by project code.

Real labelled plates are scarce and may not be redistributed, so the detector and recogniser are
trained partly on plates we draw ourselves.  Layouts follow the real ones closely enough (EU band,
French department band, old black FNI plates, US-style plates, Mercosur) that a network which has
seen these finds real plates; the text comes from the country grammars' generators.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
)

_LETTERS_SIV = "ABCDEFGHJKLMNPQRSTVWXYZ"  # SIV never uses I, O, U
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
EU_BLUE = (153, 51, 0)  # BGR of the EU band
_FR_DEPARTMENTS = [f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B", "971", "972", "973", "974", "976"]


@dataclass(frozen=True)
class PlateStyle:
    """How a plate looks: colours in BGR and which bands it carries."""

    name: str
    background: tuple[int, int, int]
    ink: tuple[int, int, int]
    eu_band: bool
    right_band: bool = False
    top_band: bool = False
    aspect: float = 520 / 110


STYLES = {
    "fr_siv": PlateStyle("fr_siv", (245, 245, 245), (20, 20, 20), eu_band=True, right_band=True),
    "fr_fni_black": PlateStyle("fr_fni_black", (25, 25, 25), (225, 225, 225), eu_band=False),
    "fr_fni_yellow": PlateStyle("fr_fni_yellow", (40, 200, 245), (20, 20, 20), eu_band=True),
    "eu_white": PlateStyle("eu_white", (240, 240, 240), (15, 15, 15), eu_band=True),
    "uk_yellow": PlateStyle("uk_yellow", (30, 205, 250), (15, 15, 15), eu_band=False),
    "us": PlateStyle("us", (235, 235, 230), (90, 40, 20), eu_band=False, aspect=2.0),
    "mercosur": PlateStyle("mercosur", (240, 240, 240), (15, 15, 15), eu_band=False, top_band=True, aspect=400 / 130),
}


def random_french_siv(rng: random.Random) -> str:
    """A syntactically valid SIV registration, e.g. ``GV-073-KP``."""
    def pair() -> str:
        while True:
            p = rng.choice(_LETTERS_SIV) + rng.choice(_LETTERS_SIV)
            if p not in ("SS", "WW"):
                return p
    return f"{pair()}-{rng.randint(1, 999):03d}-{pair()}"


def random_french_fni(rng: random.Random) -> str:
    """An old (pre-2009) FNI registration, e.g. ``1234 AB 56``."""
    digits = str(rng.randint(1, 9999))
    letters = "".join(rng.choice(_LETTERS_SIV) for _ in range(rng.choice((2, 2, 3))))
    return f"{digits} {letters} {rng.choice(_FR_DEPARTMENTS)}"


def random_generic(rng: random.Random) -> str:
    """Letters and digits in the blocks most European and American plates use."""
    shapes = ("LLDDDLL", "LLDDLLL", "LDDLLL", "LLLDDDD", "DLLLDDD", "LLLDLDD", "LLDDDD", "DDDLLL")
    shape = rng.choice(shapes)
    return "".join(rng.choice(_LETTERS if c == "L" else _DIGITS) for c in shape)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    for path in _FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _draw_text_fitted(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, ink: tuple[int, int, int]) -> None:
    """Draw ``text`` centred in ``box``, as large as fits (plates fill their height with glyphs)."""
    x0, y0, x1, y1 = box
    size = int((y1 - y0) * 1.05)
    while size > 6:
        font = _font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= (x1 - x0) and bottom - top <= (y1 - y0):
            break
        size -= 2
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = x0 + ((x1 - x0) - (right - left)) / 2 - left
    y = y0 + ((y1 - y0) - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=font, fill=ink[::-1])


def render_plate(text: str, style: PlateStyle, height: int = 110, rng: random.Random | None = None) -> np.ndarray:
    """Render a flat, front-on plate as a BGR image ``height`` pixels tall."""
    rng = rng or random.Random(0)
    width = int(round(height * style.aspect))
    img = Image.new("RGB", (width, height), style.background[::-1])
    draw = ImageDraw.Draw(img)
    border = max(2, height // 28)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(30, 30, 30), width=border)
    left, right, top = border, width - border, border
    band_w = int(height * 0.37)
    if style.eu_band:
        draw.rectangle((border, border, border + band_w, height - border), fill=EU_BLUE[::-1])
        _draw_text_fitted(draw, (border + band_w // 5, int(height * 0.55), border + band_w - band_w // 5,
                                 height - border * 3), rng.choice("FDBINLPESK"), (240, 240, 240))
        cx, cy, r = border + band_w // 2, int(height * 0.3), band_w * 0.28
        for k in range(12):
            a = 2 * np.pi * k / 12
            sx, sy = cx + r * np.cos(a), cy + r * np.sin(a)
            draw.ellipse((sx - 1.5, sy - 1.5, sx + 1.5, sy + 1.5), fill=(255, 204, 0))
        left = border + band_w + border
    if style.right_band:
        draw.rectangle((width - border - band_w, border, width - border, height - border), fill=EU_BLUE[::-1])
        _draw_text_fitted(draw, (width - border - band_w + 4, int(height * 0.55), width - border - 4,
                                 height - border * 3), rng.choice(_FR_DEPARTMENTS), (240, 240, 240))
        right = width - border - band_w - border
    if style.top_band:
        band_h = int(height * 0.22)
        draw.rectangle((border, border, width - border, border + band_h), fill=EU_BLUE[::-1])
        top = border + band_h
    margin_y = int((height - top) * 0.12)
    _draw_text_fitted(draw, (left + border * 2, top + margin_y, right - border * 2, height - margin_y - border), text, style.ink)
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def random_plate(rng: random.Random) -> tuple[str, np.ndarray]:
    """A random plate text and its rendering, French layouts over-represented (our users' roads)."""
    kind = rng.choices(["fr_siv", "fr_fni_black", "fr_fni_yellow", "eu_white", "uk_yellow", "us", "mercosur"],
                       weights=[45, 6, 6, 25, 4, 8, 6])[0]
    if kind == "fr_siv":
        text = random_french_siv(rng)
    elif kind.startswith("fr_fni"):
        text = random_french_fni(rng)
    else:
        text = random_generic(rng)
    return text, render_plate(text, STYLES[kind], height=rng.randint(60, 130), rng=rng)


def degrade(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Camera look: blur, noise, contrast/brightness change, JPEG artefacts, sometimes IR grey."""
    out = img.astype(np.float32)
    out = out * rng.uniform(0.55, 1.25) + rng.uniform(-40, 30)
    if rng.random() < 0.15:  # night infra-red: grey, high contrast
        grey = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        out = np.repeat(grey[:, :, None], 3, axis=2) * 1.2
    out = np.clip(out + np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(0, 9), out.shape), 0, 255)
    out = out.astype(np.uint8)
    if rng.random() < 0.6:
        k = rng.choice((3, 3, 5))
        out = cv2.GaussianBlur(out, (k, k), rng.uniform(0.3, 1.4))
    ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(35, 95)])
    return cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else out


def paste_plate(frame: np.ndarray, plate: np.ndarray, centre: tuple[float, float], width: float,
                rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``plate`` into ``frame`` with a mild random perspective; returns (frame, 4x2 corner quad)."""
    ph, pw = plate.shape[:2]
    height = width * ph / pw
    cx, cy = centre
    tilt = rng.uniform(-0.08, 0.08) * width
    skew_x = rng.uniform(-0.12, 0.12) * height
    persp = rng.uniform(-0.12, 0.12) * height
    quad = np.array([
        [cx - width / 2 + skew_x, cy - height / 2 - tilt / 2 - persp / 2],
        [cx + width / 2 + skew_x, cy - height / 2 + tilt / 2 + persp / 2],
        [cx + width / 2 - skew_x, cy + height / 2 + tilt / 2 - persp / 2],
        [cx - width / 2 - skew_x, cy + height / 2 - tilt / 2 + persp / 2],
    ], dtype=np.float32)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, quad)
    fh, fw = frame.shape[:2]
    warped = cv2.warpPerspective(plate, m, (fw, fh), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), m, (fw, fh), flags=cv2.INTER_AREA)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    out = (frame.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha).astype(np.uint8)
    return out, quad


def posed_quad(centre: tuple[float, float], width: float, aspect: float, roll_deg: float,
               yaw_deg: float) -> np.ndarray:
    """Image corners (TL, TR, BR, BL) of a plate ``width`` px wide seen turned by ``yaw`` and rolled by ``roll``.

    Yaw foreshortens the plate and makes its far side shorter; roll turns it in the image plane.
    Real roadside and hand-held photos show both (a car parked at an angle, a camera on a bend).
    """
    yaw, roll = np.radians(yaw_deg), np.radians(roll_deg)
    half_w = width * np.cos(yaw) / 2
    half_h = width / aspect / 2
    near = 1 + 0.25 * np.sin(abs(yaw))  # the nearer edge looks taller, the farther one shorter
    left, right = (near, 2 - near) if yaw > 0 else (2 - near, near)
    corners = np.array([[-half_w, -half_h * left], [half_w, -half_h * right],
                        [half_w, half_h * right], [-half_w, half_h * left]])
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    return (corners @ rot.T + np.asarray(centre)).astype(np.float32)


def paste_into(frame: np.ndarray, plate: np.ndarray, alpha: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """``plate`` (with its alpha mask) warped onto ``quad`` of ``frame``."""
    ph, pw = plate.shape[:2]
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    fh, fw = frame.shape[:2]
    warped = cv2.warpPerspective(plate, m, (fw, fh), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    a = cv2.warpPerspective(alpha, m, (fw, fh), flags=cv2.INTER_AREA).astype(np.float32)[:, :, None] / 255.0
    return (frame.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a).astype(np.uint8)


def quad_to_box(quad: np.ndarray) -> tuple[float, float, float, float]:
    """Axis-aligned (x, y, w, h) of a corner quad."""
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def synthetic_scene(rng: random.Random, size: tuple[int, int] = (640, 480), text: str | None = None,
                    style: str = "fr_siv") -> tuple[np.ndarray, str, tuple[float, float, float, float]]:
    """A whole frame with one plate on a car-like body, for fixtures and smoke tests.

    With ``text`` the plate shows that text in ``style``; otherwise a random plate is drawn.
    """
    w, h = size
    frame = np.zeros((h, w, 3), np.uint8)
    top = np.array([rng.randint(120, 200), rng.randint(110, 160), rng.randint(80, 120)], np.float32)
    for y in range(h):  # sky-to-road gradient
        frame[y] = (top * (1 - y / h) + np.array([70, 70, 70]) * (y / h)).astype(np.uint8)
    body = tuple(int(c) for c in np.random.default_rng(rng.randint(0, 999)).integers(30, 220, 3))
    cv2.rectangle(frame, (w // 6, h // 4), (5 * w // 6, 7 * h // 8), body, -1)
    cv2.rectangle(frame, (w // 4, h // 4 + 10), (3 * w // 4, h // 2), (60, 50, 40), -1)  # windscreen
    if text is None:
        text, plate = random_plate(rng)
    else:
        plate = render_plate(text, STYLES[style], height=110, rng=rng)
    frame, quad = paste_plate(frame, plate, (w / 2, 0.7 * h), rng.uniform(0.3, 0.42) * w, rng)
    return degrade(frame, rng), text, quad_to_box(quad)
