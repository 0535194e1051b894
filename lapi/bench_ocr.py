"""``lapi bench ocr``: LAPI's batched recogniser against stock ``easyocr.Reader.recognize``.

Both read the same crops with the same network weights (``lapi_plate_g2``, which EasyOCR loads as a
custom network), so the figure isolates what LAPI changes: one padded forward pass per batch (per
width group on a CPU) and a tensor greedy collapse, instead of a DataLoader, a PIL resize and a
Python decode per crop.  Stock EasyOCR is given the crops already at the network's height, so the
resize it would otherwise do is not counted against it, and both decoders see identical pixels: the
share of identical strings then checks that the batched path reads what EasyOCR reads.

Crops are the ground-truth plate boxes of ``../shared/data/plates`` when present (real photos),
else synthetic plates rendered by ``lapi.synth_ocr``.
"""

from __future__ import annotations

import random
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from lapi.benchstats import percentile
from lapi.reading import int8_features
from lapi.reading.pipeline import prepare_crop
from lapi.reading.recognizer import PlateRecognizer, cpu_has_bf16_hardware, greedy_decode_batch, network_image

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models" / "ocr"
ROUNDS = 4
"""Turns the paths take over the crops (see :func:`bench_ocr`)."""


@dataclass
class OcrBench:
    device: str
    crops: int
    crop_source: str
    batch: int
    stock_plates_per_s: float
    stock_p50_ms: float  # per crop: stock EasyOCR reads one crop per call on a CPU
    stock_p99_ms: float
    stock_quantized_plates_per_s: float | None  # EasyOCR's CPU default (int8 LSTM/linear)
    lapi_plates_per_s: float
    lapi_batch_p50_ms: float
    lapi_batch_p99_ms: float
    lapi_grammar_plates_per_s: float  # the production path: grammar-constrained decode
    speedup: float  # LAPI greedy against the faster stock mode
    identical_strings: float  # share of crops where both greedy decoders give the same string
    # the network in bfloat16 where the device computes it in hardware (close plates read again in fp32)
    lapi_bf16_plates_per_s: float | None
    bf16_identical_strings: float | None
    speedup_bf16: float | None
    # the convolutions in int8 on a CPU (close plates read again in fp32)
    lapi_int8_plates_per_s: float | None
    int8_identical_strings: float | None
    speedup_int8: float | None
    # the same per CPU-second of this process (all its threads): steadier than wall time on a shared machine
    stock_plates_per_cpu_s: float  # the faster stock mode
    lapi_plates_per_cpu_s: float
    speedup_cpu: float
    peak_rss_mib: float
    peak_device_mib: float | None



def synthetic_crops(n: int, seed: int = 0) -> list[np.ndarray]:
    """Rendered plate crops of every country and layout (one- and two-line), prepared like real ones."""
    from lapi import synth_ocr

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text, country, groups, separator, split = synth_ocr.random_spec(rng)
        out.append(prepare_crop(synth_ocr.render_training_crop(text, country, groups, separator, rng,
                                                               two_line_split=split)))
    return out


def load_crops(n: int, seed: int = 0, manifest: Path | None = None) -> tuple[list[np.ndarray], str]:
    """``n`` plate crops, prepared as the pipeline prepares them (levelled, cut to the text rows)."""
    manifest = manifest or ROOT.parent / "shared" / "data" / "plates" / "manifest.csv"
    crops: list[np.ndarray] = []
    source = "synthetic (lapi.synth_ocr)"
    if manifest.exists():
        from lapi.evaluation import _truth_box, load_manifest

        for row in load_manifest(manifest):
            box = _truth_box(row)
            image = cv2.imread(str(manifest.parent / row["file"])) if box else None
            if image is None:
                continue
            x, y, w, h = (int(round(v)) for v in box)
            crop = image[max(0, y): y + h, max(0, x): x + w]
            if crop.size:
                crops.append(prepare_crop(crop))
            if len(crops) == n:
                break
        source = f"ground-truth boxes of {manifest.parent.name}/{manifest.name} ({len(crops)} real crops"\
                 + (", cycled)" if len(crops) < n else ")")
    if not crops:
        crops = synthetic_crops(min(n, 512), seed)
    return [crops[i % len(crops)] for i in range(n)], source


