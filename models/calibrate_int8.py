"""Calibrate a recogniser for int8 reading (``reading.precision = "int8"``) and store the scales in its JSON.

Why: an int8 convolution needs the range of the activations it writes, fixed in advance so that a
plate reads the same in any batch.  The ranges come from the fp32 network on plates rendered by
``lapi.synth_ocr`` (every country and layout, prepared as the pipeline prepares crops), never from
evaluation photos.  Run it again after the weights change.

    python models/calibrate_int8.py --config models/ocr/lapi_plate_g2.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lapi.bench_ocr import synthetic_crops  # noqa: E402
from lapi.reading import int8_features  # noqa: E402
from lapi.reading.recognizer import (PlateRecognizer, network_image, pad_batch, padded_width,  # noqa: E402
                                     width_groups)
from lapi.reading.vgg_features import VggFeatures  # noqa: E402


def calibration_batches(recognizer: PlateRecognizer, n: int, seed: int) -> Iterator[torch.Tensor]:
    """``n`` rendered plates as network inputs, in batches of one padded width (as a CPU reads them)."""
    images = [network_image(c, recognizer.config.img_height) for c in synthetic_crops(n, seed)]
    for idx in width_groups([padded_width(img.shape[1]) for img in images]):
        yield pad_batch([images[i] for i in idx], padded_width(images[idx[0]].shape[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "models" / "ocr" / "lapi_plate_g2.json")
    parser.add_argument("--n", type=int, default=512, help="rendered plates (default 512)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--percentile", type=float, default=0.99999,
                        help="share of each stage's activations below its top step (default 0.99999)")
    args = parser.parse_args(argv)
    if not 0.9 <= args.percentile <= 1.0:
        parser.error("--percentile: between 0.9 and 1")

    recognizer = PlateRecognizer(args.config)
    stages = VggFeatures(recognizer.model.FeatureExtraction).stages
    if stages is None:
        print(f"{args.config}: not EasyOCR's VGG feature extractor; int8 reading does not apply", file=sys.stderr)
        return 2
    print(f"calibrating on {args.n} rendered plates ...", file=sys.stderr, flush=True)
    scales = int8_features.calibrate(stages, calibration_batches(recognizer, args.n, args.seed), args.percentile)
    raw = json.loads(args.config.read_text())
    raw["int8"] = {
        "activation_scales": [float(f"{s:.6g}") for s in scales],
        "calibrated_by": "models/calibrate_int8.py",
        "calibration": {"plates": args.n, "seed": args.seed, "percentile": args.percentile,
                        "source": "lapi.synth_ocr rendered plates"},
    }
    args.config.write_text(json.dumps(raw, indent=2) + "\n")
    print(f"{args.config}: int8.activation_scales = {raw['int8']['activation_scales']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
