"""The batched recogniser reads each crop as it reads it alone, and as stock EasyOCR reads it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import ROOT
from lapi.bench_ocr import synthetic_crops
from lapi.reading.recognizer import PlateRecognizer, greedy_ctc_decode, greedy_decode_batch, network_image

CONFIG = ROOT / "models" / "ocr" / "lapi_plate_g2.json"


@pytest.fixture(scope="module")
def greedy() -> PlateRecognizer:
    return PlateRecognizer(CONFIG, bf16_features=False)  # no grammar, fp32: stock EasyOCR's arithmetic


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    """Plates of very different sizes: short fragments, two-line squares, long EU plates, huge crops."""
    out = synthetic_crops(14, seed=3)
    out.append(np.full((20, 9, 3), 200, np.uint8))  # a sliver narrower than the network's height
    return out


def test_batched_greedy_decode_matches_the_per_plate_loop(greedy, crops):
    log_probs = greedy.plate_log_probs(crops)
    batched = greedy_decode_batch(log_probs, greedy.config.plate_alphabet)
    looped = [greedy_ctc_decode(lp, greedy.config.plate_alphabet) for lp in log_probs]
    assert [b.text for b in batched] == [loop.text for loop in looped]
    assert [b.char_confidences for b in batched] == [loop.char_confidences for loop in looped]
    assert [b.confidence for b in batched] == pytest.approx([loop.confidence for loop in looped], abs=1e-4)
    assert sum(len(b.text) >= 4 for b in batched) >= 10  # real readings, not all empty


def test_odd_batches(greedy, crops):
    alphabet = greedy.config.plate_alphabet
    assert greedy.recognise([]) == []
    assert greedy_decode_batch(torch.zeros((0, 10, len(alphabet) + 1)), alphabet) == []
    all_blank = torch.full((2, 6, len(alphabet) + 1), -30.0)
    all_blank[:, :, 0] = 0.0
    assert [r.text for r in greedy_decode_batch(all_blank, alphabet)] == ["", ""]
    (one,) = greedy.recognise([crops[0]])
    assert one.text == greedy.recognise(crops)[0].text


def test_a_crop_reads_the_same_alone_and_in_any_batch(greedy, crops):
    """Padding a batch to one width must not change a plate's reading (the BiLSTM reads both ends)."""
    alone = [greedy.recognise([c])[0].text for c in crops]
    together = [r.text for r in greedy.recognise(crops)]
    reversed_ = [r.text for r in greedy.recognise(crops[::-1])][::-1]
    widest = max(crops, key=lambda c: network_image(c, 64).shape[1])
    beside_widest = [greedy.recognise([c, widest])[0].text for c in crops]
    assert together == alone
    assert reversed_ == alone
    assert beside_widest == alone


def test_batched_path_reads_what_stock_easyocr_reads(greedy, crops):
    """Same weights, same pixels: EasyOCR's own Reader gives the same strings as LAPI's batched path."""
    import easyocr

    models = ROOT / "models" / "ocr"
    stock = easyocr.Reader(["en"], gpu=False, recog_network="lapi_plate_g2", user_network_directory=str(models),
                           model_storage_directory=str(models), detector=False, download_enabled=False,
                           verbose=False, quantize=False)
    alphabet = greedy.config.plate_alphabet
    ours = [r.text for r in greedy.recognise(crops)]
    theirs = []
    for c in crops:
        out = stock.recognize(network_image(c, 64), allowlist=alphabet, detail=0, contrast_ths=0.0)
        theirs.append(out[0] if out else "")
    assert ours == theirs


def test_bench_ocr_runs_and_reports(tmp_path):
    from lapi.bench_ocr import bench_ocr, format_report

    result = bench_ocr(n=12, batch=6, stock_n=6, progress=False, manifest=tmp_path / "absent.csv")
    assert result.crop_source.startswith("synthetic")
    assert result.crops == 12 and result.lapi_plates_per_s > 0 and result.stock_plates_per_s > 0
    assert result.stock_quantized_plates_per_s is not None
    # the bench reports the share rounded to 4 places: one crop in six may differ (a batch pads crops to its widest)
    assert result.identical_strings >= round(5 / 6, 4)
    assert "plates/s" in format_report(result)


def test_bf16_features_read_as_fp32_does(greedy, crops):
    """The convolutions in bfloat16 (reading.bf16_features): the same strings on these crops,
    scores within bfloat16's rounding; "auto" follows the CPU."""
    from lapi.reading.recognizer import cpu_has_bf16_hardware

    bf16 = PlateRecognizer(CONFIG, bf16_features=True)
    assert bf16.bf16_features and not greedy.bf16_features
    assert PlateRecognizer(CONFIG).bf16_features == cpu_has_bf16_hardware()
    fp32_lp, bf16_lp = greedy.plate_log_probs(crops), bf16.plate_log_probs(crops)
    assert bf16_lp.dtype == torch.float32 and bf16_lp.shape == fp32_lp.shape
    alphabet = greedy.config.plate_alphabet
    same = sum(a.text == b.text for a, b in zip(greedy_decode_batch(fp32_lp, alphabet),
                                                greedy_decode_batch(bf16_lp, alphabet)))
    assert same >= len(crops) - 1
    assert (fp32_lp.exp() - bf16_lp.exp()).abs().max() < 0.5
    assert not torch.equal(fp32_lp, bf16_lp)  # the option does change the arithmetic
    assert [r.text for r in bf16.recognise(crops)] == [bf16.recognise([c])[0].text for c in crops]