def _stock_reader(device: str, quantize: bool):
    """EasyOCR's own Reader on LAPI's weights; on a CPU it int8-quantizes the network by default."""
    import easyocr

    return easyocr.Reader(["en"], gpu=device != "cpu", recog_network="lapi_plate_g2", user_network_directory=str(MODELS),
                          model_storage_directory=str(MODELS), detector=False, download_enabled=False, verbose=False,
                          quantize=quantize)


def _read_stock(stock, images: list[np.ndarray], alphabet: str,
                contrast_ths: float = 0.1) -> tuple[list[str], list[float], float, float]:
    """Each crop through ``recognize`` as a caller of stock EasyOCR does; (strings, ms per crop, seconds,
    CPU seconds of this process).

    ``contrast_ths``: stock re-reads a crop whose confidence is below it with its contrast
    stretched and keeps the more confident string (0: never, so both decoders see one network output).
    """
    stock.recognize(images[0], allowlist=alphabet, detail=0, contrast_ths=contrast_ths)  # warm-up
    texts: list[str] = []
    crop_ms: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for img in images:
        tc = time.perf_counter()
        out = stock.recognize(img, allowlist=alphabet, detail=0, contrast_ths=contrast_ths)
        crop_ms.append((time.perf_counter() - tc) * 1000)
        texts.append(out[0] if out else "")
    return texts, crop_ms, time.perf_counter() - t0, time.process_time() - c0


def _warm(recognizer: PlateRecognizer, crops: list[np.ndarray], batch: int, sync) -> None:
    """Every batch once, untimed: oneDNN builds a kernel for each new shape (batch size, width)
    once, and the grammar decode's compiled loops load on their first call; a service reading all
    day has done both."""
    for start in range(0, len(crops), batch):
        if recognizer.bank is not None:
            recognizer.recognise(crops[start: start + batch])
        else:
            recognizer.plate_log_probs(crops[start: start + batch])
    sync()


def _read_batched(recognizer: PlateRecognizer, crops: list[np.ndarray], batch: int,
                  sync) -> tuple[list[str], list[float], float, float]:
    """LAPI's greedy path over ``crops`` in batches, network-height images made inside the timed path;
    (strings, ms per batch, seconds, CPU seconds of this process)."""
    alphabet = recognizer.config.plate_alphabet
    texts: list[str] = []
    batch_ms: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(crops), batch):
        tb = time.perf_counter()
        reads = greedy_decode_batch(recognizer.plate_log_probs(crops[start: start + batch]), alphabet)
        sync()
        batch_ms.append((time.perf_counter() - tb) * 1000)
        texts += [r.text for r in reads]
    return texts, batch_ms, time.perf_counter() - t0, time.process_time() - c0


@dataclass
class _Timing:
    """One path's strings and times, summed over the rounds."""

    texts: list[str] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def add(self, part: tuple[list[str], list[float], float, float]) -> None:
        texts, ms, seconds, cpu_seconds = part
        self.texts += texts
        self.ms += ms
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds


