"""EasyOCR's generation-2 (VGG) feature extractor, run stage by stage for batches of plates.

``FeatureExtraction(x)`` runs each layer of its ``nn.Sequential`` as a separate pass over memory.
On a CPU the first stages' activations are the network's largest tensors (32 channels at the full
64 x W image), and the separate ReLU and max-pool passes over them cost more than the
convolutions themselves once those run in bfloat16.  Here, with the same weights and the same
arithmetic:

- the ReLU runs inside the convolution (oneDNN's post-op, on a CPU): bit-identical;
- a max-pool is the maximum of its strided views: exact;
- the weights are cast and laid out (channels last) once per dtype, not on every call;
- in a batch padded to one width, the columns past each plate's own padded width are zeroed
  before every convolution, as the convolution's zero padding is for the plate alone: a plate
  reads the same in a batch of wider plates as alone (the one-pass GPU path relies on it).

Any other layer layout is run as the module's own ``forward``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Stage:
    """A convolution, then an optional batch norm, an optional ReLU, an optional max-pool."""

    conv: nn.Conv2d
    norm: nn.BatchNorm2d | None
    relu: bool
    pool: tuple[int, int] | None  # (kh, kw) of a max-pool whose stride is its kernel


def _parse(layers: list[nn.Module]) -> list[Stage] | None:
    """The stages of a conv / [norm] / [ReLU] / [pool] sequence; None for any other layout."""
    stages: list[Stage] = []
    i = 0
    while i < len(layers):
        conv = layers[i]
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or conv.padding_mode != "zeros" \
                or isinstance(conv.padding, str) or _pair(conv.stride) != (1, 1):
            return None
        i += 1
        norm = None
        if i < len(layers) and isinstance(layers[i], nn.BatchNorm2d):
            norm, i = layers[i], i + 1
        relu = i < len(layers) and isinstance(layers[i], nn.ReLU)
        i += relu
        pool = None
        if i < len(layers) and isinstance(layers[i], nn.MaxPool2d):
            p = layers[i]
            kernel = _pair(p.kernel_size)
            if _pair(p.stride) != kernel or _pair(p.padding) != (0, 0) or _pair(p.dilation) != (1, 1) \
                    or p.ceil_mode or kernel not in ((2, 2), (2, 1)):
                return None
            pool, i = kernel, i + 1
        stages.append(Stage(conv, norm, relu, pool))
    return stages or None


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _max_pool(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Max-pool with stride = kernel, (2, 2) or (2, 1), as maxima of strided views (one pass, exact)."""
    h = x.shape[2] - x.shape[2] % 2
    if kernel == (2, 1):
        return torch.maximum(x[:, :, 0:h:2], x[:, :, 1:h:2])
    w = x.shape[3] - x.shape[3] % 2
    return torch.maximum(torch.maximum(x[:, :, 0:h:2, 0:w:2], x[:, :, 0:h:2, 1:w:2]),
                         torch.maximum(x[:, :, 1:h:2, 0:w:2], x[:, :, 1:h:2, 1:w:2]))


@functools.cache
def _fused_conv_available() -> bool:
    """Whether this torch build has oneDNN's convolution with a fused post-op (the op torch.compile
    emits on a CPU); a build without it runs convolution and ReLU as two passes."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        x, w = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3)
        torch.ops.mkldnn._convolution_pointwise(x, w, None, [1, 1], [1, 1], [1, 1], 1, "relu", [], "")
        return True
    except (AttributeError, RuntimeError):
        return False


class VggFeatures:
    """Runs a VGG ``FeatureExtraction`` module's convolutions as fused stages; see the module docstring.

    The weights are copied on first use per dtype and device: for a loaded, frozen network (an
    inference recogniser), not for one being trained."""

    def __init__(self, extractor: nn.Module) -> None:
        net = getattr(extractor, "ConvNet", None)
        self._module = extractor
        self._stages = _parse(list(net)) if isinstance(net, nn.Sequential) else None
        self._weights: dict[tuple[torch.dtype, torch.device], list[tuple[torch.Tensor, torch.Tensor | None]]] = {}
        self._fused = _fused_conv_available()

    @property
    def stages(self) -> list[Stage] | None:
        """The parsed stages (None: an unknown layout, run as the module's own ``forward``)."""
        return self._stages

    @property
    def staged(self) -> bool:
        """Whether the extractor's layout is the known one (else its own ``forward`` runs)."""
        return self._stages is not None

    def _prepared(self, dtype: torch.dtype, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        key = (dtype, device)
        if key not in self._weights:
            self._weights[key] = [
                (s.conv.weight.detach().to(device, dtype).contiguous(memory_format=torch.channels_last),
                 None if s.conv.bias is None else s.conv.bias.detach().to(device, dtype))
                for s in self._stages]
        return self._weights[key]

    def __call__(self, x: torch.Tensor, widths: list[int] | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Features (N, C, H', W') in float32 of a batch (N, 1, H, W) in [-1, 1].

        ``widths``: each image's padded width when they differ (columns past it are read as the
        zero padding of a lone image); None when all are ``W`` wide.
        """
        if self._stages is None:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
                return self._module(x.contiguous(memory_format=torch.channels_last)).float()
        keep = None
        if widths is not None and min(widths) < x.shape[3]:
            keep = torch.tensor(widths, device=x.device, dtype=torch.float32)[:, None, None, None]
        scale = 1  # image columns per column of the current activation
        out = x.to(dtype).contiguous(memory_format=torch.channels_last)
        fused = self._fused and x.device.type == "cpu"
        for stage, (w, b) in zip(self._stages, self._prepared(dtype, x.device)):
            if keep is not None:
                columns = torch.arange(out.shape[3], device=x.device, dtype=torch.float32) * scale
                out = out * (columns < keep).to(out.dtype)
            conv = stage.conv
            relu_now = stage.relu and stage.norm is None
            if fused:
                out = torch.ops.mkldnn._convolution_pointwise(
                    out, w, b, list(conv.padding), list(conv.stride), list(conv.dilation), 1,
                    "relu" if relu_now else "none", [], "")
            else:
                out = conv._conv_forward(out, w, b)
                if relu_now:
                    out = torch.relu_(out)
            if stage.norm is not None:
                out = stage.norm(out)
                if stage.relu:
                    out = torch.relu_(out)
            if stage.pool is not None:
                out = _max_pool(out, stage.pool)
                scale *= stage.pool[1]
        return out.float()
