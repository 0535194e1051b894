"""Fine-tune EasyOCR's ``english_g2`` recognition network into LAPI's plate recogniser.

Why fine-tune rather than train from scratch: the VGG + BiLSTM network already reads printed Latin
text; what it lacks is plate layouts (EU band, department badge, condensed plate fonts, two-line
motorbike plates) and the habit of never reading lower case or punctuation.  A few thousand steps
on plates fix that on a 2-core CPU, where a from-scratch network would need days.

Data, generated on the fly in worker processes:
- synthetic plate crops (``lapi.synth_ocr``) whose texts come from the country grammars
  (``lapi.grammars``) and US/Brazilian patterns, French formats over-represented as on the roads
  LAPI watches;
- real US crops of ``../shared/data/ocr_crops_us`` (the last 15 % kept out for validation).
The French and openalpr photos of ``../shared/data/plates`` are never trained on: they are the
evaluation sets of ``lapi eval``.

Crops go through exactly the inference preprocessing (``prepare_crop``: de-skew and cut to the text rows,
then grey, height 64).  The output
layer is cut down to blank + A-Z0-9 and initialised from the stock upper-case and digit rows.

    python models/train_recognizer.py --steps 3000            # train, checkpoint, export
    python models/train_recognizer.py --steps 6000 --resume   # continue from build/recognizer/last.pt
    python models/train_recognizer.py --steps 2000 --init models/ocr/lapi_plate_g2.pth --lr 1e-4  # go on from the shipped weights

Exports ``models/ocr/lapi_plate_g2.{pth,json}`` for LAPI and ``lapi_plate_g2.{yaml,py}`` so that
``easyocr.Reader(recog_network="lapi_plate_g2", ...)`` loads the same network.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lapi import synth_ocr  # noqa: E402
from lapi.boxes import iou  # noqa: E402
from lapi.evaluation import CAPTURE_IOU  # noqa: E402
from lapi.reading.detector import Detection, PlateDetector  # noqa: E402
from lapi.reading.pipeline import crop_plate, prepare_crop  # noqa: E402
from lapi.reading.rectify import split_two_lines  # noqa: E402
from lapi.reading.recognizer import (  # noqa: E402
    PlateRecognizer, RecognizerConfig, _network_module, network_image, pad_batch)

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
IMG_H = 64
MAX_W = 384
# Countries of the synthetic texts: French plates dominate the roads to the coast; the rest are
# the neighbours and the countries of vehicles most often seen in smuggling cases.
# Slovak and Czech plates are raised above their share of traffic because they carry the letters
# (I, O) that French SIV plates never use: with 3 % each the network read a Slovak plate's I as T.
COUNTRY_WEIGHTS = {"FR": 0.46, "BE": 0.04, "DE": 0.04, "NL": 0.04, "ES": 0.04, "IT": 0.04, "GB": 0.05,
                   "PL": 0.04, "CZ": 0.05, "SK": 0.05, "RO": 0.04, "US": 0.07, "BR": 0.04}


def synthetic_sample(rng: random.Random, two_line_p: float = 0.12) -> tuple[np.ndarray, str]:
    """One rendered plate crop and its text; the country drawn by COUNTRY_WEIGHTS."""
    country = rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]
    text, country, groups, separator, split = synth_ocr.random_spec(rng, country=country, two_line_p=two_line_p)
    crop = synth_ocr.render_training_crop(text, country, groups, separator, rng, two_line_split=split)
    if split:
        # two-line plates are read line by line at inference (lapi.reading.rectify.split_two_lines):
        # train on one of the lines, cut the same way
        halves = split_two_lines(prepare_crop(crop))
        if halves is not None:
            top = rng.random() < 0.5
            return (halves[0], text[:split]) if top else (halves[1], text[split:])
    return crop, text


def to_network_input(crop: np.ndarray) -> np.ndarray:
    """Grey, height IMG_H, aspect kept, width capped: the recogniser's own preprocessing."""
    return network_image(prepare_crop(crop) if crop.ndim == 3 else crop, IMG_H, MAX_W)


def load_real_crops(folder: Path) -> list[tuple[np.ndarray, str]]:
    rows = list(csv.DictReader((folder / "labels.csv").open()))
    out = []
    for row in rows:
        text = "".join(ch for ch in row["plate"].upper() if ch in ALPHABET)
        img = cv2.imread(str(folder / row["file"])) if text else None
        if img is not None:
            out.append((img, text))
    return out


