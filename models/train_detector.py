"""Train LAPI's plate detector (ultralytics YOLO) on CPU or GPU.

Why crops: a 2-core CPU cannot train on 1280x720 frames in reasonable time, but plates are small, so
320x320 windows cut at native scale around them keep every plate pixel while costing ~1/9 of a frame.
Training data: the real Romanian dash-cam frames of ``../shared/data/detector_ro_dashcam`` plus
synthetic plates (``lapi.synth``) warped into those same frames, so French layouts are seen too.
The run resumes from the shipped weights when they exist (fine-tune), else starts from scratch.

    python models/train_detector.py --epochs 40            # build data, train, export
    python models/train_detector.py --epochs 40 --resume   # continue an interrupted run
    python models/train_detector.py --epochs 6 --save-period 1 --export-dir build/detector/export
        # go on from the shipped weights, keep each epoch, compare on fr_dev before shipping

Exports ``models/detector/plate_yolo.pt`` and its ``model.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lapi import synth, synth_ocr  # noqa: E402

os.environ.setdefault("YOLO_OFFLINE", "1")
CROP = 320
INFER_SIZE = 640  # model.json imgsz: the long side frames are scaled to at inference


def _read_yolo_labels(path: Path, w: int, h: int) -> list[tuple[float, float, float, float]]:
    boxes = []
    if path.exists():
        for line in path.read_text().split("\n"):
            parts = line.split()
            if len(parts) == 5:
                cx, cy, bw, bh = (float(p) for p in parts[1:])
                boxes.append(((cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h))
    return boxes


def _crop_around(img: np.ndarray, boxes: list[tuple[float, float, float, float]], focus: tuple[float, float, float, float],
                 rng: random.Random) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """A CROP x CROP window at native scale containing ``focus``; boxes clipped to it (kept if >60 % inside)."""
    h, w = img.shape[:2]
    fx, fy, fw, fh = focus
    x0 = int(np.clip(rng.uniform(fx + fw - CROP, fx), 0, max(0, w - CROP)))
    y0 = int(np.clip(rng.uniform(fy + fh - CROP, fy), 0, max(0, h - CROP)))
    crop = img[y0:y0 + CROP, x0:x0 + CROP]
    kept = []
    for bx, by, bw, bh in boxes:
        cx0, cy0 = max(bx, x0), max(by, y0)
        cx1, cy1 = min(bx + bw, x0 + crop.shape[1]), min(by + bh, y0 + crop.shape[0])
        if cx1 > cx0 and cy1 > cy0 and (cx1 - cx0) * (cy1 - cy0) >= 0.6 * bw * bh:
            kept.append((cx0 - x0, cy0 - y0, cx1 - cx0, cy1 - cy0))
    return crop, kept


def _write_sample(out: Path, split: str, name: str, img: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> None:
    h, w = img.shape[:2]
    cv2.imwrite(str(out / split / "images" / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    lines = [f"0 {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}" for x, y, bw, bh in boxes]
    (out / split / "labels" / f"{name}.txt").write_text("\n".join(lines))


def _frames(source: Path, src_split: str, manifest: Path | None, manifest_sources: list[str]):
    """(name, image path, boxes loader) of every training frame: dash-cam frames, then manifest photos."""
    for frame_path in sorted((source / src_split / "images").glob("*.jpg")):
        label = source / src_split / "labels" / f"{frame_path.stem}.txt"
        yield frame_path.stem, frame_path, lambda w, h, label=label: _read_yolo_labels(label, w, h)
    if manifest is None or src_split != "train":
        return
    for row in csv.DictReader(manifest.open()):
        if row["file"].split("/")[0] in manifest_sources and row["w"]:
            box = (float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"]))
            yield f"m_{Path(row['file']).stem}", manifest.parent / row["file"], lambda w, h, box=box: [box]


def _rescale(img: np.ndarray, boxes: list, long_side: int) -> tuple[np.ndarray, list]:
    """The frame as the detector sees it at inference (long side = its imgsz), boxes scaled alike."""
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    if s >= 1:
        return img, boxes
    small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return small, [(x * s, y * s, bw * s, bh * s) for x, y, bw, bh in boxes]


@dataclass(frozen=True)
class PlateLooks:
    """How the posed synthetic plates vary: the shapes the detector misses on French photos are
    plates rolled 15-25 degrees (hand-held photos, so the box is squarish) and black collection
    plates with silver characters."""

    two_line_p: float = 0.12  # square two-line plates (motorbikes, some rear plates)
    roll_sd: float = 7.0      # degrees
    max_roll: float = 22.0
    black_p: float = 0.0      # French plates drawn black with silver characters (collection cars)


def _paste_posed_plate(canvas: np.ndarray, centre: tuple[float, float], width: float,
                       rng: random.Random, looks: PlateLooks) -> tuple[np.ndarray, np.ndarray]:
    """A realistic plate (lapi.synth_ocr layouts, French ones most often) turned and rolled as in real photos.

    The label is the axis-aligned box of the turned plate, as the evaluation sets annotate it.
    """
    text, country, groups, sep, split = synth_ocr.random_spec(rng, two_line_p=looks.two_line_p)
    style = "fr_fni_black" if country == "FR" and rng.random() < looks.black_p else None
    plate, alpha = synth_ocr.render_flat_plate(text, country, groups, sep, rng, two_line_split=split, style=style)
    roll = float(np.clip(rng.gauss(0, looks.roll_sd), -looks.max_roll, looks.max_roll))
    yaw = rng.uniform(-50, 50) if rng.random() < 0.4 else float(np.clip(rng.gauss(0, 12), -50, 50))
    quad = synth.posed_quad(centre, width, plate.shape[1] / plate.shape[0], roll, yaw)
    return synth.paste_into(canvas, synth.degrade(plate, rng), alpha, quad), quad


def build_dataset(source: Path, out: Path, synthetic_per_frame: int, seed: int, manifest: Path | None = None,
                  manifest_sources: list[str] | None = None, looks: PlateLooks = PlateLooks()) -> Path:
    """Write the crop dataset and its data.yaml; returns the yaml path.

    Each frame is first scaled as inference scales it (long side = INFER_SIZE), so that plates
    in training windows have the pixel size the detector meets in service; half of the dash-cam
    frames also give a window at full resolution (cameras set to a larger imgsz, very distant plates).
    """
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    for split in ("train", "val"):
        (out / split / "images").mkdir(parents=True)
        (out / split / "labels").mkdir(parents=True)
    for split, src_split in (("train", "train"), ("val", "valid")):
        frames = list(_frames(source, src_split, manifest, manifest_sources or []))
        for i, (stem, frame_path, load_boxes) in enumerate(frames):
            full = cv2.imread(str(frame_path))
            if full is None:
                continue
            full_boxes = load_boxes(full.shape[1], full.shape[0])
            img, boxes = _rescale(full, full_boxes, INFER_SIZE)
            h, w = img.shape[:2]
            for j, focus in enumerate(boxes):
                crop, kept = _crop_around(img, boxes, focus, rng)
                _write_sample(out, split, f"{stem}_r{j}", crop, kept)
            if split == "train" and not stem.startswith("m_") and full_boxes and rng.random() < 0.5:
                crop, kept = _crop_around(full, full_boxes, rng.choice(full_boxes), rng)
                _write_sample(out, split, f"{stem}_f", crop, kept)
            if not boxes or rng.random() < 0.3:  # background window: teaches what is not a plate
                focus = (rng.uniform(0, w - CROP), rng.uniform(0, h - CROP), 1, 1)
                crop, kept = _crop_around(img, boxes, focus, rng)
                _write_sample(out, split, f"{stem}_n", crop, kept)
            n_synth = synthetic_per_frame if split == "train" else 1
            for k in range(n_synth):
                canvas, all_boxes = img.copy(), list(boxes)
                focus = None
                for _ in range(rng.choice((1, 1, 2))):
                    width = math.exp(rng.uniform(math.log(22), math.log(220)))
                    centre = (rng.uniform(width, w - width), rng.uniform(h * 0.3, h * 0.95))
                    if rng.random() < 0.7:
                        canvas, quad = _paste_posed_plate(canvas, centre, width, rng, looks)
                    else:
                        _, plate = synth.random_plate(rng)
                        canvas, quad = synth.paste_plate(canvas, synth.degrade(plate, rng), centre, width, rng)
                    box = synth.quad_to_box(quad)
                    all_boxes.append(box)
                    focus = focus or box
                canvas = synth.degrade(canvas, rng) if rng.random() < 0.3 else canvas
                crop, kept = _crop_around(canvas, all_boxes, focus, rng)
                _write_sample(out, split, f"{stem}_s{k}", crop, kept)
            if i % 50 == 0:
                print(f"[data] {split}: {i}/{len(frames)} frames", flush=True)
    yaml_path = out / "data.yaml"
    yaml_path.write_text(f"path: {out}\ntrain: train/images\nval: val/images\nnames:\n  0: plate\n")
    return yaml_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "detector_ro_dashcam")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "detector")
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "plates" / "manifest.csv",
                        help="photos with plate boxes; only --manifest-sources folders are trained on")
    parser.add_argument("--manifest-sources", default="openalpr_us,openalpr_br",
                        help="manifest folders used for training (fr_dev and openalpr_eu stay held out for lapi eval)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--synthetic-per-frame", type=int, default=2)
    parser.add_argument("--arch", default="yolov8n.yaml", help="model yaml for a from-scratch start")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --work")
    parser.add_argument("--init", type=Path, help="start from these weights (default: the shipped detector, else scratch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--two-line-p", type=float, default=PlateLooks.two_line_p,
                        help="share of posed synthetic plates of the square two-line kind (motorbikes, some rear plates)")
    parser.add_argument("--roll-sd", type=float, default=PlateLooks.roll_sd, help="roll of posed plates: SD in degrees")
    parser.add_argument("--max-roll", type=float, default=PlateLooks.max_roll, help="roll of posed plates: bound in degrees")
    parser.add_argument("--black-p", type=float, default=PlateLooks.black_p,
                        help="share of French posed plates drawn black with silver characters (collection cars)")
    parser.add_argument("--lr0", type=float, default=0.01, help="initial learning rate (lower to fine-tune gently)")
    parser.add_argument("--warmup-epochs", type=float, default=3.0)
    parser.add_argument("--export-dir", type=Path, default=ROOT / "models" / "detector",
                        help="where the best weights and model.json go (a build folder to compare before shipping)")
    parser.add_argument("--save-period", type=int, default=-1,
                        help="also keep every N-th epoch's weights (run/weights/epochK.pt), to choose among them on "
                             "held-out photos: the validation split is Romanian dash-cam frames, not French photos")
    args = parser.parse_args()
    args.work = args.work.resolve()  # ultralytics puts a relative project under runs/detect/

    from ultralytics import YOLO

    manifest_sources = [s.strip() for s in args.manifest_sources.split(",") if s.strip()]

    run_dir = args.work / "run"
    last = run_dir / "weights" / "last.pt"
    if args.resume and last.exists():
        YOLO(str(last)).train(resume=True)
    else:
        manifest = args.manifest if args.manifest.exists() and manifest_sources else None
        yaml_path = build_dataset(args.data, args.work / "data", args.synthetic_per_frame, args.seed, manifest,
                                  manifest_sources, PlateLooks(args.two_line_p, args.roll_sd, args.max_roll, args.black_p))
        shipped = ROOT / "models" / "detector" / "plate_yolo.pt"
        start = str(args.init) if args.init else str(shipped) if shipped.exists() else args.arch
        print(f"[train] starting from {start}", flush=True)
        YOLO(start).train(
            data=str(yaml_path), imgsz=CROP, epochs=args.epochs, batch=args.batch, device=args.device,
            workers=2, project=str(args.work), name="run", exist_ok=True, plots=False, seed=args.seed,
            patience=max(10, args.epochs // 3), scale=0.6, degrees=3.0, mosaic=1.0, close_mosaic=5,
            fliplr=0.0, amp=args.device != "cpu", verbose=False, cache="ram", save_period=args.save_period,
            lr0=args.lr0, warmup_epochs=args.warmup_epochs,
        )
    best = run_dir / "weights" / "best.pt"
    export_dir = args.export_dir
    export_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(best, export_dir / "plate_yolo.pt")
    from ultralytics.utils.torch_utils import strip_optimizer

    strip_optimizer(str(export_dir / "plate_yolo.pt"))  # fp16 weights only: ~6 MB instead of ~18 MB
    (export_dir / "model.json").write_text(json.dumps({
        "weights": "plate_yolo.pt", "task": "detect", "classes": ["plate"], "imgsz": INFER_SIZE,
        "conf": 0.1, "iou": 0.5, "trained_by": "models/train_detector.py",
        "training_data": ["detector_ro_dashcam (MIT)",
                          "lapi.synth_ocr plates turned/rolled and lapi.synth plates composited into those frames",
                          *(f"plates/{s} (photos with boxes)" for s in manifest_sources)],
        "held_out": "plates/fr_dev and plates/openalpr_eu are never trained on",
    }, indent=2) + "\n")
    print(f"[export] {export_dir / 'plate_yolo.pt'}", flush=True)


if __name__ == "__main__":
    main()
