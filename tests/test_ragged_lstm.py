"""A bidirectional LSTM over sequences of different lengths, as two one-way passes: the packed pass's outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lapi.reading.ragged_lstm import RaggedBiLSTM, reversal_index


@pytest.fixture(scope="module")
def rnn() -> nn.LSTM:
    torch.manual_seed(0)
    return nn.LSTM(12, 8, batch_first=True, bidirectional=True).eval()


def test_each_sequence_reads_as_the_packed_pass_and_as_it_reads_alone(rnn):
    lengths = torch.tensor([9, 4, 13, 1, 13])
    x = torch.randn(len(lengths), 13, 12)
    x[torch.arange(13)[None, :] >= lengths[:, None]] = 100.0  # loud padding: must not reach any output
    with torch.inference_mode():
        ours = RaggedBiLSTM(rnn)(x, lengths)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        ref, _ = nn.utils.rnn.pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=13)
        assert ours.shape == (5, 13, 16)
        for i, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(ours[i, :n], ref[i, :n], atol=1e-5, rtol=1e-5)
            alone, _ = rnn(x[i:i + 1, :n])
            torch.testing.assert_close(ours[i, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_the_backward_direction_is_the_lstms_own(rnn):
    """Swapping the directions' weights would pass a test on symmetric data: here only the right
    weights give the right half of the output."""
    x = torch.randn(2, 6, 12)
    lengths = torch.tensor([6, 6])
    with torch.inference_mode():
        ours = RaggedBiLSTM(rnn)(x, lengths)
        ref, _ = rnn(x)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(ours[:, :, :8], ours[:, :, 8:])


def test_reversal_index_reverses_each_row_in_place_and_undoes_itself():
    index = reversal_index(torch.tensor([3, 0, 5]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]
    assert torch.equal(index.gather(1, index), torch.arange(5).expand(3, 5))


def test_only_a_one_layer_bidirectional_batch_first_lstm_is_taken():
    for rnn in (nn.LSTM(4, 4, batch_first=True), nn.LSTM(4, 4, bidirectional=True),
                nn.LSTM(4, 4, num_layers=2, batch_first=True, bidirectional=True)):
        with pytest.raises(ValueError, match="bidirectional, batch-first, single-layer"):
            RaggedBiLSTM(rnn)


def test_lstm_runs_share_a_pass_where_it_saves_time():
    """A pass costs its longest group's frames x (LSTM_STEP_ROWS + its rows)."""
    from lapi.reading.recognizer import LSTM_STEP_ROWS, lstm_runs

    assert LSTM_STEP_ROWS == 2.0  # the figures below are worked for it
    # a photo's crops, one of a width: one pass (79 x 6 = 474 against 31 x 3 + 47 x 3 + 63 x 3 + 79 x 3 = 660)
    assert lstm_runs([(1, 31), (1, 47), (1, 63), (1, 79)]) == [[0, 1, 2, 3]]
    # a bench batch, a dozen of a width: each its own pass but the two longest
    assert lstm_runs([(10, 31), (12, 47), (15, 63), (12, 79), (10, 95), (5, 111)]) == [[0], [1], [2], [3], [4, 5]]
    # one short crop is not padded to a long batch's length
    assert lstm_runs([(30, 111), (1, 15)]) == [[1], [0]]
    assert lstm_runs([(3, 40)]) == [[0]] and lstm_runs([]) == []


def test_lstm_runs_cover_every_group_once_whatever_their_order():
    from lapi.reading.recognizer import lstm_runs

    g = torch.Generator().manual_seed(2)
    for _ in range(50):
        n = int(torch.randint(1, 9, (1,), generator=g))
        groups = [(int(r), int(t)) for r, t in zip(torch.randint(1, 20, (n,), generator=g),
                                                    torch.randint(10, 120, (n,), generator=g))]
        runs = lstm_runs(groups)
        assert sorted(k for run in runs for k in run) == list(range(n))
        lengths = [[groups[k][1] for k in run] for run in runs]
        assert all(max(a) <= min(b) for a, b in zip(lengths, lengths[1:]))  # runs of consecutive lengths
