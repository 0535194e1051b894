"""Plate recogniser: EasyOCR's recognition network run on plate crops, decoded to a plate alphabet.

A model is weights plus a small JSON config (``models/ocr/*.json``) saying how to load it, as in
fast-plate-ocr.  The network is EasyOCR's own (``easyocr.model``), so a model that LAPI trains stays
loadable by ``easyocr.Reader`` as a custom recognition network.

Why not ``easyocr.Reader.recognize``: it resizes with PIL per crop and decodes in Python per string.
Here a batch of crops goes through the network in one forward pass; the scores are pooled to plate
characters (A-Z0-9, upper and lower case merged, punctuation folded into blank) and decoded under
the country grammars (:mod:`lapi.reading.ctc`), so a read is always the best string of some real
plate format, or of the generic fallback when none fits.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lapi import grammars
from lapi.reading import PRECISIONS, int8_activation_scales, int8_features
from lapi.reading.cpu_probe import cpu_has
from lapi.reading.ctc import TemplateBank, decode_batch
from lapi.reading.ragged_lstm import RaggedBiLSTM
from lapi.reading.rectify import split_two_lines
from lapi.reading.vgg_features import VggFeatures


CLOSE_MARGINS = {"bf16": 0.1, "int8": 0.25}
"""Log-probability gap below which a frame's best class could turn with each precision's rounding:
a plate with such a frame is read again in fp32.  On 512 real crops, bfloat16 changed two greedy
strings (closest frames 0.05 and 0.01 nat apart; 0.1 nat re-reads 3.5 % of plates), int8 three
(within 0.07 nat; 0.25 re-reads 10.5 %).  On 1,024 rendered plates one string of each got past
its margin (docs/benchmarks.md)."""


@dataclass(frozen=True)
class Recognition:
    """One crop's reading: the text in the plate alphabet, per-character and overall confidence."""

    text: str
    char_confidences: tuple[float, ...]
    confidence: float
    country: str | None = None  # country of the plate format the text fits (None: no known format)
    format_name: str | None = None
    display: str = ""  # as printed on the plate, e.g. "GV-073-KP"; the bare text when no format fits
    choice_confidences: tuple[float, ...] = ()  # see ctc.Decoded.choice_confidences


@dataclass(frozen=True)
class RecognizerConfig:
    """The contents of a model's JSON file, validated."""

    weights: Path
    network: str
    network_params: dict
    characters: str
    img_height: int
    case_insensitive: bool
    plate_alphabet: str
    int8_scales: tuple[float, ...] | None = None  # ``int8.activation_scales``: see lapi.reading.int8_features

    @classmethod
    def load(cls, path: Path) -> "RecognizerConfig":
        raw = json.loads(path.read_text())
        missing = [k for k in ("weights", "network", "characters", "img_height", "plate_alphabet") if k not in raw]
        if missing:
            raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
        return cls(
            weights=resolve_weights(raw["weights"], path.parent),
            network=raw["network"],
            network_params=dict(raw.get("network_params", {})),
            characters=raw["characters"],
            img_height=int(raw["img_height"]),
            case_insensitive=bool(raw.get("case_insensitive", False)),
            plate_alphabet=raw["plate_alphabet"],
            int8_scales=int8_activation_scales(raw, str(path)),
        )


def resolve_weights(ref: str, base: Path) -> Path:
    """``package:pkg/rel/path`` points into an installed package; anything else is relative to ``base``."""
    if ref.startswith("package:"):
        package, _, rel = ref[len("package:"):].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"weights {ref!r}: package {package!r} is not installed")
        path = Path(list(spec.submodule_search_locations)[0]) / rel
    else:
        path = (base / ref).resolve()
    if not path.exists():
        raise FileNotFoundError(f"weights file not found: {path}")
    return path


def _network_module(network: str):
    if network == "generation2":
        return importlib.import_module("easyocr.model.vgg_model")
    if network == "generation1":
        return importlib.import_module("easyocr.model.model")
    return importlib.import_module(network)


