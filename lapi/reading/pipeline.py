"""Frame -> plate reads: decode the image, detect plates, crop, recognise.

This is the only place that knows the order of the reading stages; the HTTP API, the CLI and the
evaluation command all read through :class:`PlateReader`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from lapi.boxes import touches_frame_edge
from lapi.config import Settings
from lapi.plates import is_plausible_plate, normalise_plate
from lapi.reading.detector import Detection, PlateDetector
from lapi.reading.recognizer import PlateRecognizer, Recognition
from lapi.reading.rectify import level_and_tighten, text_quads
from lapi.reading.turn import best_per_place, map_box, turn_frame

MAX_PIXELS = 40_000_000  # a frame larger than this is refused, not decoded (decompression bombs)
PLATE_ASPECT = 4.6  # width / height of a one-line plate's box (520 x 110 mm EU plates, as the detector boxes them)
WIDE_ENOUGH = 0.8  # a box at least this share of PLATE_ASPECT wide is not widened (see PlateReader._widen_fragments)
FRAGMENT_CHARS = 2  # a shorter read is no evidence of a cut plate
DOUBT = 0.9  # a read with a character chosen with less confidence than this is looked at again
# (width, height) scales of the box for the other looks at a doubtful read: wider and taller, tighter
RECUTS = ((1.08, 1.15), (0.94, 0.92), (1.04, 1.07), (0.97, 0.96))

_Look = tuple[int, np.ndarray, Detection, Recognition]  # frame index, crop, box, recognition


class ImageDecodeError(ValueError):
    """The bytes are not a decodable JPEG/PNG image."""


@dataclass(frozen=True)
class PlateRead:
    """One plate found in a frame."""

    text: str  # as printed on the plate when a format fits ("GV-073-KP"), else as read
    plate_norm: str  # A-Z0-9 form used for matching and queries
    confidence: float
    char_confidences: tuple[float, ...]
    box: Detection
    crop_jpeg: bytes = field(repr=False)
    country: str | None = None  # country of the plate format the read fits
    format_name: str | None = None
    at_frame_edge: bool = False  # the box reaches the border of the image it was read from: the plate may be cut

    def as_dict(self) -> dict:
        return {
            "text": self.text, "plate_norm": self.plate_norm, "country": self.country,
            "plate_format": self.format_name, "confidence": self.confidence,
            "char_confidences": list(self.char_confidences),
            "box": {"x": self.box.x, "y": self.box.y, "w": self.box.w, "h": self.box.h},
            "detector_score": self.box.score, "at_frame_edge": self.at_frame_edge,
        }


def decode_image(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes -> BGR array, or :class:`ImageDecodeError` saying why."""
    if not data:
        raise ImageDecodeError("empty image body")
    buf = np.frombuffer(data, np.uint8)
    header_ok = data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"
    if not header_ok:
        raise ImageDecodeError("not a JPEG or PNG image (bad file signature)")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageDecodeError("image data is corrupt or truncated")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageDecodeError(f"image too large: {img.shape[1]}x{img.shape[0]} pixels (max {MAX_PIXELS})")
    return img


