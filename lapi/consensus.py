"""One plate string per vehicle pass, voted over the reads of its track.

A single frame can be blurred, or a post can hide two characters; the other frames of the same
pass usually read the plate well.  The pass's plate is therefore voted character by character:

* reads are grouped by plate format and length (only reads of the same template line up
  character for character; a read cut short by an occlusion is a different length and only
  counts against the format's share, never inside the vote);
* within the winning group, each position's character is the one with the most weight, a read's
  weight being its per-character confidence times the quality of its crop (plate height in
  pixels, sharpness), and only characters the plate grammar allows at that position can win;
* the result must be a plate the format can have issued (its extra rules too), otherwise the
  nearest variant that is, or the best single read that is.

The pass's confidence says how sure the vote is: per position, the reads' confidences add up as
log-odds for the winner and against it, scaled by ``1/sqrt(n)`` because the frames of one pass are
not independent evidence (same plate, same light), so ten agreeing reads count more than one but
far less than ten independent ones would.  That running confidence decides when a watchlist hit
can be raised before the vehicle has left the picture.

Pure: no I/O; reads only need the attributes of :class:`~lapi.reading.pipeline.PlateRead`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from lapi import grammars
from lapi.grammars import PlateFormat
from lapi.tracking import Box, text_overlap

GENERIC_WEIGHT = 0.5     # a read fitting no known format weighs half in the choice of format
CONF_FLOOR, CONF_CEIL = 0.5, 0.995  # per-character confidences clipped: no read is certain
SIZE_FULL_PX = 40.0      # plates this tall (box height) or taller count fully
SHARPNESS_FULL = 0.25    # mean |Laplacian| / mean |gradient| of a crisp plate at 32 px height
MIN_QUALITY = 0.05
EDGE_QUALITY = 0.25      # a crop on the frame's border (a plate entering or leaving the picture) may be cut


@dataclass(frozen=True)
class Observation:
    """One read of the pass: when it was taken, the read, and the quality of its crop."""

    t: float
    read: Any  # PlateRead (text, plate_norm, confidence, char_confidences, box, crop_jpeg, country, format_name,
    #              at_frame_edge)
    quality: float


def crop_sharpness(crop_jpeg: bytes) -> float:
    """Edge crispness of a plate crop in [0, 1], independent of its contrast.

    The mean absolute Laplacian over the mean gradient magnitude, on the crop scaled to 32 px
    height, grows as edges get steeper: about 0.25 on a crisp plate, under 0.2 once motion blur
    spreads each stroke edge over several pixels (or a tiny crop was scaled up).  1.0 when the crop
    is missing: no evidence of blur.
    """
    if not crop_jpeg:
        return 1.0
    grey = cv2.imdecode(np.frombuffer(crop_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None or grey.size == 0:
        return 1.0
    h = 32
    w = max(8, int(round(grey.shape[1] * h / max(1, grey.shape[0]))))
    g = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    lap = np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean()
    grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)).mean()
    if grad < 1e-3:
        return 0.0  # a flat crop
    return float(min(1.0, (lap / grad) / SHARPNESS_FULL) ** 2)


def crop_quality(read: Any) -> float:
    """How much a read's crop is to be trusted: plate height in pixels times sharpness, in (0, 1],
    a quarter of that on the frame's border.  A plate leaving the picture is at its largest and
    sharpest just as the border cuts it, and a cut plate can still read as a valid shorter one
    (9343 ZH 68 -> 343 ZH 68)."""
    size = min(1.0, max(0.0, read.box.h / SIZE_FULL_PX))
    edge = EDGE_QUALITY if read.at_frame_edge else 1.0
    return max(MIN_QUALITY, size * edge * max(0.2, crop_sharpness(read.crop_jpeg)))


def observe(t: float, read: Any) -> Observation:
    return Observation(t, read, crop_quality(read))


@dataclass(frozen=True)
class Consensus:
    """The pass's plate as voted so far."""

    text: str                 # as printed when a format fits ("GV-073-KP")
    plate_norm: str
    country: str | None
    format_name: str | None
    confidence: float
    char_confidences: tuple[float, ...]
    frames: int               # reads in the pass
    agreeing: int             # reads that read exactly this plate
    best_index: int           # the observation with the best crop of this plate
    first_seen: float
    last_seen: float
    direction: str | None     # approaching, receding, left_to_right, right_to_left, stationary
    bearing: float | None     # compass direction of travel (from the camera heading), degrees

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "plate_norm": self.plate_norm, "country": self.country,
                "plate_format": self.format_name, "confidence": self.confidence,
                "char_confidences": list(self.char_confidences), "frames": self.frames,
                "agreeing": self.agreeing, "direction": self.direction, "bearing": self.bearing}