class PlateRecognizer:
    """Batched CTC recognition of plate crops with a plate-alphabet decode."""

    def __init__(self, config_path: Path, device: str = "cpu",
                 country_weights: Mapping[str, float] | None = None, precision: str = "fp32") -> None:
        """``country_weights``: plate formats to decode into and their priors (None: greedy, no grammar);
        ``precision`` (:data:`PRECISIONS` or "auto"):

        - "bf16": the convolutions and the LSTM in bfloat16 (the output layer and the decode stay fp32);
        - "int8": the convolutions in 8-bit integers (:mod:`lapi.reading.int8_features`; a CPU only,
          and the model's JSON must carry ``int8.activation_scales``), the LSTM in bfloat16 where the
          CPU computes it in hardware, else fp32;
        - "auto": on a CPU int8 where it can run and the CPU has VNNI, else bfloat16 where the CPU
          computes it in hardware (:func:`cpu_has_bf16_hardware`), else fp32; fp32 on a GPU.

        Why: on a CPU the network reads about 3 times as many plates/s in bfloat16 as in fp32 on
        Intel AMX (1.8 times on AMD Zen 4), and int8 more still: 3.5 times on AMX, 2.3 on Zen 4.
        The price is precision, paid back where it can matter: a plate with a frame whose two best classes are
        within :data:`CLOSE_MARGINS` is read again in fp32, so the strings are fp32's but for rare
        plates (docs/benchmarks.md)."""
        self.device = torch.device(device)
        if precision not in (*PRECISIONS, "auto"):
            raise ValueError(f"precision: one of {', '.join(PRECISIONS)} or auto, got {precision!r}")
        if precision == "int8" and self.device.type != "cpu":
            raise ValueError("precision int8 runs on a CPU only (torch's quantized convolutions)")
        self.config = RecognizerConfig.load(config_path)
        num_class = len(self.config.characters) + 1  # CTC blank at index 0
        model = _network_module(self.config.network).Model(num_class=num_class, **self.config.network_params)
        state = torch.load(self.config.weights, map_location="cpu", weights_only=False)
        state = OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state.items())
        model.load_state_dict(state)
        self.model = model.to(self.device).eval()
        self._packed = _is_vgg_bilstm(self.model)  # known layout: the LSTM can be run per plate length (_forward)
        if self._packed:
            # NHWC convolutions: a third less CPU for the feature extractor (oneDNN), tensor-core friendly on GPU
            self.model.FeatureExtraction.to(memory_format=torch.channels_last)
            self._features = VggFeatures(self.model.FeatureExtraction)
        self.precision = self._resolve_precision(precision)
        self._int8 = int8_features.Int8VggFeatures(self._features.stages, self.config.int8_scales) \
            if self.precision == "int8" else None
        self._int8_lstm_bf16 = self.precision == "int8" and cpu_has_bf16_hardware()
        self._sequence_bf16: nn.Module | None = None
        self._ragged: dict[str, list[RaggedBiLSTM]] = {}
        pool = getattr(self.model, "AdaptiveAvgPool", None)
        self._mean_rows = isinstance(pool, nn.AdaptiveAvgPool2d) and tuple(pool.output_size) == (None, 1)
        self._build_alphabet_map()
        self.bank = None
        if country_weights is not None:
            formats = grammars.formats_for(list(country_weights))
            self.bank = TemplateBank.build(formats, self.config.plate_alphabet, country_weights).to(self.device)

    def _int8_possible(self) -> bool:
        return self.device.type == "cpu" and self._packed and self._features.staged \
            and self.config.int8_scales is not None and int8_features.engine_available()

    def _resolve_precision(self, precision: str) -> str:
        if precision == "auto":
            if self.device.type != "cpu":
                return "fp32"
            # int8 where the CPU has VNNI: without it the convolutions gain ~1.7x, but a third of a photo's
            # crops then go through fp32 again and the whole photo reads ~10 % slower (Zen 3, docs/benchmarks.md)
            if self._int8_possible() and int8_features.cpu_has_vnni():
                return "int8"
            return "bf16" if self._packed and cpu_has_bf16_hardware() else "fp32"
        if precision == "bf16" and self.device.type == "cpu" and not cpu_runs_bf16():
            raise ValueError("precision bf16 needs a CPU with AVX-512 (oneDNN's bfloat16 path); this one has"
                             " none: use fp32 or int8")
        if precision == "int8" and not self._int8_possible():
            why = "needs int8.activation_scales in the model's JSON (models/calibrate_int8.py)" \
                if self.config.int8_scales is None else "needs EasyOCR's VGG + BiLSTM network and torch's x86 engine"
            raise ValueError(f"precision int8 {why}")
        return precision if self._packed else "fp32"  # an unknown network layout runs its own forward in fp32

    def _build_alphabet_map(self) -> None:
        """For each plate character, the network classes whose scores it sums (upper + lower case)."""
        chars = self.config.characters
        groups: list[list[int]] = []
        for ch in self.config.plate_alphabet:
            idx = [chars.index(ch) + 1]
            if self.config.case_insensitive and ch.isalpha() and ch.lower() in chars:
                idx.append(chars.index(ch.lower()) + 1)
            groups.append(idx)
        n_out = len(self.config.plate_alphabet) + 1
        n_in = len(chars) + 1
        pool = torch.zeros(n_in, n_out)
        pool[0, 0] = 1.0  # blank stays blank
        for j, idx in enumerate(groups, start=1):
            pool[idx, j] = 1.0
        self._pool = pool.to(self.device)
        # classes outside the plate alphabet (punctuation, space, €) are folded into blank: a plate
        # separator or screw hole should read as "nothing", not as a character.
        other = [i for i in range(1, n_in) if pool[i].sum() == 0]
        self._pool[other, 0] = 1.0

    def _forward(self, x: torch.Tensor, widths: list[int], precision: str = "fp32") -> torch.Tensor:
        """Network scores (N, T, classes) where each plate's sequence ends at its own padded width.

        A plate padded to a batch's width must read as it reads alone, as ``easyocr.Reader.recognize``
        reads it: the convolutions see zeros past its own width (:class:`VggFeatures`), and as the
        bidirectional LSTM reads a sequence from both ends, a plate's frames go through it at its
        own length; the frames past it come out as certain blanks.  ``precision``: the
        convolutions' and, on a CPU, the LSTM's (see :meth:`__init__`; the output layer runs in fp32).
        A batch of plates of different widths runs its convolutions in fp32 in place of int8.
        """
        if not self._packed:
            return self.model(x, None)
        feats = self._sequence_input(x, widths, precision)
        return self._sequence_scores(feats, self._frame_counts(widths, feats.shape[1]), precision)

    def _sequence_input(self, x: torch.Tensor, widths: list[int], precision: str) -> torch.Tensor:
        """The feature extractor's output as the LSTM's input frames, (N, T, C)."""
        if precision == "int8" and min(widths) == x.shape[3]:
            conv = self._int8(x)
        else:
            conv = self._features(x, widths, torch.bfloat16 if precision == "bf16" else torch.float32)
        if self._mean_rows:  # AdaptiveAvgPool((None, 1)) of the rows, as one reduction: the same sums
            return conv.mean(dim=2).transpose(1, 2).contiguous()
        return self.model.AdaptiveAvgPool(conv.permute(0, 3, 1, 2)).squeeze(3).contiguous()

    def _sequence_scores(self, feats: torch.Tensor, lengths: torch.Tensor, precision: str) -> torch.Tensor:
        """The LSTM and output layer over frames (N, T, C) of which row i holds ``lengths[i]`` (a
        CPU tensor); scores (N, T, classes), certain blanks past each row's length."""
        m = self.model
        t_len = feats.shape[1]
        ragged = bool((lengths < t_len).any())
        on_cpu = feats.device.type == "cpu"
        # the LSTM in bfloat16 on a CPU only (oneDNN's); on a GPU it is a small share and stays fp32
        lstm_bf16 = on_cpu and (precision == "bf16" or precision == "int8" and self._int8_lstm_bf16)
        if lstm_bf16:
            feats = feats.to(torch.bfloat16)
        layers = self._bf16_sequence() if lstm_bf16 else m.SequenceModeling
        for k, layer in enumerate(layers):
            if ragged and on_cpu:  # oneDNN's unpacked LSTM, each direction once (lapi/reading/ragged_lstm.py)
                out = self._ragged_layers(lstm_bf16)[k](feats, lengths)
            elif ragged:  # cuDNN runs a packed batch well
                packed = nn.utils.rnn.pack_padded_sequence(feats, lengths, batch_first=True, enforce_sorted=False)
                out, _ = layer.rnn(packed)
                out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=t_len)
            else:  # one width: oneDNN's fused LSTM, the path stock takes for a lone crop
                out, _ = layer.rnn(feats)
            # as (N*T, 2H) rows: on a 3-D bfloat16 input, linear runs a batched product on N copies of its weight
            feats = layer.linear(out.reshape(-1, out.shape[2])).view(out.shape[0], out.shape[1], -1)
        scores = m.Prediction(feats.float().contiguous())
        past_end = torch.arange(t_len, device=feats.device)[None, :] >= lengths.to(feats.device)[:, None]
        blank = torch.full_like(scores[0, 0], -1e4)
        blank[0] = 1e4
        return torch.where(past_end[:, :, None], blank, scores)

    def _ragged_layers(self, bf16: bool) -> list[RaggedBiLSTM]:
        """Each LSTM layer (of the bfloat16 copy when ``bf16``) as a :class:`RaggedBiLSTM`, made once."""
        key = "bf16" if bf16 else "fp32"
        if key not in self._ragged:
            layers = self._bf16_sequence() if bf16 else self.model.SequenceModeling
            self._ragged[key] = [RaggedBiLSTM(layer.rnn) for layer in layers]
        return self._ragged[key]

    def _log_probs(self, x: torch.Tensor, widths: list[int]) -> torch.Tensor:
        """Log-probabilities over [blank] + plate alphabet for a padded batch (N, 1, H, W).

        In bfloat16 or int8, the plates with a close frame (:data:`CLOSE_MARGINS`) are read again in
        fp32: the rounding can only turn a frame whose two best classes are close.
        """
        lp = self._pooled_log_probs(x, widths, self.precision)
        if self.precision == "fp32" or not len(lp):
            return lp
        close = self._close_plates(lp).nonzero().flatten()
        if close.numel():
            lp[close] = self._pooled_log_probs(x[close], [widths[i] for i in close.tolist()], "fp32")
        return lp

    def _close_plates(self, lp: torch.Tensor) -> torch.Tensor:
        """(N,) whether each plate of ``lp`` has a frame whose two best classes are within this
        precision's :data:`CLOSE_MARGINS`: the plates whose reading the rounding could turn."""
        best2 = lp.topk(2, dim=2).values
        return (best2[..., 0] - best2[..., 1]).amin(dim=1) < CLOSE_MARGINS[self.precision]

    def _bf16_sequence(self) -> nn.Module:
        """A bfloat16 copy of the LSTM layers, made once (autocast would cast their weights on every call)."""
        if self._sequence_bf16 is None:
            self._sequence_bf16 = copy.deepcopy(self.model.SequenceModeling).to(torch.bfloat16)
        return self._sequence_bf16

    def _pooled_log_probs(self, x: torch.Tensor, widths: list[int], precision: str) -> torch.Tensor:
        probs = self._forward(x, widths, precision).float().softmax(dim=2)
        return torch.log(probs @ self._pool + 1e-12)

    @torch.inference_mode()
    def plate_log_probs(self, crops: list[np.ndarray]) -> torch.Tensor:
        """Log-probabilities over [blank] + plate alphabet, shape (batch, time, classes)."""
        return self._plate_log_probs(crops)[0]

    def _plate_log_probs(self, crops: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (batch, time, classes) and each crop's frame count (the frames after it are blank).

        On a CPU the convolutions' cost is the padded batch area, and one frame's crops range from
        squarish fragments to long plates: the convolutions run in groups of one padded width (a few
        widths, multiples of 64).  A few crops' LSTM costs its steps more than its rows, so groups
        share LSTM passes where that saves time (:func:`lstm_runs`, :class:`RaggedBiLSTM`; four plates
        of four widths on a 2-core Zen 3: 26 ms in one pass, against 33-45 ms one at a time and
        56-61 ms as a packed batch).  On a GPU one pass over the whole batch is cheaper.
        """
        images = [network_image(crop, self.config.img_height) for crop in crops]
        widths = [padded_width(img.shape[1]) for img in images]
        if self.device.type != "cpu":
            x = pad_batch(images, max(widths)).to(self.device)
            lp = self._log_probs(x, widths)
            return lp, self._frame_counts(widths, lp.shape[1]).to(self.device)
        batches = [(idx, pad_batch([images[i] for i in idx], widths[idx[0]]), [widths[i] for i in idx])
                   for idx in width_groups(widths)]
        if not self._packed:  # an unknown layout: whole forward passes a group at a time
            return self._grouped_log_probs(batches, len(images))
        lengths = torch.tensor([frames_for_width(w) for w in widths], dtype=torch.long)
        t_len = int(lengths.max())
        lp = self._merged_log_probs(batches, lengths, t_len, self.precision)
        if self.precision == "fp32" or not len(lp):
            return lp, lengths
        close = self._close_plates(lp)  # as in _log_probs: read again in fp32
        if close.any():
            renumbered = (close.cumsum(0) - 1).tolist()
            again = [([renumbered[i] for i in idx if close[i]], x[close[idx]], [w for i, w in zip(idx, group) if close[i]])
                     for idx, x, group in batches if close[idx].any()]
            lp[close] = self._merged_log_probs(again, lengths[close], t_len, "fp32")
        return lp, lengths

    def _merged_log_probs(self, batches: list[tuple[list[int], torch.Tensor, list[int]]], lengths: torch.Tensor,
                          t_len: int, precision: str) -> torch.Tensor:
        """Pooled log-probabilities (N, ``t_len``, classes) of every plate of ``batches`` ((rows, padded
        images, widths) of one width each): the convolutions a batch at a time, the LSTM over runs of
        batches (:func:`lstm_runs`), certain-blank frames past each row's ``lengths``."""
        parts = [(idx, self._sequence_input(x, group, precision)) for idx, x, group in batches]
        lp = blank_frames(len(lengths), t_len, self._pool.shape[1])
        blank = lp[0, 0].clone()
        for run in lstm_runs([(len(idx), part.shape[1]) for idx, part in parts]):
            rows = [i for k in run for i in parts[k][0]]
            run_len = max(parts[k][1].shape[1] for k in run)
            feats = torch.cat([F.pad(parts[k][1], (0, 0, 0, run_len - parts[k][1].shape[1])) for k in run])
            run_lengths = lengths[rows]
            probs = self._sequence_scores(feats, run_lengths, precision).float().softmax(dim=2)
            run_lp = torch.log(probs @ self._pool + 1e-12)
            past_end = torch.arange(run_len)[None, :] >= run_lengths[:, None]
            lp[rows, :run_len] = torch.where(past_end[:, :, None], blank, run_lp)
        return lp

    def _grouped_log_probs(self, batches: list[tuple[list[int], torch.Tensor, list[int]]],
                           n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities and frame counts, a whole forward pass per batch of ``batches``, the
        outputs padded with certain-blank frames (which change no CTC score) to a common length."""
        parts = [(idx, self._log_probs(x, group)) for idx, x, group in batches]
        lengths = torch.zeros(n, dtype=torch.long)
        for (idx, lp), (_, _, group) in zip(parts, batches):
            lengths[idx] = self._frame_counts(group, lp.shape[1])
        out = blank_frames(n, max(lp.shape[1] for _, lp in parts), self._pool.shape[1])
        for idx, lp in parts:
            out[idx, : lp.shape[1]] = lp
        return out, lengths

    def _frame_counts(self, widths: list[int], t_len: int) -> torch.Tensor:
        """Frames that carry a crop of each padded width: its own (see :meth:`_forward`), or the batch's for
        a network run unpacked."""
        if not self._packed:
            return torch.full((len(widths),), t_len, dtype=torch.long)
        return torch.tensor([min(frames_for_width(w), t_len) for w in widths], dtype=torch.long)

    def recognise(self, crops: list[np.ndarray]) -> list[Recognition]:
        """Read every crop; an empty list in, an empty list out."""
        if not crops:
            return []
        if self.bank is None:
            return greedy_decode_batch(self.plate_log_probs(crops), self.config.plate_alphabet)
        # squarish crops may be two-line plates: their lines go through the same forward pass
        splits = [split_two_lines(c) for c in crops]
        two_line = [i for i, s in enumerate(splits) if s is not None]
        lines = list(crops) + [half for i in two_line for half in splits[i]]
        with torch.inference_mode():
            log_probs, lengths = self._plate_log_probs(lines)
            return self._decode(log_probs, lengths, len(crops), two_line)

    @torch.inference_mode()
    def recognise_quads(self, frames: list[np.ndarray], owners: list[int],
                        quads: list[list[np.ndarray]]) -> list[Recognition]:
        """Read plates given as quadrilaterals in their frames, cut and resized on the device.

        ``quads[i]``: plate ``i``'s quad, then its top- and bottom-line quads for a two-line plate
        (:func:`lapi.reading.rectify.text_quads`); ``owners[i]``: the index of its frame.  The same
        network, pooling and decode as :meth:`recognise`: only where the pixels are cut differs.
        """
        if not quads:
            return []
        from lapi.reading.device_crops import sample_plates

        two_line = [i for i, q in enumerate(quads) if len(q) == 3] if self.bank is not None else []
        flat = [q[0] for q in quads] + [half for i in two_line for half in quads[i][1:]]
        flat_owners = list(owners) + [owners[i] for i in two_line for _ in (0, 1)]
        x, widths = sample_plates(frames, flat_owners, flat, self.config.img_height, self.device)
        log_probs = self._log_probs(x, widths)
        if self.bank is None:
            return greedy_decode_batch(log_probs, self.config.plate_alphabet)
        return self._decode(log_probs, self._frame_counts(widths, log_probs.shape[1]).to(self.device), len(quads), two_line)

    def _decode(self, log_probs: torch.Tensor, lengths: torch.Tensor, n: int, two_line: list[int]) -> list[Recognition]:
        """Grammar decode of the first ``n`` rows; rows after them are the top and bottom lines of
        the plates listed in ``two_line``, read as one sequence and kept where they score better.

        ``lengths``: each row's frames.  The joined lines go through the same decode as the whole
        crops, in one pass: the decode's cost on a CPU is its steps over time, not its rows.
        """
        rows = log_probs[:n]
        if two_line:
            joined = join_lines(log_probs[n::2], lengths[n::2], log_probs[n + 1::2], lengths[n + 1::2])
            t_len = max(rows.shape[1], joined.shape[1])
            decoded = decode_batch(torch.cat([pad_frames(rows, t_len), pad_frames(joined, t_len)]), self.bank)
            best = decoded[:n]
            for i, d in zip(two_line, decoded[n:]):
                if d.total_score > best[i].total_score:
                    best[i] = d
        else:
            best = decode_batch(rows, self.bank)
        out = []
        for d in best:
            fmt = d.format if d.format is not None and d.format.country != grammars.GENERIC else None
            out.append(Recognition(d.text, d.char_confidences, d.confidence,
                                   country=fmt.country if fmt else None, format_name=fmt.name if fmt else None,
                                   display=fmt.display(d.text) if fmt else d.text,
                                   choice_confidences=d.choice_confidences))
        return out


def cpu_has_bf16_hardware() -> bool:
    """Whether this CPU computes in bfloat16 in hardware (Intel AMX tiles, or the AVX512-BF16 dot
    products of AMD Zen 4 and Intel Cooper Lake on), where bfloat16 convolutions run ~2x fp32; elsewhere
    oneDNN emulates bfloat16 and it does not pay."""
    return cpu_has("_is_amx_tile_supported") or cpu_has("_is_avx512_bf16_supported")


def cpu_runs_bf16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions and LSTMs on this CPU at all: it needs AVX-512
    (BW, VL, DQ), emulating bfloat16 where the CPU lacks it (see :func:`cpu_has_bf16_hardware`); on
    an AVX2 CPU (AMD Zen 3) it raises at the first convolution."""
    return cpu_has("_is_avx512_supported") or cpu_has_bf16_hardware()


LSTM_STEP_ROWS = 2.0
"""What one LSTM time step costs beyond its rows' arithmetic, in rows: on a 2-core Zen 3 a step of
both layers took ~0.11 ms plus ~0.06 ms a row (10.7 ms for one 64-frame sequence, 20.7 ms for four,
37 ms for eight)."""


def lstm_runs(groups: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Groups of (rows, frames) gathered into runs that share one LSTM pass, for the least time.

    A pass costs its longest group's frames times (:data:`LSTM_STEP_ROWS` + its rows): sharing a
    pass saves the fixed cost of each step, padding a short group to a long one costs its rows'
    extra steps.  The few crops of a photo, one or two of a width, share one pass (about half the
    time of a pass each); a bench's batches of 64, a dozen of a width, mostly keep their own.
    Exact over runs of consecutive lengths (dynamic programming over the groups sorted by frames).
    """
    order = sorted(range(len(groups)), key=lambda k: groups[k][1])
    best: list[tuple[float, int]] = [(0.0, 0)]  # (cost of the first j groups, where their last run starts)
    for j in range(1, len(order) + 1):
        rows, options = 0, []
        for i in range(j - 1, -1, -1):
            rows += groups[order[i]][0]
            options.append((best[i][0] + groups[order[j - 1]][1] * (LSTM_STEP_ROWS + rows), i))
        best.append(min(options))
    runs, j = [], len(order)
    while j:
        i = best[j][1]
        runs.append(order[i:j])
        j = i
    return runs[::-1]


def blank_frames(n: int, t_len: int, classes: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, t_len, classes) log-probabilities of frames that are blank with certainty: they change no CTC score."""
    out = torch.full((n, t_len, classes), -1e9, device=device)
    out[:, :, 0] = 0.0
    return out


def pad_frames(log_probs: torch.Tensor, t_len: int) -> torch.Tensor:
    """``log_probs`` (N, T, C) followed by certain-blank frames up to ``t_len``."""
    n, t, c = log_probs.shape
    if t >= t_len:
        return log_probs
    return torch.cat([log_probs, blank_frames(n, t_len - t, c, log_probs.device).to(log_probs.dtype)], dim=1)


def join_lines(top: torch.Tensor, top_len: torch.Tensor, bottom: torch.Tensor, bottom_len: torch.Tensor) -> torch.Tensor:
    """Each plate's top-line frames, one certain-blank frame, then its bottom-line frames: (N, T', C).

    The padding after each line is dropped (a line's own frames end at its length), so the joined
    sequence is no longer than the two lines' text; the blank between keeps a character ending the
    top line and the same character starting the bottom line two characters.  One gather, no
    per-plate Python.
    """
    n, t_top, c = top.shape
    if n == 0:
        return top
    t_bottom = bottom.shape[1]
    blank_at = t_top + t_bottom
    source = torch.cat([top, bottom, blank_frames(n, 1, c, top.device).to(top.dtype)], dim=1)
    out_len = int((top_len + 1 + bottom_len).max())
    t = torch.arange(out_len, device=top.device)[None, :]
    a, b = top_len[:, None], bottom_len[:, None]
    index = torch.where(t < a, t, torch.where((t > a) & (t <= a + b), t - a - 1 + t_top, blank_at))
    return source.gather(1, index[:, :, None].expand(n, out_len, c))


def network_image(crop: np.ndarray, height: int, max_width: int | None = None) -> np.ndarray:
    """Grey, ``height`` rows, aspect kept (at least square; at most ``max_width`` wide when given).

    Shared with training (``models/train_recognizer.py``) so that the network sees the same pixels
    in both.
    """
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    ch, cw = grey.shape[:2]
    w = max(height, int(np.ceil(height * cw / max(ch, 1))))
    if max_width is not None:
        w = min(w, max_width)
    return cv2.resize(grey, (w, height), interpolation=cv2.INTER_CUBIC if ch < height else cv2.INTER_AREA)


def padded_width(width: int, step: int = 64) -> int:
    """The width a crop is padded to (its last column repeated): the next multiple of ``step``, as EasyOCR does."""
    return max(step, -(-width // step) * step)


def frames_for_width(width: int) -> int:
    """Output frames of the generation2 (VGG) feature extractor for an image ``width`` pixels wide."""
    return width // 4 - 1


def _is_vgg_bilstm(model: nn.Module) -> bool:
    return all(hasattr(model, a) for a in ("FeatureExtraction", "AdaptiveAvgPool", "SequenceModeling", "Prediction")) \
        and all(hasattr(layer, "rnn") and hasattr(layer, "linear") for layer in model.SequenceModeling)


def width_groups(widths: list[int]) -> list[list[int]]:
    """Indices grouped by equal width, narrowest first."""
    groups: dict[int, list[int]] = {}
    for i in sorted(range(len(widths)), key=lambda i: widths[i]):
        groups.setdefault(widths[i], []).append(i)
    return list(groups.values())


def pad_batch(images: list[np.ndarray], width: int | None = None) -> torch.Tensor:
    """Same-height grey images right-padded with their last column to ``width`` (default: the widest),
    scaled to [-1, 1]: (N, 1, H, W)."""
    height, width = images[0].shape[0], max([img.shape[1] for img in images] + [width or 0])
    batch = np.empty((len(images), 1, height, width), np.float32)
    for i, img in enumerate(images):
        batch[i, 0, :, : img.shape[1]] = img
        batch[i, 0, :, img.shape[1]:] = img[:, -1:]
    return torch.from_numpy(batch / 127.5 - 1.0)


def greedy_decode_batch(log_probs: torch.Tensor, alphabet: str) -> list[Recognition]:
    """Best path for a whole batch (N, T, C) as tensor operations; the same strings as :func:`greedy_ctc_decode`.

    A character starts where the arg-max is not blank and differs from the previous frame; its
    confidence is the highest posterior over its run of frames.  Only the characters and their
    confidences leave the device, in one transfer.
    """
    n = log_probs.shape[0]
    if n == 0:
        return []
    best = log_probs.max(dim=2)
    labels, probs = best.indices, best.values.exp()
    prev = torch.nn.functional.pad(labels[:, :-1], (1, 0))
    starts = (labels != 0) & (labels != prev)
    run = starts.long().cumsum(dim=1) - 1  # index of the character each frame belongs to
    member = (labels != 0) & (run >= 0)
    counts = starts.sum(dim=1)
    width = max(int(counts.max()), 1)
    confs = torch.zeros((n, width + 1), dtype=probs.dtype, device=probs.device)
    slot = torch.where(member, run, torch.full_like(run, width))  # frames outside a character go to a spare slot
    confs.scatter_reduce_(1, slot, torch.where(member, probs, torch.zeros_like(probs)), reduce="amax")
    chars = labels[starts].tolist()
    counts_list = counts.tolist()
    confs_list = confs[:, :width].tolist()
    out, offset = [], 0
    for row, count in enumerate(counts_list):
        text = "".join(alphabet[c - 1] for c in chars[offset: offset + count])
        offset += count
        raw = confs_list[row][:count]
        char_conf = tuple(round(c, 4) for c in raw)
        confidence = float(np.prod(raw)) ** (1 / count) if count else 0.0
        out.append(Recognition(text, char_conf, round(confidence, 4), display=text))
    return out


def greedy_ctc_decode(log_probs: torch.Tensor, alphabet: str) -> Recognition:
    """Best path: arg-max per time step, repeats collapsed, blanks dropped."""
    best = log_probs.max(dim=1)
    labels = best.indices.tolist()
    scores = best.values.exp().tolist()
    text, confs, prev = [], [], 0
    for label, score in zip(labels, scores):
        if label != 0 and label != prev:
            text.append(alphabet[label - 1])
            confs.append(score)
        elif label != 0 and confs:
            confs[-1] = max(confs[-1], score)
        prev = label
    confidence = float(np.prod(confs)) ** (1 / len(confs)) if confs else 0.0
    return Recognition("".join(text), tuple(round(c, 4) for c in confs), round(confidence, 4), display="".join(text))
