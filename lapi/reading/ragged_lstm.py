"""A bidirectional LSTM over sequences of different lengths, as two one-way passes on a padded batch.

Why: on a CPU, torch runs a packed (ragged) batch through a per-step path that is slower than
running each sequence alone, while an unpacked batch goes through oneDNN's fused LSTM.  The crops of
one call differ in width, so their frame sequences differ in length.  Padding after a sequence's
end cannot reach the forward direction's outputs on its own frames; the backward direction reads
each sequence reversed in place (its own frames first, then the padding), so the padding cannot
reach it either.  The outputs on each sequence's frames are the packed pass's, to float rounding;
past its end they are of no use (the caller masks them).
"""

from __future__ import annotations

import torch
from torch import nn


class RaggedBiLSTM:
    """One bidirectional, batch-first, single-layer ``nn.LSTM`` run as two one-way LSTMs."""

    def __init__(self, rnn: nn.LSTM) -> None:
        if not (rnn.bidirectional and rnn.batch_first and rnn.num_layers == 1):
            raise ValueError("RaggedBiLSTM takes a bidirectional, batch-first, single-layer LSTM")
        weight = rnn.weight_ih_l0
        self.hidden_size = rnn.hidden_size
        self.directions = []
        for suffix in ("", "_reverse"):
            one_way = nn.LSTM(rnn.input_size, rnn.hidden_size, batch_first=True, bias=rnn.bias,
                              device=weight.device, dtype=weight.dtype)
            with torch.no_grad():
                for name in ("weight_ih_l0", "weight_hh_l0") + (("bias_ih_l0", "bias_hh_l0") if rnn.bias else ()):
                    getattr(one_way, name).copy_(getattr(rnn, name + suffix))
            self.directions.append(one_way.eval())

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` (N, T, input) with sequence i on its first ``lengths[i]`` frames: (N, T, 2 * hidden),
        forward then backward outputs, as ``nn.LSTM`` lays them out."""
        n, t_len, _ = x.shape
        forward, backward = self.directions
        ahead, _ = forward(x)
        index = reversal_index(lengths.to(x.device), t_len)
        behind, _ = backward(x.gather(1, index[:, :, None].expand_as(x)))
        behind = behind.gather(1, index[:, :, None].expand(n, t_len, self.hidden_size))
        return torch.cat([ahead, behind], dim=2)


def reversal_index(lengths: torch.Tensor, t_len: int) -> torch.Tensor:
    """(N, T) frame index that reverses each row's first ``lengths[i]`` frames and leaves the rest
    in place; applied twice it is the identity."""
    t = torch.arange(t_len, device=lengths.device)[None, :]
    return torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