@lru_cache(maxsize=512)
def _templates(country: str | None, name: str | None, length: int) -> tuple[PlateFormat, ...]:
    code = country or grammars.GENERIC
    fmts = tuple(f for f in grammars.FORMATS.get(code, ()) if f.length == length and (country is None or f.name == name))
    if fmts:
        return fmts
    return (PlateFormat(grammars.GENERIC, "generic", (grammars.ALNUM,) * length, (length,), "", 0.01),)


def _logit(p: float) -> float:
    p = min(CONF_CEIL, max(CONF_FLOOR, p))
    return math.log(p / (1 - p))


def _vote(group: list[Observation], templates: tuple[PlateFormat, ...]) -> tuple[str, list[dict[str, float]]]:
    """The winning string of a length-aligned group, and each position's weight per character."""
    length = templates[0].length
    allowed = ["".join(sorted({c for f in templates for c in f.slots[j]})) for j in range(length)]
    weights: list[dict[str, float]] = [{} for _ in range(length)]
    for ob in group:
        confs = ob.read.char_confidences
        for j, ch in enumerate(ob.read.plate_norm):
            c = confs[j] if j < len(confs) else ob.read.confidence
            weights[j][ch] = weights[j].get(ch, 0.0) + ob.quality * c
    chars = []
    for j in range(length):
        ranked = sorted(((w, ch) for ch, w in weights[j].items() if ch in allowed[j]), key=lambda x: (-x[0], x[1]))
        chars.append(ranked[0][1] if ranked else "?")
    return "".join(chars), weights


def _issuable(text: str, weights: list[dict[str, float]], templates: tuple[PlateFormat, ...],
              group: list[Observation]) -> tuple[str, PlateFormat | None]:
    """``text`` if a template accepts it; else the best variant changing one weak position; else the
    best single read a template accepts; else ``text`` with no format."""
    for f in templates:
        if f.accepts(text):
            return text, f
    order = sorted(range(len(text)), key=lambda j: weights[j].get(text[j], 0.0))
    for j in order:
        for _, ch in sorted(((w, c) for c, w in weights[j].items() if c != text[j]), key=lambda x: (-x[0], x[1])):
            variant = text[:j] + ch + text[j + 1:]
            for f in templates:
                if f.accepts(variant):
                    return variant, f
    for ob in sorted(group, key=lambda o: -o.quality * o.read.confidence):
        for f in templates:
            if f.accepts(ob.read.plate_norm):
                return ob.read.plate_norm, f
    return text, None


