"""The batched recogniser reads each crop as it reads it alone, and as stock EasyOCR reads it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import ROOT
from lapi.bench_ocr import synthetic_crops
from lapi.reading import int8_features
from lapi.config import ConfigError, load_settings
from lapi.reading.recognizer import (PlateRecognizer, cpu_has_bf16_hardware, cpu_runs_bf16, greedy_ctc_decode,
                                     greedy_decode_batch, network_image, padded_width)

CONFIG = ROOT / "models" / "ocr" / "lapi_plate_g2.json"


@pytest.fixture(scope="module")
def greedy() -> PlateRecognizer:
    return PlateRecognizer(CONFIG, precision="fp32")  # no grammar, fp32: stock EasyOCR's arithmetic


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


def test_crops_of_many_widths_score_as_each_alone(greedy, crops):
    """On a CPU the crops of a call run their convolutions a width at a time and the LSTM once over
    all (lapi/reading/ragged_lstm.py): each crop's scores are its own, then certain blanks."""
    widths = {padded_width(network_image(c, 64).shape[1]) for c in crops}
    assert len(widths) >= 4
    together = greedy.plate_log_probs(crops)
    for i, crop in enumerate(crops):
        alone = greedy.plate_log_probs([crop])[0]
        assert (together[i, : len(alone)].exp() - alone.exp()).abs().max() < 1e-5, i
        assert (together[i, len(alone):, 0] == 0).all() and (together[i, len(alone):, 1:] < -1e8).all()


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
    assert result.identical_strings == 1.0  # each crop reads as stock reads it alone
    if cpu_has_bf16_hardware():
        assert result.lapi_bf16_plates_per_s > 0 and result.bf16_identical_strings >= round(5 / 6, 4)
    else:
        assert result.lapi_bf16_plates_per_s is None and result.speedup_bf16 is None
    if int8_features.engine_available():
        assert result.lapi_int8_plates_per_s > 0 and result.int8_identical_strings >= round(5 / 6, 4)
    assert "plates/s" in format_report(result)


def test_auto_precision_follows_the_cpu():
    """int8 where it pays (a CPU with VNNI), else bfloat16 where the CPU computes it, else fp32."""
    int8_pays = int8_features.engine_available() and int8_features.cpu_has_vnni()
    expected = "int8" if int8_pays else "bf16" if cpu_has_bf16_hardware() else "fp32"
    assert PlateRecognizer(CONFIG, precision="auto").precision == expected


def test_bf16_is_refused_where_the_cpu_cannot_run_it(tmp_path):
    """oneDNN has no bfloat16 path without AVX-512 (AMD Zen 3): said when the recogniser is made
    and when the config is read, not at the first frame."""
    config = tmp_path / "lapi.toml"
    config.write_text(f'[reading]\nprecision = "bf16"\ndetector_dir = "{ROOT / "models" / "detector"}"\n'
                      f'recognizer_config = "{CONFIG}"\n')
    if cpu_runs_bf16():
        assert PlateRecognizer(CONFIG, precision="bf16").precision == "bf16"
        assert load_settings(config, env={}).precision == "bf16"
    else:
        with pytest.raises(ValueError, match="precision bf16 needs a CPU with AVX-512"):
            PlateRecognizer(CONFIG, precision="bf16")
        with pytest.raises(ConfigError, match='reading.precision: "bf16" needs a CPU with AVX-512'):
            load_settings(config, env={})


@pytest.mark.skipif(not cpu_runs_bf16(), reason="oneDNN has no bfloat16 path on this CPU (no AVX-512)")
def test_bf16_reads_as_fp32_does(greedy, crops):
    """The network in bfloat16 (reading.precision = "bf16"): the same strings on these crops,
    scores within bfloat16's rounding."""
    bf16 = PlateRecognizer(CONFIG, precision="bf16")
    assert (bf16.precision, greedy.precision) == ("bf16", "fp32")
    fp32_lp, bf16_lp = greedy.plate_log_probs(crops), bf16.plate_log_probs(crops)
    assert bf16_lp.dtype == torch.float32 and bf16_lp.shape == fp32_lp.shape
    alphabet = greedy.config.plate_alphabet
    same = sum(a.text == b.text for a, b in zip(greedy_decode_batch(fp32_lp, alphabet),
                                                greedy_decode_batch(bf16_lp, alphabet)))
    assert same >= len(crops) - 1
    assert (fp32_lp.exp() - bf16_lp.exp()).abs().max() < 0.5
    assert not torch.equal(fp32_lp, bf16_lp)  # the option does change the arithmetic
    assert [r.text for r in bf16.recognise(crops)] == [bf16.recognise([c])[0].text for c in crops]


