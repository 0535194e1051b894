"""``lapi eval``: end-to-end accuracy of the reading pipeline on a labelled manifest.

The scoring is pure (:func:`score_image`, :func:`aggregate`) so it is tested on hand-made cases;
:func:`evaluate_manifest` runs the real pipeline on whole images (the ground-truth box is used only
for scoring, never for reading).
"""

from __future__ import annotations

import csv
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from lapi.boxes import Box, iou
from lapi.perturb import Perturbation, perturb
from lapi.plates import edit_distance
from lapi.reading.detector import Detection
from lapi.reading.pipeline import PlateRead, PlateReader

METRICS = ("capture_rate", "read_accuracy", "end_to_end", "char_accuracy", "ms_per_image_median")
GROUP_KEYS = ("source", "country", "format")
CAPTURE_IOU = 0.5


@dataclass(frozen=True)
class ImageScore:
    groups: dict[str, str]
    has_box: bool
    captured: bool
    read_correct: bool  # the read from the captured box is exact (only meaningful when captured)
    end_to_end: bool
    char_accuracy: float
    ms: float
    read: str = ""  # the image's best read (A-Z0-9), "" when nothing was read


def read_rank(has_format: bool, at_frame_edge: bool, detector_score: float,
              confidence: float) -> tuple[bool, bool, float]:
    """How reads of one image are ordered for a user: one that fits a known plate format before one
    that fits none (lettering on a van reads confidently too), then one whose box stays inside the
    frame before one on its border (a cut plate, a watermark), then the most confident
    detection-and-reading."""
    return has_format, not at_frame_edge, detector_score * confidence


def best_read(reads: list[PlateRead]) -> PlateRead | None:
    """The read a user would be shown first (see :func:`read_rank`)."""
    return max(reads, key=lambda r: read_rank(r.format_name is not None, r.at_frame_edge, r.box.score, r.confidence),
               default=None)


def _box(d: Detection) -> Box:
    return (d.x, d.y, d.w, d.h)


def score_image(truth: str, truth_box: Box | None, detections: list[Detection], reads: list[PlateRead],
                ms: float, groups: dict[str, str]) -> ImageScore:
    captured = truth_box is not None and any(iou(_box(d), truth_box) >= CAPTURE_IOU for d in detections)
    read_correct = False
    if captured:
        on_truth = [r for r in reads if iou(_box(r.box), truth_box) >= CAPTURE_IOU]  # type: ignore[arg-type]
        best_on_truth = best_read(on_truth)
        read_correct = best_on_truth is not None and best_on_truth.plate_norm == truth
    best = best_read(reads)
    text = best.plate_norm if best else ""
    char_acc = max(0.0, 1.0 - edit_distance(text, truth) / max(len(truth), 1))
    return ImageScore(groups, truth_box is not None, captured, read_correct, text == truth, char_acc, ms, text)


def aggregate(scores: list[ImageScore]) -> dict[str, Any]:
    def summary(items: list[ImageScore]) -> dict[str, Any]:
        boxed = [s for s in items if s.has_box]
        captured = [s for s in boxed if s.captured]
        return {
            "n": len(items),
            "capture_rate": round(len(captured) / len(boxed), 4) if boxed else None,
            "read_accuracy": round(sum(s.read_correct for s in captured) / len(captured), 4) if captured else None,
            "end_to_end": round(sum(s.end_to_end for s in items) / len(items), 4) if items else None,
            "char_accuracy": round(sum(s.char_accuracy for s in items) / len(items), 4) if items else None,
            "ms_per_image_median": round(statistics.median(s.ms for s in items), 1) if items else None,
        }

    result = summary(scores)
    result["by_group"] = {}
    for key in GROUP_KEYS:
        names = sorted({s.groups.get(key, "") for s in scores})
        result["by_group"][key] = {name or "(none)": summary([s for s in scores if s.groups.get(key, "") == name])
                                   for name in names}
    return result