def direction_of_travel(track: Sequence[tuple[float, Box]], heading: float | None,
                        min_rate: float = 0.3) -> tuple[str | None, float | None]:
    """Which way the vehicle went, from its plate box's motion and the camera's heading.

    The box's centre and height are fitted linearly against time, in plate heights per second.
    Moving down the picture and growing means driving towards the camera (against its heading);
    up and shrinking, away from it (with it); sideways, across its view (heading +/- 90 degrees).
    Slower than ``min_rate`` plate heights a second on every axis is "stationary".
    """
    if len(track) < 2 or track[-1][0] - track[0][0] <= 0:
        return None, None
    ts = np.array([t for t, _ in track]) - track[0][0]
    cx = np.array([b.x + b.w / 2 for _, b in track])
    cy = np.array([b.y + b.h / 2 for _, b in track])
    hs = np.array([b.h for _, b in track])
    scale = max(1.0, float(hs.mean()))
    def slope(v: np.ndarray) -> float:
        return float(np.polyfit(ts, v, 1)[0]) / scale if len(set(ts.tolist())) > 1 else 0.0
    along = slope(cy) + 2.0 * slope(hs)  # growth is small in pixels but a strong cue: counted double
    across = slope(cx)
    if max(abs(along), abs(across)) < min_rate:
        return "stationary", None
    if abs(along) >= abs(across):
        name, offset = ("approaching", 180.0) if along > 0 else ("receding", 0.0)
    else:
        name, offset = ("left_to_right", 90.0) if across > 0 else ("right_to_left", 270.0)
    return name, (None if heading is None else round((heading + offset) % 360.0, 1))


def consensus(observations: Sequence[Observation], heading: float | None = None) -> Consensus:
    """The pass's plate from its reads so far (at least one)."""
    if not observations:
        raise ValueError("a pass needs at least one read")
    groups: dict[tuple[str | None, str | None, int], list[Observation]] = {}
    for ob in observations:
        r = ob.read
        groups.setdefault((r.country, r.format_name, len(r.plate_norm)), []).append(ob)

    def support(key: tuple[str | None, str | None, int]) -> float:
        s = sum(ob.quality * ob.read.confidence for ob in groups[key])
        return s * (GENERIC_WEIGHT if key[0] is None else 1.0)

    key = max(groups, key=lambda k: (support(k), k[2], str(k)))  # ties: the longer, then by name
    group = groups[key]
    templates = _templates(*key)
    voted, weights = _vote(group, templates)
    text, fmt = _issuable(voted, weights, templates, group)

    n_eff = math.sqrt(max(1.0, sum(ob.quality for ob in group)))
    char_conf = []
    for j, ch in enumerate(text):
        evidence = 0.0
        for ob in group:
            confs = ob.read.char_confidences
            c = confs[j] if j < len(confs) else ob.read.confidence
            evidence += ob.quality * (_logit(c) if ob.read.plate_norm[j] == ch else -_logit(c))
        char_conf.append(1.0 / (1.0 + math.exp(-evidence / n_eff)))
    # reads outside the winning group count against it as far as they contradict it: a read cut
    # short by an occlusion ("EH561" of "EH561ZR") does not, a read of another plate does
    against = sum(ob.quality * ob.read.confidence * (1.0 - text_overlap(ob.read.plate_norm, text))
                  * (GENERIC_WEIGHT if ob.read.country is None else 1.0)
                  for k, members in groups.items() if k != key for ob in members)
    share = support(key) / (support(key) + against) if support(key) > 0 else 0.0
    mean = math.exp(sum(math.log(max(c, 1e-9)) for c in char_conf) / len(char_conf)) if char_conf else 0.0
    confidence = round(share * mean, 4)

    same = [i for i, ob in enumerate(observations) if ob.read.plate_norm == text]
    in_group = {id(ob) for ob in group}
    pool = same or [i for i, ob in enumerate(observations) if id(ob) in in_group]
    best = max(pool, key=lambda i: (observations[i].quality * observations[i].read.confidence, -i))
    real = fmt is not None and fmt.country != grammars.GENERIC
    direction, bearing = direction_of_travel([(ob.t, Box.of(ob.read.box)) for ob in observations], heading)
    return Consensus(
        text=fmt.display(text) if real else text, plate_norm=text,
        country=fmt.country if real else None, format_name=fmt.name if real else None,
        confidence=confidence, char_confidences=tuple(round(c, 4) for c in char_conf),
        frames=len(observations), agreeing=len(same), best_index=best,
        first_seen=observations[0].t, last_seen=observations[-1].t, direction=direction, bearing=bearing)
