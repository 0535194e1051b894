"""The recogniser on a CUDA device reads what it reads on the CPU (skipped where torch sees no GPU).

CI has no GPU: these run on a lent GPU machine through ``.ci/gpu-check``, which runs this file
alone with ``--noconftest`` (the machine lacks the database packages that tests/conftest.py imports),
hence no shared fixtures here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lapi.bench_ocr import synthetic_crops
from lapi.reading.recognizer import PlateRecognizer, greedy_decode_batch, network_image, pad_batch, padded_width

CONFIG = Path(__file__).resolve().parents[1] / "models" / "ocr" / "lapi_plate_g2.json"

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (run by .ci/gpu-check on a GPU)")


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    out = synthetic_crops(48, seed=5)
    out.append(np.full((20, 9, 3), 200, np.uint8))  # a sliver narrower than the network's height
    return out


@pytest.fixture(scope="module")
def cpu() -> PlateRecognizer:
    return PlateRecognizer(CONFIG, precision="fp32")


@pytest.fixture(scope="module")
def gpu() -> PlateRecognizer:
    return PlateRecognizer(CONFIG, device="cuda", precision="fp32")


def _texts(recognizer: PlateRecognizer, crops: list[np.ndarray]) -> list[str]:
    return [r.text for r in greedy_decode_batch(recognizer.plate_log_probs(crops), recognizer.config.plate_alphabet)]


def test_one_gpu_pass_reads_what_the_cpu_reads(cpu, gpu, crops):
    """One ragged pass on the GPU (TF32 convolutions by torch's default) against width groups on the CPU."""
    on_cpu, on_gpu = cpu.plate_log_probs(crops), gpu.plate_log_probs(crops)
    t = min(on_cpu.shape[1], on_gpu.shape[1])
    assert (on_cpu[:, :t].exp() - on_gpu[:, :t].cpu().exp()).abs().max() < 0.05
    same = sum(a == b for a, b in zip(_texts(cpu, crops), _texts(gpu, crops)))
    assert same >= len(crops) - 1


def test_a_plate_reads_the_same_alone_and_in_a_wider_gpu_batch(gpu, crops):
    images = [network_image(c, 64) for c in crops]
    widths = [padded_width(img.shape[1]) for img in images]
    with torch.inference_mode():
        together = gpu._log_probs(pad_batch(images, max(widths)).cuda(), widths).exp().cpu()
        for i, img in enumerate(images):
            alone = gpu._log_probs(pad_batch([img], widths[i]).cuda(), [widths[i]]).exp().cpu()[0]
            assert (together[i, : len(alone)] - alone).abs().max() < 1e-2, i


def test_gpu_grammar_decode_and_bf16(gpu, crops):
    grammar = PlateRecognizer(CONFIG, device="cuda", country_weights={"FR": 0.9, "ZZ": 0.1}, precision="fp32")
    assert len(grammar.recognise(crops)) == len(crops) and grammar.recognise([]) == []
    bf16 = PlateRecognizer(CONFIG, device="cuda", precision="bf16")
    same = sum(a == b for a, b in zip(_texts(gpu, crops), _texts(bf16, crops)))
    assert same >= len(crops) - 1
