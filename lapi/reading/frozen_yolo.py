"""The plate detector's network on a CPU: ultralytics' YOLO traced once and frozen, channels-last.

Why: on a 2-core CPU a photo's detection is about a third of its reading time, and
``YOLO.predict`` runs the network eagerly, in NCHW.  On a 2-core AMD Zen 3, one 640x480 input (four
rounds, arms alternated, one process): eager NCHW 118-135 ms, eager channels-last 90-110 ms,
traced and frozen NCHW 113-124 ms, traced and frozen channels-last 76-82 ms, the outputs within
3e-4 of eager NCHW's (docs/benchmarks.md).  Freezing lets TorchScript fold the weights into the
graph and fuse each convolution with its activation; channels-last spares oneDNN a reorder of the
activations around each convolution.

Only the network changes: the letterbox, the non-maximum suppression and the scaling back are
ultralytics' own functions called with the arguments ``YOLO.predict`` gives them, so the boxes are
the predictor's.  The trace is shape-agnostic: the head rebuilds its anchor grid from each input's
size (``Detect.dynamic``), so one trace serves every frame size and detector input size.
"""

from __future__ import annotations

import copy
import threading
import warnings

import numpy as np
import torch
from torch import nn

MAX_DETECTIONS = 300  # ultralytics' default max_det


class _Boxes(nn.Module):
    """The detection model's decoded boxes alone (the eval-mode forward also returns the raw maps)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


class FrozenYolo:
    """A YOLO detection model's inference on a CPU: letterboxed frames in, boxes in frame pixels out."""

    def __init__(self, model: nn.Module, conf: float, iou: float) -> None:
        """``model``: the ``DetectionModel`` of ``ultralytics.YOLO(...).model`` (copied, not changed)."""
        net = copy.deepcopy(model)
        net = net.fuse(verbose=False) if hasattr(net, "fuse") else net
        net = net.float().eval().to(memory_format=torch.channels_last)
        for p in net.parameters():
            p.requires_grad_(False)
        net.model[-1].dynamic = True  # anchors from each input's size, inside the trace
        self.stride = max(int(net.stride.max()), 32)
        self.conf = conf
        self.iou = iou
        self._boxes = _Boxes(net).eval()
        self._frozen: torch.jit.ScriptModule | None = None
        self._lock = threading.Lock()
        # ultralytics' own pre- and post-processing, looked up once (not on every frame)
        from ultralytics.data.augment import LetterBox
        from ultralytics.utils import ops
        try:
            from ultralytics.utils.nms import non_max_suppression
        except ImportError:  # ultralytics 8.3 kept it in ops
            non_max_suppression = ops.non_max_suppression
        self._letterbox, self._nms, self._scale_boxes = LetterBox, non_max_suppression, ops.scale_boxes

    def predict(self, frames: list[np.ndarray], imgsz: int) -> list[np.ndarray]:
        """Per frame (BGR arrays of one shape), its boxes as rows ``x0, y0, x1, y1, score, class`` in
        the frame's pixels, best first."""
        letterbox = self._letterbox(imgsz, auto=True, stride=self.stride)  # the predictor's for frames of one shape
        batch = np.stack([letterbox(image=frame) for frame in frames])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).flip(1).float().div_(255)  # BGR -> RGB, 0..1
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            preds = self._network(x)(x)
            kept = self._nms(preds, self.conf, self.iou, None, False, max_det=MAX_DETECTIONS, nc=0)
            out = []
            for frame, rows in zip(frames, kept):
                rows[:, :4] = self._scale_boxes(x.shape[2:], rows[:, :4], frame.shape)
                out.append(rows[:, :6].numpy())
        return out

    def _network(self, example: torch.Tensor) -> torch.jit.ScriptModule:
        """The frozen trace, made on the first call (about a second; the next two calls optimise it)."""
        with self._lock:
            if self._frozen is None:
                with warnings.catch_warnings():  # tracing warns of Python values it records as constants
                    warnings.simplefilter("ignore")
                    self._frozen = torch.jit.freeze(torch.jit.trace(self._boxes, example, check_trace=False))
            return self._frozen