def crop_bounds(frame: np.ndarray, box: Detection, margin_x: float = 0.04, margin_y: float = 0.12) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the box with a small margin: detectors cut plate edges tight, and clipped glyphs misread."""
    fh, fw = frame.shape[:2]
    mx, my = int(box.w * margin_x), int(box.h * margin_y)
    return max(0, box.x - mx), max(0, box.y - my), min(fw, box.x + box.w + mx), min(fh, box.y + box.h + my)


def widened(box: Detection, frame_w: int, aspect: float = PLATE_ASPECT) -> Detection | None:
    """The box stretched about its centre to a one-line plate's width, moved inside the frame where it
    would stick out (cut to the frame's width at most), or None when it is near that wide already."""
    width = int(round(box.h * aspect))
    if box.w >= WIDE_ENOUGH * width:
        return None
    x0 = max(0, min(box.x + box.w // 2 - width // 2, frame_w - width))
    x1 = min(frame_w, x0 + width)
    if x1 - x0 <= box.w:
        return None
    return Detection(x0, box.y, x1 - x0, box.h, box.score)


def rescaled(box: Detection, sx: float, sy: float, frame_shape: tuple[int, ...]) -> Detection:
    """The box scaled about its centre by ``sx`` x ``sy``, moved inside the frame (and cut to it)."""
    fh, fw = frame_shape[:2]
    w, h = min(fw, max(4, int(box.w * sx))), min(fh, max(4, int(box.h * sy)))
    x = max(0, min(fw - w, box.x + box.w // 2 - w // 2))
    y = max(0, min(fh - h, box.y + box.h // 2 - h // 2))
    return Detection(x, y, w, h, box.score)


def _holds_fragment(whole: Recognition, fragment: Recognition) -> bool:
    """Whether ``fragment`` reads as a piece (``FRAGMENT_CHARS`` characters or more) of ``whole``."""
    piece = normalise_plate(fragment.text)
    return len(piece) >= FRAGMENT_CHARS and piece in normalise_plate(whole.text)


def crop_plate(frame: np.ndarray, box: Detection) -> np.ndarray:
    x0, y0, x1, y1 = crop_bounds(frame, box)
    return frame[y0:y1, x0:x1]


def prepare_crop(crop: np.ndarray) -> np.ndarray:
    """What the recogniser is given: the crop levelled and cut to its text rows.

    The blue EU band and the department badge stay in: the recogniser is trained on crops that
    carry them and emits blanks over them, and the grammar decode never places a plate character
    there.  Cutting them by colour cost more than it saved (navy FNI characters and dark bands
    look alike; a cut through the last glyph turns W into V): 84 -> 89 of 105 fr_dev
    ground-truth crops with the same network once the cut was dropped.
    """
    return level_and_tighten(crop)


class PlateReader:
    """Detector + recogniser, loaded once and shared by every request."""

    def __init__(self, detector_dir: Path, recognizer_config: Path, device: str = "cpu",
                 max_plates_per_frame: int = 8, country_weights: Mapping[str, float] | None = None,
                 min_confidence: float = 0.0, min_confidence_generic: float = 0.0,
                 device_crops: bool | None = None, retry_rotations: tuple[float, ...] = (),
                 widen_fragments: bool = True, precision: str = "fp32",
                 recheck_doubtful: bool = True, retry_sizes: tuple[int, ...] = ()) -> None:
        """``device_crops``: cut and resize plates on the recogniser's device (None: on a GPU only);
        ``retry_rotations``: angles (degrees) at which a frame with no read is looked at again;
        ``retry_sizes``: detector input sizes at which it is also looked at again;
        ``widen_fragments``: re-read short boxes whose read fits no format at a plate's width;
        ``recheck_doubtful``: re-read plates with a doubtful character from other cuts of their box;
        ``precision``: the recogniser network's arithmetic, see :class:`PlateRecognizer`."""
        self.detector = PlateDetector(detector_dir, device=device)
        self.device_crops = device.startswith("cuda") if device_crops is None else device_crops
        self.recognizer = PlateRecognizer(recognizer_config, device=device, country_weights=country_weights,
                                          precision=precision)
        self.max_plates_per_frame = max_plates_per_frame
        self.min_confidence = min_confidence
        self.min_confidence_generic = min_confidence_generic
        self.retry_rotations = tuple(retry_rotations)
        self.retry_sizes = tuple(retry_sizes)
        self.widen_fragments = widen_fragments
        # only a fragment that would be reported by itself is looked at again: boxes on lettering and
        # grilles read as unformatted junk, and widening them all cost ~100 ms a US photo for no read
        self.widen_floor = min_confidence_generic
        self.recheck_doubtful = recheck_doubtful

    @classmethod
    def from_settings(cls, settings: Settings) -> "PlateReader":
        return cls(settings.detector_dir, settings.recognizer_config, settings.device, settings.max_plates_per_frame,
                   settings.country_weights or None, settings.min_confidence, settings.min_confidence_generic,
                   settings.device_crops, settings.retry_rotations, precision=settings.precision,
                   retry_sizes=settings.retry_sizes)

    def warm_up(self) -> float:
        """Read a blank frame twice, so that the first camera frame does not pay for one-off set-up
        (on a CPU the detector's trace and TorchScript's first optimising runs, oneDNN's first
        calls); the seconds it took."""
        t0 = time.perf_counter()
        frame = np.full((480, 640, 3), 114, np.uint8)
        frame[200:260, 220:420] = 255  # a pale plate-sized patch: the recogniser runs too, whatever is found
        for _ in range(2):
            self.detector.detect([frame])
            self.recognizer.recognise([frame[200:260, 220:420]])
        return time.perf_counter() - t0

    def keeps(self, recognition: Recognition) -> bool:
        """Whether a recognition is reported: a plausible plate string, confident enough for its kind.

        The detector is run permissively so that hard plates are not missed; what it also finds
        (lettering on the car, signs, grilles) reads with low confidence or fits no plate format.
        Floors chosen by ``models/sweep_read_filter.py`` over every detection of fr_dev and
        openalpr_eu/us/br (figures in docs/benchmarks.md): 0.6 for a read that fits a format, 0.8
        for one that fits none, on the grammar-aware confidence of ``ctc.Decoded.confidence``.
        """
        if not is_plausible_plate(normalise_plate(recognition.text)):
            return False
        generic = recognition.format_name is None and self.recognizer.bank is not None  # grammar on, no format fits
        floor = self.min_confidence_generic if generic else self.min_confidence
        return recognition.confidence >= floor

    def read_frames(self, frames: list[np.ndarray], second_look: Sequence[bool] | None = None) -> list[list[PlateRead]]:
        """Reads for each frame; fragments that cannot be a plate are dropped."""
        return [reads for _, reads in self.detect_and_read(frames, second_look)]

    def detect_and_read(self, frames: list[np.ndarray], second_look: Sequence[bool] | None = None,
                        ) -> list[tuple[list[Detection], list[PlateRead]]]:
        """Per frame, every detection and the reads kept from them (evaluation needs both).

        A frame where nothing is read is looked at again, turned by each of ``retry_rotations`` and
        at each detector input size of ``retry_sizes``, and the best read of each place in all these
        looks is kept.  A plate photographed by hand is often rolled by 10-25 degrees, and the
        detector, trained on level plates, misses its squarish box; and the detector's boxes move
        with the scale it sees a plate at, so a plate it misses at one size (a farther or smaller
        camera, a tighter framing) it often finds at another.  Only frames without a read pay for
        the retries, and only those whose ``second_look`` flag is set (default: all).
        """
        detections = self.detector.detect(frames)
        reads = self._read(frames, detections)
        allowed = [True] * len(frames) if second_look is None else list(second_look)
        misses = [i for i, frame_reads in enumerate(reads) if not frame_reads and allowed[i]]
        retries = [retry for retry, wanted in ((self._read_turned, self.retry_rotations),
                                               (self._read_resized, self.retry_sizes)) if wanted]
        if misses and retries:
            looks = [retry([frames[i] for i in misses]) for retry in retries]
            for k, i in enumerate(misses):
                detections[i] = detections[i] + [d for look in looks for d in look[k][0]]
                reads[i] = best_per_place(r for look in looks for r in look[k][1])
        return list(zip(detections, reads))

    def _read_resized(self, frames: list[np.ndarray]) -> list[tuple[list[Detection], list[PlateRead]]]:
        """Each frame detected and read at every size of ``retry_sizes``, every read kept."""
        out: list[tuple[list[Detection], list[PlateRead]]] = [([], []) for _ in frames]
        for size in self.retry_sizes:
            dets = self.detector.detect(frames, imgsz=size)
            for (all_dets, all_reads), frame_dets, frame_reads in zip(out, dets, self._read(frames, dets)):
                all_dets.extend(frame_dets)
                all_reads.extend(frame_reads)
        return out

    def _read_turned(self, frames: list[np.ndarray]) -> list[tuple[list[Detection], list[PlateRead]]]:
        """Each frame read at every retry angle; boxes mapped back to the frame, best read per place kept."""
        turned, owners, backs = [], [], []
        for i, frame in enumerate(frames):
            for angle in self.retry_rotations:
                image, back = turn_frame(frame, angle)
                turned.append(image)
                owners.append(i)
                backs.append(back)
        turned_dets = self.detector.detect(turned)
        turned_reads = self._read(turned, turned_dets)
        out: list[tuple[list[Detection], list[PlateRead]]] = [([], []) for _ in frames]
        for owner, back, frame_reads, dets in zip(owners, backs, turned_reads, turned_dets):
            shape = frames[owner].shape
            out[owner][0].extend(map_box(d, back, shape) for d in dets)
            out[owner][1].extend(replace(r, box=map_box(r.box, back, shape)) for r in frame_reads)
        return [(dets, best_per_place(frame_reads)) for dets, frame_reads in out]

    def _read(self, frames: list[np.ndarray], detections: list[list[Detection]]) -> list[list[PlateRead]]:
        boxes = [(i, det) for i, dets in enumerate(detections) for det in dets[: self.max_plates_per_frame]]
        looks = self._recognise(frames, boxes)
        if self.widen_fragments and self.recognizer.bank is not None:
            looks = self._widen_fragments(frames, looks)
        if self.recheck_doubtful and self.recognizer.bank is not None:
            looks = self._recheck_doubtful(frames, looks)
        out: list[list[PlateRead]] = [[] for _ in frames]
        for owner, crop, det, rec in looks:
            if not self.keeps(rec):
                continue
            norm = normalise_plate(rec.text)
            ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
            height, width = frames[owner].shape[:2]
            out[owner].append(PlateRead(rec.display or rec.text, norm, rec.confidence, rec.char_confidences, det,
                                        jpeg.tobytes() if ok else b"", rec.country, rec.format_name,
                                        touches_frame_edge((det.x, det.y, det.w, det.h), width, height)))
        return out

    def _widen_fragments(self, frames: list[np.ndarray], looks: list[_Look]) -> list[_Look]:
        """Boxes narrower than a plate whose read fits no format, read again stretched to a plate's width.

        On a low-contrast plate (a grey old FNI plate, a dirty one) the detector sometimes boxes only
        the part that stands out, and the read is a fragment that fits no format ("56RR" for
        EL-156-RR).  The wider read replaces it only when it fits a format and holds the fragment:
        a plate of another shape (a US plate is twice as wide as tall) reads whole in its own box,
        and its wider read, taking in the car around it, is not a longer version of it.  Only a
        fragment read confidently enough to be reported (``widen_floor``) earns the second look.
        """
        redo = [(k, wide) for k, (owner, _, det, rec) in enumerate(looks)
                if rec.format_name is None and len(normalise_plate(rec.text)) >= FRAGMENT_CHARS
                and rec.confidence >= self.widen_floor and (wide := widened(det, frames[owner].shape[1])) is not None]
        if not redo:
            return looks
        again = self._recognise(frames, [(looks[k][0], wide) for k, wide in redo])
        by_box = {(look[0], look[2]): look for look in again}
        looks = list(looks)
        for k, wide in redo:
            look = by_box.get((looks[k][0], wide))
            if look is not None and look[3].format_name is not None and _holds_fragment(look[3], looks[k][3]):
                looks[k] = look
        return looks

    def _recheck_doubtful(self, frames: list[np.ndarray], looks: list[_Look]) -> list[_Look]:
        """Reads with a doubtful character, read again from other cuts of their box; a formatted
        string other than the first read that most of those looks agree on replaces it.

        One look at a plate can tip a worn 3 into a 5 or a C into a D (a ``choice_confidences``
        value below ``DOUBT``), and which way it tips moves with where the box cuts: on fr_dev a
        single pair of other cuts gained 0 to 3 photos depending on one pixel of rounding.  Four
        looks, wider and tighter (``RECUTS``), three of which must agree against the first read,
        make the outcome depend less on any one cut.  Only formatted reads that would be reported
        pay for it (about one look in seventeen on fr_dev, one in sixteen on openalpr_us).
        """
        redo = [k for k, (_, _, _, rec) in enumerate(looks)
                if rec.format_name is not None and self.keeps(rec) and min(rec.choice_confidences, default=1.0) < DOUBT]
        if not redo:
            return looks
        boxes = [(looks[k][0], rescaled(looks[k][2], sx, sy, frames[looks[k][0]].shape))
                 for k in redo for sx, sy in RECUTS]
        again = self._recognise(frames, boxes)
        if len(again) != len(boxes):  # a cut fell outside its frame: leave these reads alone
            return looks
        looks = list(looks)
        for j, k in enumerate(redo):
            mine = again[j * len(RECUTS):(j + 1) * len(RECUTS)]
            others = [look[3] for look in mine if look[3].format_name is not None]
            tally = Counter(normalise_plate(rec.text) for rec in others)
            text, votes = tally.most_common(1)[0] if tally else ("", 0)
            if 2 * votes > len(RECUTS) and text != normalise_plate(looks[k][3].text):
                owner, crop, det, _ = looks[k]
                looks[k] = (owner, crop, det, max((rec for rec in others if normalise_plate(rec.text) == text),
                                                  key=lambda rec: rec.confidence))
        return looks

    def _recognise(self, frames: list[np.ndarray], boxes: list[tuple[int, Detection]]) -> list[_Look]:
        """(frame index, crop, box, recognition) for each box of ``boxes`` that cuts a non-empty crop."""
        crops, owners, dets, quads = [], [], [], []
        for i, det in boxes:
            frame = frames[i]
            x0, y0, x1, y1 = crop_bounds(frame, det)
            crop = frame[y0:y1, x0:x1]
            if crop.size:
                crops.append(crop)
                owners.append(i)
                dets.append(det)
                if self.device_crops:  # the host only measures where to cut; the device cuts
                    quads.append(text_quads(crop, (x0, y0)))
        if self.device_crops:
            recognitions = self.recognizer.recognise_quads(frames, owners, quads)
        else:
            recognitions = self.recognizer.recognise([prepare_crop(c) for c in crops])
        return list(zip(owners, crops, dets, recognitions))

    def read_image_bytes(self, data: bytes) -> tuple[list[PlateRead], float]:
        """Decode and read one image; returns the reads and the reading time in ms."""
        frame = decode_image(data)
        t0 = time.perf_counter()
        reads = self.read_frames([frame])[0]
        return reads, (time.perf_counter() - t0) * 1000.0