def test_staged_features_compute_what_the_module_computes(greedy, crops):
    """Convolution and ReLU fused, pools as strided maxima: the module's own arithmetic."""
    from lapi.reading.recognizer import pad_batch, padded_width

    assert greedy._features.staged
    for crop in crops[:4]:
        img = network_image(crop, 64)
        x = pad_batch([img, img[:, ::-1]], padded_width(img.shape[1]))
        with torch.inference_mode():
            ref = greedy.model.FeatureExtraction(x.contiguous(memory_format=torch.channels_last))
            ours = greedy._features(x)
        assert ours.shape == ref.shape
        assert (ours - ref).abs().max() < 1e-4


def test_a_plate_reads_the_same_in_one_pass_with_wider_plates(greedy, crops):
    """The GPU path: plates of many widths padded to the widest in one pass.  Each reads as alone:
    its convolutions see zeros past its own width, as a lone crop's zero padding."""
    from lapi.reading.recognizer import pad_batch, padded_width

    images = [network_image(c, 64) for c in crops]
    widths = [padded_width(img.shape[1]) for img in images]
    assert len(set(widths)) >= 3
    with torch.inference_mode():
        together = greedy._log_probs(pad_batch(images, max(widths)), widths).exp()
        for i, img in enumerate(images):
            alone = greedy._log_probs(pad_batch([img], widths[i]), [widths[i]]).exp()[0]
            assert (together[i, : len(alone)] - alone).abs().max() < 1e-5, i  # 1e-3 without the zeroing
            assert (together[i, len(alone):, 0] > 0.999).all()  # past its end: blank


def test_unknown_layouts_run_as_their_module(greedy):
    """A feature extractor of another layout (here an average pool) is run by its own forward."""
    from torch import nn

    from lapi.reading.vgg_features import VggFeatures

    class Extractor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ConvNet = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))

        def forward(self, x):
            return self.ConvNet(x)

    module = Extractor().eval()
    features = VggFeatures(module)
    x = torch.randn(2, 1, 8, 16)
    assert not features.staged
    with torch.inference_mode():
        assert torch.equal(features(x), module(x))


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_close_plates_are_read_again_in_fp32(greedy, crops, monkeypatch, precision):
    """In bfloat16 or int8 a plate with a close frame is read again in fp32; every plate close: fp32's scores."""
    from lapi.reading import recognizer

    if precision == "int8" and not int8_features.engine_available():
        pytest.skip("this torch build has no x86 quantized engine")
    if precision == "bf16" and not cpu_runs_bf16():
        pytest.skip("oneDNN has no bfloat16 path on this CPU (no AVX-512)")
    lower = PlateRecognizer(CONFIG, precision=precision)
    fp32_lp = greedy.plate_log_probs(crops)
    monkeypatch.setitem(recognizer.CLOSE_MARGINS, precision, float("inf"))
    assert torch.equal(lower.plate_log_probs(crops), fp32_lp)
    monkeypatch.setitem(recognizer.CLOSE_MARGINS, precision, -1.0)
    assert not torch.equal(lower.plate_log_probs(crops), fp32_lp)


def test_bench_rounds_cover_every_crop_in_whole_batches():
    """The bench's paths take turns over contiguous parts: every crop once, a batch never split."""
    from lapi.bench_ocr import _rounds

    for count, rounds, step in [(512, 4, 64), (12, 4, 6), (6, 4, 1), (5, 4, 64), (100, 4, 64), (0, 4, 8)]:
        parts = _rounds(count, rounds, step)
        assert len(parts) <= rounds
        assert [i for lo, hi in parts for i in range(lo, hi)] == list(range(count))
        assert all(lo % step == 0 for lo, _ in parts)
