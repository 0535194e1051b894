"""Choose the read filter's confidence floors (``reading.min_confidence[_generic]``) on real photos.

Why a sweep: the detector runs permissively, so every photo yields a few reads of things that are
not plates; the floors trade those false reads against correct reads of hard plates.  The script
reads every detection of the chosen manifest parts once (slow part, cached as JSON lines), then
replays the pipeline's keep-and-rank rule for a grid of floors and prints, per part, the exact
end-to-end reads and the reads kept from boxes that are not the plate (IoU < 0.3).

    python models/sweep_read_filter.py --parts fr_dev,openalpr_eu,openalpr_us,openalpr_br
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lapi.boxes import touches_frame_edge  # noqa: E402
from lapi.config import load_settings  # noqa: E402
from lapi.evaluation import _box, _truth_box, iou, load_manifest, read_rank  # noqa: E402
from lapi.plates import is_plausible_plate, normalise_plate  # noqa: E402
from lapi.reading.pipeline import PlateReader, crop_plate, prepare_crop  # noqa: E402


def collect(reader: PlateReader, manifest: Path, parts: list[str], cache: Path) -> list[dict]:
    """One record per detection (first ``max_plates_per_frame``) with its read, unfiltered."""
    if cache.exists():
        return [json.loads(line) for line in cache.read_text().splitlines()]
    rows = [r for r in load_manifest(manifest) if r["file"].split("/")[0] in parts]
    records = []
    for i, row in enumerate(rows, 1):
        image = cv2.imread(str(manifest.parent / row["file"]))
        truth_box = _truth_box(row)
        detections = reader.detector.detect([image])[0][: reader.max_plates_per_frame]
        for det, rec in zip(detections, reader.recognizer.recognise([prepare_crop(crop_plate(image, d)) for d in detections])):
            records.append(dict(part=row["file"].split("/")[0], file=row["file"], truth=row["plate_norm"],
                                det=det.score, iou=iou(_box(det), truth_box) if truth_box else 0.0,
                                edge=touches_frame_edge(_box(det), image.shape[1], image.shape[0]),
                                text=normalise_plate(rec.text), format=rec.format_name, conf=rec.confidence))
        print(f"\r[sweep] read {i}/{len(rows)} photos", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def replay(records: list[dict], truths: dict[str, tuple[str, str]], floor: float, floor_generic: float) -> dict:
    """Per part: (exact end-to-end, false reads kept), as ``PlateReader.keeps`` + ``best_read`` would give."""
    by_file: dict[str, list[dict]] = {}
    for r in records:
        if is_plausible_plate(r["text"]) and r["conf"] >= (floor if r["format"] else floor_generic):
            by_file.setdefault(r["file"], []).append(r)
    out: dict[str, list[int]] = {}
    for file, (part, truth) in truths.items():
        kept = by_file.get(file, [])
        tally = out.setdefault(part, [0, 0])
        tally[1] += sum(r["iou"] < 0.3 for r in kept)
        if kept:
            best = max(kept, key=lambda r: read_rank(r["format"] is not None, r.get("edge", False),
                                                     r["det"], r["conf"]))
            tally[0] += best["text"] == truth
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "plates" / "manifest.csv")
    parser.add_argument("--parts", default="fr_dev,openalpr_eu,openalpr_us,openalpr_br")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "sweep_read_filter.jsonl",
                        help="detections read once are kept here; delete it after changing a model")
    args = parser.parse_args()
    parts = args.parts.split(",")
    reader = PlateReader.from_settings(load_settings(ROOT / "configs" / "lapi.toml", env={}))
    records = collect(reader, args.manifest, parts, args.cache)
    truths = {r["file"]: (r["file"].split("/")[0], r["plate_norm"]) for r in load_manifest(args.manifest)
              if r["file"].split("/")[0] in parts}
    print("floor  generic  " + "  ".join(f"{p:>18}" for p in parts) + "   (exact, false reads)")
    for floor_generic in (0.8, 0.9):
        for floor in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            res = replay(records, truths, floor, floor_generic)
            print(f"{floor:5.1f}  {floor_generic:7.1f}  " + "  ".join(f"{str(tuple(res.get(p, (0, 0)))):>18}" for p in parts))


if __name__ == "__main__":
    main()
