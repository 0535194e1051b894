"""The recogniser's convolutions in int8 (reading.precision = "int8"): what fp32 reads, faster on a CPU."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import ROOT
from lapi.bench_ocr import synthetic_crops
from lapi.reading import int8_features
from lapi.reading.recognizer import PlateRecognizer, greedy_decode_batch, network_image, pad_batch, padded_width
from lapi.reading.vgg_features import VggFeatures

CONFIG = ROOT / "models" / "ocr" / "lapi_plate_g2.json"

pytestmark = pytest.mark.skipif(not int8_features.engine_available(),
                                reason="this torch build has no x86 quantized engine")


@pytest.fixture(scope="module")
def fp32() -> PlateRecognizer:
    return PlateRecognizer(CONFIG, precision="fp32")


@pytest.fixture(scope="module")
def int8() -> PlateRecognizer:
    return PlateRecognizer(CONFIG, precision="int8")


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    return synthetic_crops(16, seed=5)


def test_int8_features_follow_the_fp32_features(fp32, int8, crops):
    """Per stage the rounding is a step of the calibrated scale: the features stay within a few
    percent of fp32's (the input's half-grey-level offset is taken back in the first bias)."""
    for crop in crops[:4]:
        img = network_image(crop, 64)
        x = pad_batch([img, img[:, ::-1]], padded_width(img.shape[1]))
        with torch.inference_mode():
            ref = fp32._features(x)
            ours = int8._int8(x)
        assert ours.shape == ref.shape and ours.dtype == torch.float32
        assert (ours - ref).abs().mean() < 0.05 * ref.abs().mean()
        cosine = torch.nn.functional.cosine_similarity(ours.flatten(), ref.flatten(), dim=0)
        assert cosine > 0.99


def test_int8_weights_fit_the_cpus_integer_products(int8):
    """Without VNNI a pair of uint8 x int8 products is summed in a saturating int16: weights of at
    most 63 there (2 x 255 x 63 < 32,768), the full 127 with VNNI; each channel's largest weight
    takes the top level."""
    levels = int8_features.weight_levels()
    assert levels == (127 if int8_features.cpu_has_vnni() else 63)
    for packed in int8._int8._packed:
        weight, _ = torch.ops.quantized.conv2d_unpack(packed)
        per_channel = weight.int_repr().abs().flatten(1).amax(dim=1)
        assert int(per_channel.max()) == levels and int(per_channel.min()) >= levels - 1


def test_int8_reads_what_fp32_reads(fp32, int8, crops):
    """With the close plates read again in fp32, the strings are fp32's; the scores are not."""
    fp32_lp, int8_lp = fp32.plate_log_probs(crops), int8.plate_log_probs(crops)
    assert int8_lp.shape == fp32_lp.shape and int8_lp.dtype == torch.float32
    alphabet = fp32.config.plate_alphabet
    assert [r.text for r in greedy_decode_batch(int8_lp, alphabet)] == \
        [r.text for r in greedy_decode_batch(fp32_lp, alphabet)]
    assert (fp32_lp.exp() - int8_lp.exp()).abs().max() < 0.5
    assert not torch.equal(fp32_lp, int8_lp)  # the option does change the arithmetic
    assert sum(len(r.text) >= 4 for r in int8.recognise(crops)) >= 10


def test_int8_reads_a_crop_the_same_alone_and_in_any_batch(int8, crops):
    """Static scales: a plate's reading does not depend on the plates beside it."""
    alone = [int8.recognise([c])[0].text for c in crops]
    assert [r.text for r in int8.recognise(crops)] == alone
    assert [r.text for r in int8.recognise(crops[::-1])][::-1] == alone


def test_calibration_gives_one_positive_scale_per_stage(fp32, crops):
    stages = VggFeatures(fp32.model.FeatureExtraction).stages
    images = [network_image(c, 64) for c in crops[:6]]
    batch = pad_batch(images, max(padded_width(i.shape[1]) for i in images))
    scales = int8_features.calibrate(stages, [batch], percentile=0.999)
    assert len(scales) == len(stages) and all(s > 0 for s in scales)
    assert int8_features.calibrate(stages, [batch], percentile=0.999) == scales  # seeded sampling
    widest = int8_features.calibrate(stages, [batch], percentile=1.0)
    assert all(w >= s for w, s in zip(widest, scales))
    with pytest.raises(ValueError, match="no batches"):
        int8_features.calibrate(stages, [])
    with pytest.raises(ValueError, match="int8.activation_scales"):
        int8_features.Int8VggFeatures(stages, scales[:-1])


def test_calibration_script_writes_scales_the_recogniser_loads(tmp_path):
    """models/calibrate_int8.py on a copy of the model: the JSON gains int8.activation_scales."""
    import importlib.util

    for name in ("lapi_plate_g2.json", "lapi_plate_g2.pth"):
        shutil.copy(ROOT / "models" / "ocr" / name, tmp_path / name)
    config = tmp_path / "lapi_plate_g2.json"
    raw = json.loads(config.read_text())
    del raw["int8"]
    config.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="int8.activation_scales"):
        PlateRecognizer(config, precision="int8")
    assert PlateRecognizer(config, precision="auto").precision != "int8"  # auto falls back

    spec = importlib.util.spec_from_file_location("calibrate_int8", ROOT / "models" / "calibrate_int8.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--config", str(config), "--n", "24", "--seed", "1"]) == 0
    written = json.loads(config.read_text())["int8"]
    assert len(written["activation_scales"]) == 7 and written["calibration"]["plates"] == 24
    assert PlateRecognizer(config, precision="int8").precision == "int8"


def test_bad_precisions_are_refused(tmp_path):
    with pytest.raises(ValueError, match="one of fp32, bf16, int8 or auto"):
        PlateRecognizer(CONFIG, precision="fp16")
    with pytest.raises(ValueError, match="CPU only"):
        PlateRecognizer(CONFIG, device="cuda", precision="int8")
    raw = json.loads(CONFIG.read_text())
    raw["weights"] = str(CONFIG.parent / raw["weights"])
    raw["int8"]["activation_scales"] = [0.1, -1]
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="int8.activation_scales must be a list of positive numbers"):
        PlateRecognizer(tmp_path / "bad.json")
    raw["int8"]["activation_scales"] = [0.1, True]  # a JSON true is no scale
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="int8.activation_scales must be a list of positive numbers"):
        PlateRecognizer(tmp_path / "bad.json")
    raw["int8"] = [0.1, 0.2]  # the scales without their section
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="int8 must be an object with activation_scales, not list"):
        PlateRecognizer(tmp_path / "bad.json")


def test_int8_reads_a_ragged_batch_in_fp32_convolutions(fp32, int8, crops):
    """Plates of many widths in one pass (device crops on a CPU): the column zeroing needs the fp32
    convolutions, so int8 steps aside there and the strings are still fp32's."""
    images = [network_image(c, 64) for c in crops]
    widths = [padded_width(img.shape[1]) for img in images]
    assert len(set(widths)) >= 3
    x = pad_batch(images, max(widths))
    with torch.inference_mode():
        ours, theirs = int8._log_probs(x, widths), fp32._log_probs(x, widths)
    alphabet = fp32.config.plate_alphabet
    assert [r.text for r in greedy_decode_batch(ours, alphabet)] == [r.text for r in greedy_decode_batch(theirs, alphabet)]