def load_manifest(path: Path, limit: int | None = None) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    required = {"file", "plate_norm"}
    if rows and not required <= set(rows[0]):
        raise ValueError(f"{path}: manifest needs columns {sorted(required)}")
    return rows[:limit] if limit else rows


def _truth_box(row: dict[str, str]) -> Box | None:
    try:
        return (float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"]))
    except (KeyError, ValueError, TypeError):
        return None


def evaluate_manifest(reader: PlateReader, manifest: Path, limit: int | None = None,
                      progress: bool = True, source_filter: str | None = None,
                      misses: Path | None = None, perturbation: Perturbation | None = None) -> dict[str, Any]:
    """The figures of :func:`aggregate`; ``misses``: a CSV of every image not read exactly (file,
    truth, best read, whether the plate was captured), to look at what fails; ``perturbation``:
    every photo changed so (:mod:`lapi.perturb`), its ground-truth box moved along."""
    rows = load_manifest(manifest, None)
    if source_filter:
        rows = [r for r in rows if source_filter in r.get("source", "") or r["file"].startswith(source_filter)]
    rows = rows[:limit] if limit else rows
    scores: list[ImageScore] = []
    interactive = sys.stderr.isatty()  # redraw one line on a terminal, a line per 10 % in logs
    t_start = time.perf_counter()
    for i, row in enumerate(rows, 1):
        image = cv2.imread(str(manifest.parent / row["file"]))
        groups = {k: row.get(k, "") for k in GROUP_KEYS}
        truth_box = _truth_box(row)
        if image is None:
            scores.append(ImageScore(groups, truth_box is not None, False, False, False, 0.0, 0.0))
        else:
            if perturbation is not None:
                image, truth_box = perturb(image, truth_box, perturbation)
            t0 = time.perf_counter()
            ((detections, reads),) = reader.detect_and_read([image])
            ms = (time.perf_counter() - t0) * 1000
            scores.append(score_image(row["plate_norm"], truth_box, detections, reads, ms, groups))
        step = max(1, len(rows) // 10)
        if progress and (interactive or i % step == 0 or i == len(rows)):
            done = sum(s.end_to_end for s in scores)
            eta = (time.perf_counter() - t_start) / i * (len(rows) - i)
            bar = "#" * int(30 * i / len(rows))
            print(f"\r[eval] |{bar:<30}| {i}/{len(rows)}  exact so far {done}/{i}  eta {eta:4.0f}s",
                  end="" if interactive else "\n", file=sys.stderr, flush=True)
    if progress and interactive:
        print(file=sys.stderr)
    if misses is not None:
        write_misses(misses, rows, scores)
    return aggregate(scores)


def write_misses(path: Path, rows: list[dict[str, str]], scores: list[ImageScore]) -> None:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["file", "plate_norm", "read", "captured", "ms"])
        for row, score in zip(rows, scores):
            if not score.end_to_end:
                out.writerow([row["file"], row["plate_norm"], score.read, int(score.captured), round(score.ms, 1)])


def format_table(result: dict[str, Any]) -> str:
    """Human-readable table of the overall and per-group figures."""
    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) and v <= 1 else str(v)

    lines = [f"{'group':<34}{'n':>5}  {'capture':>8}{'read':>8}{'e2e':>8}{'char':>8}{'ms':>9}"]

    def row(name: str, r: dict[str, Any]) -> str:
        return (f"{name:<34}{r['n']:>5}  {fmt(r['capture_rate']):>8}{fmt(r['read_accuracy']):>8}"
                f"{fmt(r['end_to_end']):>8}{fmt(r['char_accuracy']):>8}{fmt(r['ms_per_image_median']):>9}")

    lines.append(row("ALL", result))
    for key, groups in result["by_group"].items():
        for name, r in groups.items():
            lines.append(row(f"{key}={name}"[:33], r))
    return "\n".join(lines)
