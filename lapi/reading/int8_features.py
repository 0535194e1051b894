"""EasyOCR's VGG feature extractor in 8-bit integers on a CPU, for batches of plates.

Why: on a CPU the recogniser's time is its convolutions, and 8-bit integer convolutions (oneDNN /
FBGEMM through torch's ``x86`` quantized engine, VNNI where the CPU has it) do about four times the
work per cycle of fp32 ones.  Without AMX (AMD Zen 4) bfloat16 does only about twice.

What is quantized, and how (static, so that a plate reads the same in any batch):

- the input: the grey pixels themselves (0..255), exact (values interpolated on the device are
  rounded to a grey level); the offset of half a grey level is taken back in the first
  convolution's bias;
- the weights: per output channel, symmetric, with the batch norms folded in, in 7 bits where the
  CPU has no VNNI (:func:`weight_levels`);
- the activations between convolutions: one scale per stage, from a high percentile of the fp32
  network's activations over rendered plates (:func:`calibrate`), stored in the model's JSON
  (``int8.activation_scales``) as a model's other loading facts are;
- the max-pools run on the integers (exact), and the features come back as float32.

The result differs from fp32 by the rounding: the recogniser reads plates whose best classes are
close again in fp32 (:mod:`lapi.reading.recognizer`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F

from lapi.reading.cpu_probe import cpu_has
from lapi.reading.vgg_features import Stage

INPUT_SCALE = 1 / 127.5
"""The network's input is ``pixel / 127.5 - 1``: the pixel, one grey level a step."""
INPUT_ZERO_POINT = 127
"""Pixel 127 stands for 0.0, so the quantized input is the network's plus half a step (corrected in the bias)."""


def engine_available() -> bool:
    """Whether this torch build runs quantized convolutions on this CPU (the ``x86`` engine)."""
    return "x86" in torch.backends.quantized.supported_engines


def cpu_has_vnni() -> bool:
    """Whether this CPU multiplies 8-bit integers into 32-bit sums in one instruction (VNNI: Intel
    from Cascade Lake, AMD from Zen 4), where int8 convolutions pay; elsewhere see :func:`weight_levels`."""
    return cpu_has("_is_vnni_supported")


def weight_levels() -> int:
    """The largest magnitude of a quantized weight on this CPU: 127 where it has VNNI, else 63.

    Why: without VNNI (AMD Zen 3, Intel before Cascade Lake) the engine multiplies with AVX2's
    ``vpmaddubsw``, which adds two uint8 x int8 products in a *saturating* int16: 2 x 255 x 127 =
    64,770 overflows it, and on a 2-core Zen 3 the features of some plates came out 17-24 % off
    (mean absolute difference over mean, against 3-4 % elsewhere).  Weights of at most 63 keep
    every pair within 2 x 255 x 63 = 32,130: one bit of weight precision for exact arithmetic.
    """
    return 127 if cpu_has_vnni() else 63


def folded_weights(stage: Stage) -> tuple[torch.Tensor, torch.Tensor]:
    """A stage's convolution weight and bias with its batch norm (inference statistics) folded in."""
    w = stage.conv.weight.detach().float()
    b = stage.conv.bias.detach().float() if stage.conv.bias is not None else torch.zeros(w.shape[0])
    if stage.norm is not None:
        n = stage.norm
        gain = n.weight.detach().float() / torch.sqrt(n.running_var.float() + n.eps)
        w = w * gain[:, None, None, None]
        b = (b - n.running_mean.float()) * gain + n.bias.detach().float()
    return w, b


@torch.inference_mode()
def calibrate(stages: Sequence[Stage], batches: Iterable[torch.Tensor], percentile: float = 0.99999,
              samples_per_batch: int = 200_000, seed: int = 0) -> list[float]:
    """Each stage's output scale: the ``percentile`` of its fp32 activations (after its ReLU and
    pool) over ``batches``, / 255.

    ``batches``: (N, 1, 64, W) network inputs in [-1, 1] of rendered plates (never evaluation data).
    A percentile, not the maximum: a few outlying activations would otherwise coarsen every step.
    """
    gen = torch.Generator().manual_seed(seed)
    weights = [folded_weights(s) for s in stages]
    seen: list[list[torch.Tensor]] = [[] for _ in stages]
    for x in batches:
        out = x.float()
        for i, (stage, (w, b)) in enumerate(zip(stages, weights)):
            conv = stage.conv
            out = torch.relu(F.conv2d(out, w, b, conv.stride, conv.padding, conv.dilation))
            if stage.pool is not None:
                out = F.max_pool2d(out, stage.pool, stage.pool)
            flat = out.reshape(-1)
            pick = torch.randint(0, flat.numel(), (min(samples_per_batch, flat.numel()),), generator=gen)
            seen[i].append(flat[pick])
    if not seen[0]:
        raise ValueError("calibrate: no batches")
    scales = []
    for values in seen:
        top = torch.quantile(torch.cat(values)[:16_000_000], percentile).item()
        scales.append(max(top, 1e-6) / 255)
    return scales


class Int8VggFeatures:
    """The feature extractor of :class:`~lapi.reading.vgg_features.VggFeatures`' stages in int8 (CPU only)."""

    def __init__(self, stages: Sequence[Stage], activation_scales: Sequence[float]) -> None:
        if len(activation_scales) != len(stages):
            raise ValueError(f"int8.activation_scales: {len(activation_scales)} scales for {len(stages)} stages")
        if not all(s > 0 for s in activation_scales):
            raise ValueError("int8.activation_scales: every scale must be > 0")
        if not all(s.relu for s in stages):
            raise ValueError("int8 reading needs a ReLU after every convolution (unsigned activations)")
        if not engine_available():
            raise RuntimeError("this torch build has no x86 quantized engine: int8 reading is unavailable")
        torch.backends.quantized.engine = "x86"
        self._stages = list(stages)
        self._scales = [float(s) for s in activation_scales]
        self._packed = []
        levels = weight_levels()
        for i, stage in enumerate(self._stages):
            w, b = folded_weights(stage)
            if i == 0:  # the quantized input is the network's plus half a step: take it back in the bias
                b = b - (INPUT_SCALE * (127.5 - INPUT_ZERO_POINT)) * w.sum(dim=(1, 2, 3))
            amax = w.abs().amax(dim=(1, 2, 3)).clamp_min(1e-8)
            with warnings.catch_warnings():  # deprecated for torchao in later releases; torch is pinned (pyproject)
                warnings.simplefilter("ignore", UserWarning)
                qw = torch.quantize_per_channel(w, amax / levels, torch.zeros(w.shape[0], dtype=torch.long), 0,
                                                torch.qint8)
            conv = stage.conv
            self._packed.append(torch.ops.quantized.conv2d_prepack(
                qw, b, list(conv.stride), list(conv.padding), list(conv.dilation), 1))

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Features (N, C, H', W') in float32 of a batch (N, 1, H, W) in [-1, 1], all of one width."""
        pixels = ((x + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
        q = torch._make_per_tensor_quantized_tensor(pixels.contiguous(memory_format=torch.channels_last),
                                                    INPUT_SCALE, INPUT_ZERO_POINT)
        for stage, packed, scale in zip(self._stages, self._packed, self._scales):
            q = torch.ops.quantized.conv2d_relu(q, packed, scale, 0)
            if stage.pool is not None:
                q = F.max_pool2d(q, stage.pool, stage.pool)
        return q.dequantize()