def jittered_box(box: Detection, rng: random.Random) -> Detection:
    """The box moved (up to 5 % of its width, 10 % of its height) and resized, about as a detector's
    box differs from the ground truth (a guess, not fitted to measured detector boxes).

    On ``fr_dev`` some plates read right at the ground-truth box and wrong at the detector's
    (D read as C, 3 as 5): the recogniser must see the same plate cut a little off centre.
    """
    w = box.w * rng.uniform(0.94, 1.10)
    h = box.h * rng.uniform(0.90, 1.18)
    cx = box.x + box.w / 2 + box.w * rng.uniform(-0.05, 0.05)
    cy = box.y + box.h / 2 + box.h * rng.uniform(-0.10, 0.10)
    return Detection(max(0, int(cx - w / 2)), max(0, int(cy - h / 2)), max(1, int(w)), max(1, int(h)), box.score)


def detector_cuts(detections: list[Detection], truth: Detection, min_iou: float = CAPTURE_IOU) -> list[Detection]:
    """The detections of a photo that found its plate (IoU >= ``min_iou``, as ``lapi eval`` counts a capture).

    Cutting the training plate at these boxes shows the recogniser exactly the crops it gets at
    inference: the detector's own habits (boxes a little short of a plate's end, or taking in the
    dealer's lettering below it) rather than a guess at them.  The shipped detector was trained on
    the US and Brazilian photos, so its boxes there sit closer to the truth than on photos it never
    saw: the moved boxes of :func:`jittered_box` stay for the rest.
    """
    t = (truth.x, truth.y, truth.w, truth.h)
    return [d for d in detections if iou((d.x, d.y, d.w, d.h), t) >= min_iou]


def load_manifest_crops(manifest: Path, folders: list[str], jittered: int = 0,
                        seed: int = 0, detector: PlateDetector | None = None) -> list[tuple[np.ndarray, str]]:
    """Plates of whole photos cut at their ground-truth boxes as the pipeline cuts a detection,
    plus ``jittered`` cuts per plate at boxes moved as a detector's are (:func:`jittered_box`),
    plus, with a ``detector``, cuts at its boxes that found the plate (:func:`detector_cuts`).

    Only the manifest folders named (``openalpr_us``, ``openalpr_br``): ``fr_dev`` and
    ``openalpr_eu`` stay held out for ``lapi eval``.
    """
    rng = random.Random(seed)
    out = []
    for row in csv.DictReader(manifest.open()):
        if row["file"].split("/")[0] not in folders or not row.get("w"):
            continue
        img = cv2.imread(str(manifest.parent / row["file"]))
        if img is None:
            continue
        box = Detection(*(int(float(row[k])) for k in "xywh"), 1.0)
        if not row["plate_norm"]:
            continue
        found = detector_cuts(detector.detect([img])[0], box) if detector is not None else []
        for cut in [box] + [jittered_box(box, rng) for _ in range(jittered)] + found:
            crop = crop_plate(img, cut)
            if crop.size:
                out.append((crop.copy(), row["plate_norm"]))
    return out


