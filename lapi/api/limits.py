"""Limits on hostile input that are cheaper to check before the real work: image dimensions.

A JPEG or PNG of a few kilobytes can declare 100,000 x 100,000 pixels and take gigabytes once
decoded (a decompression bomb).  Pillow reads only the header when it opens an image, so the
declared size is checked against ``[limits]`` before the reader decodes anything.  An image whose
header Pillow cannot read is left to the reader, which refuses it with its own message.
"""

from __future__ import annotations

import io
import struct

from aiohttp import web
from PIL import JpegImagePlugin, PngImagePlugin

from lapi.plates import normalise_plate

from lapi.security_config import LimitSettings


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a JPEG/PNG header, None when the header cannot be read.  The
    format's own header parser is used (not ``Image.open``, which other libraries patch)."""
    kind = JpegImagePlugin.JpegImageFile if data[:2] == b"\xff\xd8" else (
        PngImagePlugin.PngImageFile if data[:8] == b"\x89PNG\r\n\x1a\n" else None)
    if kind is None:
        return None
    try:
        with kind(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, SyntaxError, struct.error, EOFError):
        return None


class TooLarge(Exception):
    """A body, batch or image over a configured limit (answered 413; the message names the limit)."""


def check_image_size(data: bytes, limits: LimitSettings) -> None:
    """Refuse (413) an image whose header declares more than ``limits.max_image_pixels`` pixels or a
    side longer than ``limits.max_image_side``, before it is decoded."""
    size = image_size(data)
    if size is None:
        return
    width, height = size
    if width * height > limits.max_image_pixels or max(width, height) > limits.max_image_side:
        raise TooLarge(f"image: {width} x {height} pixels is over the limit of {limits.max_image_pixels} pixels "
                       f"(limits.max_image_pixels) or {limits.max_image_side} per side (limits.max_image_side); "
                       "refused before decoding")


def plate_search(raw: str) -> str:
    """A plate as typed in a URL ``{plate}``: normalised, 1-10 letters/digits.  Refused (400): text that
    is not valid UTF-8 (aiohttp leaves undecodable ``%FF`` escapes as they are), control or unpaired
    surrogate characters, more than 64 characters."""
    if (len(raw) > 64 or "%" in raw or not raw.isprintable()
            or any(0xD800 <= ord(c) <= 0xDFFF for c in raw)):
        raise web.HTTPBadRequest(text="plate: not a plate (1-10 letters or digits, any separators, valid UTF-8, "
                                      "at most 64 characters)")
    plate = normalise_plate(raw)
    if not 1 <= len(plate) <= 10:
        raise web.HTTPBadRequest(text="plate: must have 1-10 letters or digits (separators ignored)")
    return plate


class Saturated(Exception):
    """The service holds as much work as it may (answered 429 with Retry-After)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Gate:
    """A bound on work held in memory: frames received and not yet stored (each holds its body).
    A request that would go over it is refused at once instead of queued without limit."""

    def __init__(self, capacity: int, what: str, key: str, retry_after_s: int = 1) -> None:
        self.capacity, self.what, self.key, self.retry_after_s = capacity, what, key, retry_after_s
        self.busy = 0
        self.refused = 0

    def enter(self, n: int = 1) -> None:
        if self.busy + n > self.capacity:
            self.refused += 1
            raise Saturated(f"busy: {self.busy} {self.what} waiting, the limit is {self.capacity} ({self.key}); "
                            f"retry in {self.retry_after_s} s", self.retry_after_s)
        self.busy += n

    def leave(self, n: int = 1) -> None:
        self.busy -= n