def _rounds(count: int, rounds: int, step: int = 1) -> list[tuple[int, int]]:
    """``count`` items cut into at most ``rounds`` contiguous parts of whole ``step``s (batches)."""
    steps = -(-count // step)
    parts = min(rounds, steps)
    bounds = [round(i * steps / parts) * step for i in range(parts + 1)] if parts else [0]
    return [(lo, min(hi, count)) for lo, hi in zip(bounds, bounds[1:])]


def bench_ocr(n: int = 512, batch: int = 64, device: str = "cpu", stock_n: int | None = None,
              progress: bool = True, manifest: Path | None = None) -> OcrBench:
    """Read ``n`` crops both ways; stock EasyOCR reads ``stock_n`` of them (it is the slow one).

    The paths take turns, a part of the crops each per round (:data:`ROUNDS`), so that a machine
    whose speed drifts over the minutes of a run (a shared VM) slows every path alike and the ratios
    hold; each path's rate is its crops over its summed time."""
    crops, source = load_crops(n, manifest=manifest)
    config = MODELS / "lapi_plate_g2.json"
    # no grammar and fp32 throughout: the strings must match EasyOCR's on the same network
    greedy = PlateRecognizer(config, device=device, precision="fp32")
    grammar = PlateRecognizer(config, device=device, country_weights={"FR": 0.9, "ZZ": 0.1}, precision="fp32")
    alphabet = greedy.config.plate_alphabet
    cuda = device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def log(msg: str) -> None:
        if progress:
            print(f"[bench ocr] {msg}", file=sys.stderr, flush=True)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    paths = {"fp32": greedy}
    if cuda or cpu_has_bf16_hardware():  # where bfloat16 runs in hardware: the network in bf16, close plates in fp32
        paths["bf16"] = PlateRecognizer(config, device=device, precision="bf16")
    if not cuda and int8_features.engine_available():  # the convolutions in int8, close plates in fp32
        paths["int8"] = PlateRecognizer(config, device=device, precision="int8")
    for recognizer in [*paths.values(), grammar]:
        _warm(recognizer, crops, batch, sync)
    stock_n = min(n, stock_n or n)
    images = [network_image(c, greedy.config.img_height) for c in crops[:stock_n]]
    # the same network as LAPI's (fp32), read once per crop: identical strings expected; and stock's
    # CPU default, dynamic int8 quantization, faster and slightly different strings
    stocks = {"stock": _stock_reader(device, quantize=False)}
    if not cuda:
        stocks["quantized"] = _stock_reader(device, quantize=True)
    timings = {name: _Timing() for name in [*stocks, *paths, "grammar"]}
    lapi_parts, stock_parts = _rounds(n, ROUNDS, batch), _rounds(stock_n, ROUNDS)
    rounds = max(len(lapi_parts), len(stock_parts))
    lapi_parts += [(n, n)] * (rounds - len(lapi_parts))
    stock_parts += [(stock_n, stock_n)] * (rounds - len(stock_parts))
    for r, ((lo, hi), (s_lo, s_hi)) in enumerate(zip(lapi_parts, stock_parts)):
        for name, stock in stocks.items():
            if s_hi > s_lo:  # fp32 stock without its contrast re-read: both decoders see one network output
                timings[name].add(_read_stock(stock, images[s_lo:s_hi], alphabet,
                                              contrast_ths=0.0 if name == "stock" else 0.1))
        for name, recognizer in paths.items():
            if hi > lo:
                timings[name].add(_read_batched(recognizer, crops[lo:hi], batch, sync))
        t0 = time.perf_counter()
        for start in range(lo, hi, batch):
            grammar.recognise(crops[start: min(start + batch, hi)])
        sync()
        timings["grammar"].seconds += time.perf_counter() - t0
        log(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{name} {len(t.texts) / t.seconds:.1f}" for name, t in timings.items() if t.seconds and t.texts)
            + " plates/s so far")
    peak_device = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    stock_texts, crop_ms = timings["stock"].texts, timings["stock"].ms
    stock_rate, stock_cpu = stock_n / timings["stock"].seconds, timings["stock"].cpu_seconds
    quant_rate = quant_cpu_rate = None
    if "quantized" in timings:
        quant_rate = stock_n / timings["quantized"].seconds
        quant_cpu_rate = stock_n / timings["quantized"].cpu_seconds
    lapi_texts, batch_ms = timings["fp32"].texts, timings["fp32"].ms
    lapi_s, lapi_cpu, grammar_s = timings["fp32"].seconds, timings["fp32"].cpu_seconds, timings["grammar"].seconds

    def identical(texts: list[str]) -> float:
        return sum(a == b for a, b in zip(stock_texts, texts[:stock_n])) / max(stock_n, 1)

    lapi_rate = n / lapi_s
    baseline = max(stock_rate, quant_rate or 0.0)

    def lower(name: str) -> tuple[float | None, float | None, float | None]:
        """A lower-precision path's plates/s, identical strings and speed-up; Nones where it did not run."""
        if name not in paths:
            return None, None, None
        rate = n / timings[name].seconds
        return round(rate, 1), round(identical(timings[name].texts), 4), round(rate / baseline, 2)

    bf16_rate, bf16_identical, bf16_speedup = lower("bf16")
    int8_rate, int8_identical, int8_speedup = lower("int8")
    cpu_baseline = max(stock_n / stock_cpu, quant_cpu_rate or 0.0)
    return OcrBench(
        device=device, crops=n, crop_source=source, batch=batch,
        stock_plates_per_s=round(stock_rate, 1), stock_p50_ms=round(statistics.median(crop_ms), 2),
        stock_p99_ms=round(percentile(crop_ms, 0.99), 2),
        lapi_plates_per_s=round(lapi_rate, 1), lapi_batch_p50_ms=round(statistics.median(batch_ms), 2),
        lapi_batch_p99_ms=round(percentile(batch_ms, 0.99), 2),
        stock_quantized_plates_per_s=round(quant_rate, 1) if quant_rate else None,
        lapi_grammar_plates_per_s=round(n / grammar_s, 1), speedup=round(lapi_rate / baseline, 2),
        identical_strings=round(identical(lapi_texts), 4),
        lapi_bf16_plates_per_s=bf16_rate, bf16_identical_strings=bf16_identical, speedup_bf16=bf16_speedup,
        lapi_int8_plates_per_s=int8_rate, int8_identical_strings=int8_identical, speedup_int8=int8_speedup,
        stock_plates_per_cpu_s=round(cpu_baseline, 2), lapi_plates_per_cpu_s=round(n / lapi_cpu, 2),
        speedup_cpu=round((n / lapi_cpu) / cpu_baseline, 2),
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        peak_device_mib=round(peak_device, 1) if peak_device is not None else None,
    )


def format_report(b: OcrBench) -> str:
    lines = [
        f"device {b.device}; {b.crops} crops: {b.crop_source}",
        f"stock easyocr.Reader.recognize : {b.stock_plates_per_s:9.1f} plates/s   per crop p50 {b.stock_p50_ms:.1f} ms,"
        f" p99 {b.stock_p99_ms:.1f} ms",
        *([f"stock, int8-quantized (CPU default): {b.stock_quantized_plates_per_s:6.1f} plates/s"]
          if b.stock_quantized_plates_per_s else []),
        f"LAPI batched (batch {b.batch:>3})       : {b.lapi_plates_per_s:9.1f} plates/s   per batch p50 "
        f"{b.lapi_batch_p50_ms:.1f} ms, p99 {b.lapi_batch_p99_ms:.1f} ms",
        f"LAPI batched + grammar decode   : {b.lapi_grammar_plates_per_s:9.1f} plates/s",
        f"speed-up (greedy vs faster stock): {b.speedup:.2f}x wall; per CPU-second {b.lapi_plates_per_cpu_s:.1f}"
        f" vs {b.stock_plates_per_cpu_s:.1f} plates = {b.speedup_cpu:.2f}x",
        f"identical strings (greedy, fp32 stock without its contrast re-read): {b.identical_strings * 100:.2f} %",
        *([f"LAPI batched, bfloat16 network    : {b.lapi_bf16_plates_per_s:9.1f} plates/s = {b.speedup_bf16:.2f}x;"
           f" identical strings {b.bf16_identical_strings * 100:.2f} %"] if b.lapi_bf16_plates_per_s else []),
        *([f"LAPI batched, int8 convolutions   : {b.lapi_int8_plates_per_s:9.1f} plates/s = {b.speedup_int8:.2f}x;"
           f" identical strings {b.int8_identical_strings * 100:.2f} %"] if b.lapi_int8_plates_per_s else []),
        f"peak RSS {b.peak_rss_mib:.0f} MiB" + (f", peak device memory {b.peak_device_mib:.0f} MiB"
                                                 if b.peak_device_mib is not None else ""),
    ]
    return "\n".join(lines)


def as_dict(b: OcrBench) -> dict:
    return asdict(b)