def augment_real(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Mild geometric and photometric jitter so 640 real crops are not memorised."""
    h, w = img.shape[:2]
    dx, dy = w * 0.04, h * 0.08
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[rng.uniform(-dx, dx), rng.uniform(-dy, dy)], [w + rng.uniform(-dx, dx), rng.uniform(-dy, dy)],
                      [w + rng.uniform(-dx, dx), h + rng.uniform(-dy, dy)], [rng.uniform(-dx, dx), h + rng.uniform(-dy, dy)]])
    img = cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)
    img = np.clip(img.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 1.2))
    return img


class PlateStream(IterableDataset):
    """Endless (image, text) pairs: synthetic plates mixed with real crops."""

    def __init__(self, real: list[tuple[np.ndarray, str]], real_fraction: float, seed: int) -> None:
        self.real, self.real_fraction, self.seed = real, real_fraction, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0) + int(time.time()) % 1000)
        while True:
            if self.real and rng.random() < self.real_fraction:
                img, text = rng.choice(self.real)
                img = augment_real(img, rng)
            else:
                img, text = synthetic_sample(rng)
            yield to_network_input(img), text


def collate(batch: list[tuple[np.ndarray, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """Right-pad with the edge column (as inference does), encode targets for CTC."""
    texts = [t for _, t in batch]
    targets = torch.tensor([ALPHABET.index(ch) + 1 for t in texts for ch in t], dtype=torch.long)
    lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)
    return pad_batch([img for img, _ in batch]), targets, lengths, texts


def build_model(stock_config: Path) -> torch.nn.Module:
    """generation2 network with a blank + A-Z0-9 head initialised from the stock weights."""
    stock = PlateRecognizer(stock_config, device="cpu")
    chars = stock.config.characters
    module = _network_module(stock.config.network)
    model = module.Model(num_class=len(ALPHABET) + 1, **stock.config.network_params)
    state = {k: v for k, v in stock.model.state_dict().items() if not k.startswith("Prediction.")}
    model.load_state_dict(state, strict=False)
    old_w, old_b = stock.model.Prediction.weight.data, stock.model.Prediction.bias.data
    rows = [0] + [chars.index(ch) + 1 for ch in ALPHABET]
    model.Prediction.weight.data.copy_(old_w[rows])
    model.Prediction.bias.data.copy_(old_b[rows])
    return model


def greedy(log_probs: torch.Tensor) -> list[str]:
    out = []
    for seq in log_probs.argmax(dim=2).tolist():
        text, prev = [], 0
        for label in seq:
            if label and label != prev:
                text.append(ALPHABET[label - 1])
            prev = label
        out.append("".join(text))
    return out


@torch.inference_mode()
def evaluate(model: torch.nn.Module, samples: list[tuple[np.ndarray, str]], batch: int = 32) -> float:
    model.eval()
    hits = 0
    for i in range(0, len(samples), batch):
        x, _, _, texts = collate(samples[i:i + batch])
        preds = greedy(model(x, None).log_softmax(2))
        hits += sum(p == t for p, t in zip(preds, texts))
    model.train()
    return hits / max(1, len(samples))


def export(model: torch.nn.Module, out_dir: Path, stock: RecognizerConfig, note: dict) -> None:
    """Weights + LAPI config + the EasyOCR custom-network pair (yaml + py) beside them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # "module." prefixes: EasyOCR strips them on CPU and loads through DataParallel on GPU
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, out_dir / "lapi_plate_g2.pth")
    (out_dir / "lapi_plate_g2.json").write_text(json.dumps({
        "description": "LAPI plate recogniser: EasyOCR generation2 (VGG + BiLSTM + CTC) fine-tuned from english_g2 on plates",
        "weights": "lapi_plate_g2.pth",
        "network": "generation2",
        "network_params": stock.network_params,
        "characters": ALPHABET,
        "img_height": IMG_H,
        "case_insensitive": False,
        "plate_alphabet": ALPHABET,
        "trained_by": "models/train_recognizer.py",
        **note,
    }, indent=2) + "\n")
    (out_dir / "lapi_plate_g2.yaml").write_text(
        "# EasyOCR custom recognition network: easyocr.Reader(['en'], recog_network='lapi_plate_g2',\n"
        "#   user_network_directory='models/ocr', model_storage_directory='models/ocr', detector=False)\n"
        "network_params:\n"
        f"  input_channel: {stock.network_params['input_channel']}\n"
        f"  output_channel: {stock.network_params['output_channel']}\n"
        f"  hidden_size: {stock.network_params['hidden_size']}\n"
        f"imgH: {IMG_H}\n"
        "lang_list:\n  - 'en'\n"
        f"character_list: {ALPHABET}\n"
    )
    (out_dir / "lapi_plate_g2.py").write_text(
        '"""EasyOCR custom-network module for lapi_plate_g2: the stock generation2 network, unchanged."""\n\n'
        "from easyocr.model.vgg_model import Model  # noqa: F401\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="total optimiser steps (a resumed run continues to this)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "data" / "ocr_crops_us")
    parser.add_argument("--real-fraction", type=float, default=0.15)
    parser.add_argument("--real-photos", default="", help="also train on the ground-truth plates of these manifest "
                        "folders, e.g. openalpr_us,openalpr_br (never fr_dev or openalpr_eu: they are held out)")
    parser.add_argument("--photo-jitter", type=int, default=3, help="extra cuts of each --real-photos plate at "
                        "boxes moved and resized as a detector's are (0: the ground-truth box only)")
    parser.add_argument("--detector-cuts", action=argparse.BooleanOptionalAction, default=True,
                        help="also cut each --real-photos plate at the boxes the detector finds for it (default on)")
    parser.add_argument("--detector", type=Path, default=ROOT / "models" / "detector",
                        help="detector folder for --detector-cuts (default models/detector)")
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "plates" / "manifest.csv")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "recognizer")
    parser.add_argument("--stock", type=Path, default=ROOT / "models" / "ocr" / "english_g2.json")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "ocr")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--keep-every", type=int, default=0, help="also export the weights every N steps to "
                        "--work/stepN (a multiple of --eval-every), to compare them with lapi eval")
    parser.add_argument("--resume", action="store_true", help="continue from --work/last.pt (weights, optimiser, step)")
    parser.add_argument("--init", type=Path, help="start from these exported weights (e.g. models/ocr/lapi_plate_g2.pth) "
                        "instead of the stock english_g2: continue training in a later session")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="forward and backward in bfloat16 autocast (weights, optimiser "
                        "and CTC loss in fp32): ~2.9x the steps/s on an Intel AMX CPU, where bfloat16 runs in hardware")
    args = parser.parse_args()
    held_out = {"fr_dev", "openalpr_eu"} & set(filter(None, args.real_photos.split(",")))
    if held_out:
        parser.error(f"--real-photos: {', '.join(sorted(held_out))} are evaluation sets and are never trained on")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    real = load_real_crops(args.real) if (args.real / "labels.csv").exists() else []
    random.Random(42).shuffle(real)
    n_val_real = int(len(real) * 0.15)
    val_real, train_real = real[:n_val_real], real[n_val_real:]
    print(f"[data] real crops: {len(train_real)} train, {len(val_real)} validation", flush=True)

    val_rng = random.Random(12345)
    val_synth = []
    for _ in range(400):
        img, text = synthetic_sample(val_rng)
        val_synth.append((to_network_input(img), text))
    val_real_samples = [(to_network_input(img), t) for img, t in val_real]
    if args.real_photos:
        detector = PlateDetector(args.detector) if args.detector_cuts else None
        photos = load_manifest_crops(args.manifest, args.real_photos.split(","), args.photo_jitter, args.seed, detector)
        train_real += photos
        print(f"[data] + {len(photos)} cuts of plates from photos of {args.real_photos} (ground-truth box + "
              f"{args.photo_jitter} moved{' + the detector boxes that found the plate' if detector else ''})", flush=True)

    model = build_model(args.stock)
    if args.init and not args.resume:
        state = torch.load(args.init, map_location="cpu", weights_only=False)
        model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        print(f"[train] starting from {args.init}", flush=True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, best = 0, -1.0
    last = args.work / "last.pt"
    if args.resume and last.exists():
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimiser.load_state_dict(ckpt["optimiser"])
        step, best = ckpt["step"], ckpt["best"]
        print(f"[train] resumed at step {step} (best {best:.3f})", flush=True)

    def lr_at(s: int) -> float:
        warm = 100
        if s < warm:
            return args.lr * (s + 1) / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, args.steps - warm))))

    stream = PlateStream(train_real, args.real_fraction if train_real else 0.0, args.seed + step)
    loader = DataLoader(stream, batch_size=args.batch, collate_fn=collate, num_workers=args.workers,
                        persistent_workers=args.workers > 0)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    model.train()
    t0, running = time.time(), 0.0
    if step == 0:
        s_acc, r_acc = evaluate(model, val_synth), evaluate(model, val_real_samples)
        print(f"[eval] step 0: synthetic {s_acc:.3f}, real US {r_acc:.3f}", flush=True)
    for x, targets, target_lengths, _ in loader:
        if step >= args.steps:
            break
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            scores = model(x, None)
        log_probs = scores.float().log_softmax(2).permute(1, 0, 2)  # (T, N, C) for CTCLoss
        input_lengths = torch.full((x.shape[0],), log_probs.shape[0], dtype=torch.long)
        loss = ctc(log_probs, targets, input_lengths, target_lengths)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        step += 1
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 20 == 0:
            rate = 20 * args.batch / (time.time() - t0)
            t0 = time.time()
            print(f"[train] step {step}/{args.steps} loss {running:.3f} lr {lr_at(step):.2e} {rate:.1f} crops/s", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            s_acc, r_acc = evaluate(model, val_synth), evaluate(model, val_real_samples)
            score = 0.5 * (s_acc + r_acc) if val_real_samples else s_acc
            print(f"[eval] step {step}: synthetic {s_acc:.3f}, real US {r_acc:.3f}", flush=True)
            torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                        "best": max(best, score)}, last)
            if args.keep_every and step % args.keep_every == 0:  # kept to be judged by lapi eval later
                export(model, args.work / f"step{step}", RecognizerConfig.load(args.stock), {"training": {"steps": step}})
            if score > best:
                best = score
                shutil.copy(last, args.work / "best.pt")
                stock_cfg = RecognizerConfig.load(args.stock)
                export(model, args.out, stock_cfg, {"training": {
                    "steps": step, "validation_synthetic_exact": round(s_acc, 4),
                    "validation_real_us_exact": round(r_acc, 4)}})
                print(f"[export] step {step}: new best {best:.3f} -> {args.out / 'lapi_plate_g2.pth'}", flush=True)


if __name__ == "__main__":
    main()
