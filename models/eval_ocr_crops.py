"""Recogniser-only accuracy on the ground-truth plate boxes of a manifest (no detector).

Why: ``lapi eval`` measures the whole pipeline; when choosing recogniser weights or decoding
options, detector misses would blur the comparison.  Same crop margins and preprocessing as the
pipeline (``crop_plate`` + ``prepare_crop``).

    python models/eval_ocr_crops.py --source fr_dev --recognizer models/ocr/lapi_plate_g2.json
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lapi import grammars  # noqa: E402
from lapi.reading.detector import Detection  # noqa: E402
from lapi.reading.pipeline import crop_plate, prepare_crop  # noqa: E402
from lapi.reading.recognizer import PlateRecognizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=ROOT.parent / "shared" / "data" / "plates" / "manifest.csv")
    parser.add_argument("--source", required=True, help="manifest folder, e.g. fr_dev")
    parser.add_argument("--recognizer", type=Path, default=ROOT / "models" / "ocr" / "english_g2.json")
    parser.add_argument("--countries", default="default", help="'none' (greedy), 'default' (COUNTRY_PRIORS) or codes FR,ZZ")
    parser.add_argument("--no-prepare", action="store_true", help="skip de-skew and band trimming")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()

    if args.countries == "none":
        weights = None
    elif args.countries == "default":
        weights = dict(grammars.COUNTRY_PRIORS)
    else:
        weights = grammars.weights_for(args.countries.split(","))
    recognizer = PlateRecognizer(args.recognizer, country_weights=weights)
    rows = [r for r in csv.DictReader(args.manifest.open()) if r["file"].split("/")[0] == args.source and r["w"]]
    crops = []
    for r in rows:
        img = cv2.imread(str(args.manifest.parent / r["file"]))
        box = Detection(int(float(r["x"])), int(float(r["y"])), int(float(r["w"])), int(float(r["h"])), 1.0)
        crop = crop_plate(img, box)
        crops.append(crop if args.no_prepare else prepare_crop(crop))
    reads = []
    for i in range(0, len(crops), 16):
        reads += recognizer.recognise(crops[i:i + 16])
    exact = sum(rd.text == r["plate_norm"] for rd, r in zip(reads, rows))
    if args.show_errors:
        for rd, r in zip(reads, rows):
            if rd.text != r["plate_norm"]:
                print(f"{r['file']}\ttruth {r['plate_norm']}\tread {rd.text}\t{rd.confidence:.2f}")
    print(f"{args.source}: {exact}/{len(rows)} exact ({exact / max(1, len(rows)):.3f}) with {args.recognizer.name}, "
          f"countries={args.countries}, prepare={'off' if args.no_prepare else 'on'}")


if __name__ == "__main__":
    main()
