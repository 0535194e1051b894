"""Grammar-constrained CTC decoding on hand-built score matrices (no network needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from lapi import grammars
from lapi.reading.ctc import (NEG, TemplateBank, _prefix_scores, _viterbi, bounded_template_scores, compact_blank_runs,
                              decode_batch, decode_with_templates, runs_compiled, template_scores)
from lapi.reading.recognizer import blank_frames, join_lines, pad_frames

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def frames(spec: list[dict[str, float] | str], floor: float = 1e-4) -> torch.Tensor:
    """(T, 37) log-probs; each item is one frame: a char, "-" for blank, or {char: prob} for a mixed frame."""
    rows = []
    for item in spec:
        p = torch.full((1 + len(ALPHABET),), floor)
        dist = {item: 1.0} if isinstance(item, str) else item
        for ch, prob in dist.items():
            p[0 if ch == "-" else ALPHABET.index(ch) + 1] = prob
        rows.append(p / p.sum())
    return torch.stack(rows).log()


def spelled(text: str, per_char: int = 2) -> list:
    out: list = ["-"]
    for ch in text:
        out += [ch] * per_char + ["-"]
    return out


def padded(lps: list[torch.Tensor]) -> torch.Tensor:
    """Stack score matrices of different lengths, padding with blank frames (as a batch of crops is)."""
    width = max(lp.shape[0] for lp in lps)
    pad = frames(["-"])[0]
    return torch.stack([torch.cat([lp, pad.expand(width - lp.shape[0], -1)]) for lp in lps])


def bank(countries: list[str] | None = None) -> TemplateBank:
    weights = {c: grammars.COUNTRY_PRIORS[c] for c in (countries or grammars.COUNTRY_PRIORS)}
    return TemplateBank.build(grammars.formats_for(list(weights)), ALPHABET, weights)


def test_clean_siv_and_fni_read_with_their_format():
    b = bank()
    out = decode_batch(padded([frames(spelled("GV073KP")), frames(spelled("9343ZH68"))]), b)
    assert [o.text for o in out] == ["GV073KP", "9343ZH68"]
    assert [(o.format.country, o.format.name) for o in out] == [("FR", "SIV"), ("FR", "FNI")]
    assert all(o.confidence > 0.9 for o in out)


def test_grammar_fixes_letter_digit_confusions_that_greedy_makes():
    spec = spelled("GV073KP")
    spec[4] = spec[5] = {"7": 0.6, "V": 0.4}  # second character: network prefers a digit
    spec[7] = spec[8] = {"B": 0.55, "0": 0.45}  # third character: network prefers a letter
    lp = frames(spec)
    greedy = "".join(ALPHABET[i - 1] for i in torch.unique_consecutive(lp.argmax(1)).tolist() if i)
    assert greedy == "G7B73KP"
    (out,) = decode_batch(lp[None], bank(["FR", "ZZ"]))
    assert out.text == "GV073KP"
    assert out.char_confidences[1] < 0.5 < out.char_confidences[0]


def test_double_letters_need_a_blank_between_them():
    (sep,) = decode_batch(frames(spelled("AA111AB"))[None], bank(["FR", "ZZ"]))
    assert sep.text == "AA111AB"
    # the same frames with no blank between the two As collapse to one A: the decoder must not
    # read a second A there, even though the SIV format wants seven characters
    spec = ["-", "A", "A", "A", "A", "-"] + spelled("111AB")[1:]
    (merged,) = decode_batch(frames(spec)[None], bank(["FR", "ZZ"]))
    assert merged.text == "A111AB" and merged.format.country == "ZZ"


def test_plate_of_no_known_format_falls_back_to_generic():
    (out,) = decode_batch(frames(spelled("8XYZ4Q7"))[None], bank(["FR", "ZZ"]))
    assert out.text == "8XYZ4Q7" and out.format.country == "ZZ"


def test_rule_breaking_best_template_falls_back_to_next():
    # "SS" can never start a SIV plate; the scores say SS-123-AB, the grammar must not return it as SIV
    (out,) = decode_batch(frames(spelled("SS123AB"))[None], bank(["FR", "ZZ"]))
    assert out.format is None or out.format.accepts(out.text)
    assert not (out.format and out.format.name == "SIV" and out.text.startswith("SS"))


def test_batch_equals_one_by_one_and_scores_shape():
    texts = ["GV073KP", "AB123CD", "1234AB2A"]
    batch = padded([frames(spelled(t)) for t in texts])
    b = bank()
    assert [o.text for o in decode_batch(batch, b)] == texts
    assert [decode_batch(batch[i:i + 1], b)[0].text for i in range(3)] == texts
    assert template_scores(batch, b).shape == (3, len(b.formats))
    assert decode_batch(batch[:0], b) == []


def test_bounded_search_finds_the_same_winner_as_the_full_search():
    """Branch and bound must change the cost, never the reading: same best template, same total."""
    b = bank()
    g = torch.Generator().manual_seed(3)
    noisy = (torch.randn(5, 48, 1 + len(ALPHABET), generator=g) * 3).log_softmax(-1)
    clean = padded([frames(spelled(t)) for t in ("GV073KP", "1234AB62", "B4821TX", "KR7Z", "WW123AB")])
    for lp in (noisy, clean[:, :48] if clean.shape[1] >= 48 else clean):
        full = template_scores(lp, b) + b.log_prior
        bounded = bounded_template_scores(lp, b)
        assert torch.equal(full.argmax(dim=1), bounded.argmax(dim=1))
        assert torch.allclose(full.max(dim=1).values, bounded.max(dim=1).values)
        scored = bounded > NEG / 2
        assert torch.allclose(bounded[scored], full[scored])


@pytest.mark.parametrize("compiled", [False, True])
def test_the_longest_relaxed_template_scores_every_shorter_one(compiled: bool):
    """A state at position j depends only on positions up to j: one pass of the longest relaxed
    template gives each length's relaxed score (the bounded search's first pass), bit for bit."""
    b = bank(["FR", "DE", "ZZ"])
    lp = (torch.randn(3, 50, 1 + len(ALPHABET), generator=torch.Generator().manual_seed(4)) * 3).log_softmax(-1)
    lengths = b.relaxed.any(dim=2).sum(dim=1)
    assert len(lengths) >= 3 and int(lengths[-1]) == b.relaxed.shape[1]
    once = _prefix_scores(lp, b.relaxed[-1:], compiled)[:, 0, lengths]
    assert torch.equal(once, _viterbi(lp, b.relaxed, lengths, compiled))


def test_bounded_search_skips_most_templates_of_a_clear_french_plate():
    b = bank()
    bounded = bounded_template_scores(frames(spelled("GV073KP"))[None], b)
    assert int((bounded > NEG / 2).sum()) < len(b.formats) // 4


@pytest.mark.parametrize("compiled", [False, True])
def test_score_only_viterbi_agrees_with_the_backtracking_one(compiled: bool):
    """Two implementations of one recursion: the fast score-only pass and the one keeping back-pointers."""
    b = bank(["FR", "DE", "ZZ"])
    g = torch.Generator().manual_seed(8)
    lp = (torch.randn(4, 40, 1 + len(ALPHABET), generator=g) * 2).log_softmax(-1)
    full = template_scores(lp, b)
    for m in (0, 5, len(b.formats) - 1):
        _, _, _, scores = decode_with_templates(lp, b, torch.full((4,), m), compiled)
        assert torch.allclose(scores, full[:, m], atol=1e-3)


def test_a_letter_the_format_forces_is_not_counted_as_doubtful():
    spec = spelled("EQ725QJ")
    spec[4] = spec[5] = {"0": 0.85, "Q": 0.15}  # the network sees a 0 where SIV allows only a letter
    (out,) = decode_batch(frames(spec)[None], bank(["FR"]))
    assert out.text == "EQ725QJ"
    assert out.char_confidences[1] < 0.2  # the raw posterior of Q
    assert out.choice_confidences[1] > 0.95  # Q against the other letters
    assert out.confidence > 0.7
    # a digit where SIV needs a digit keeps a doubt the grammar cannot resolve
    spec = spelled("EQ725QJ")
    spec[7] = spec[8] = {"7": 0.55, "1": 0.45}
    (out,) = decode_batch(frames(spec)[None], bank(["FR"]))
    assert out.choice_confidences[2] < 0.6


def test_joined_lines_drop_each_lines_padding_and_decode_as_the_plain_concatenation():
    top, bottom = frames(spelled("AB")), frames(spelled("123CD"))
    t_len = bottom.shape[0] + 6  # both lines padded to the batch's width with certain blanks, as the network's output is
    lines = pad_frames(torch.stack([torch.cat([lp, blank_frames(1, bottom.shape[0] - lp.shape[0], 37)[0]])
                                    for lp in (top, bottom)]), t_len)
    joined = join_lines(lines[:1], torch.tensor([top.shape[0]]), lines[1:], torch.tensor([bottom.shape[0]]))
    assert joined.shape[1] == top.shape[0] + 1 + bottom.shape[0]
    plain = torch.cat([lines[0], lines[1]])[None]  # the lines end to end with all their padding
    b = bank(["FR", "ZZ"])
    (a,), (c,) = decode_batch(joined, b), decode_batch(plain, b)
    assert a.text == c.text == "AB123CD" and a.format.name == "SIV"
    assert abs(a.total_score - c.total_score) < 1e-3
    assert torch.equal(pad_frames(joined, joined.shape[1] + 3)[:, : joined.shape[1]], joined)


def test_joined_lines_keep_a_character_repeated_across_the_line_break():
    top, bottom = frames(["-", "A", "B", "C"]), frames(["C", "1", "-"])  # top ends on C, bottom starts on C
    joined = join_lines(top[None], torch.tensor([4]), bottom[None], torch.tensor([3]))
    labels = torch.unique_consecutive(joined[0].argmax(1)).tolist()
    assert "".join(ALPHABET[i - 1] for i in labels if i) == "ABCC1"


def test_joined_lines_of_no_plate_is_empty():
    empty = torch.zeros((0, 5, 37))
    assert join_lines(empty, torch.zeros(0, dtype=torch.long), empty, torch.zeros(0, dtype=torch.long)).shape[0] == 0


@pytest.mark.parametrize("compiled", [False, True])
def test_backtracked_strings_are_the_alignments_scored(compiled: bool):
    """The host-side walk back must land on a string of the template whose score is the template's Viterbi score."""
    b = bank(["FR", "DE", "ZZ"])
    g = torch.Generator().manual_seed(3)
    lp = (torch.randn(6, 50, 1 + len(ALPHABET), generator=g) * 3).log_softmax(-1)
    m = torch.tensor([0, 1, 2, 3, 4, len(b.formats) - 1])
    labels, confs, choice, scores = decode_with_templates(lp, b, m, compiled)
    for i in range(6):
        chars = [int(j) for j in labels[i] if j >= 0]
        assert len(chars) == int(b.lengths[m[i]])
        assert all(b.allowed[m[i], pos, j] for pos, j in enumerate(chars))
        alone = torch.zeros(1, len(chars), len(ALPHABET), dtype=torch.bool)  # a template of that one string
        alone[0, torch.arange(len(chars)), torch.tensor(chars)] = True
        assert abs(float(_viterbi(lp[i:i + 1], alone, torch.tensor([len(chars)]))[0, 0]) - float(scores[i])) < 1e-3
        assert all(0 < c <= 1 for c in confs[i][: len(chars)]) and all(0 < c <= 1 + 1e-6 for c in choice[i][: len(chars)])


@pytest.mark.parametrize("compiled", [False, True])
def test_no_frames_read_nothing(compiled: bool):
    labels, confs, choice, scores = decode_with_templates(torch.zeros(2, 0, 1 + len(ALPHABET)), bank(["FR"]),
                                                          torch.zeros(2, dtype=torch.long), compiled)
    assert (labels == -1).all() and labels.shape == confs.shape == choice.shape and scores.shape == (2,)


def test_a_clear_letter_french_siv_excludes_reads_slovak_and_a_doubtful_one_stays_french():
    """French SIV has no I, O or U.  A Slovak RK-857AI whose I the network is sure of must not be
    forced into the French RK-857-AT by the prior; a French CQ-159-PK whose Q looks a little like
    an O must not turn Slovak."""
    slovak = spelled("RK857A") + [{"I": 0.995, "T": 0.005}, "-"]
    french = spelled("C") + [{"O": 0.6, "Q": 0.4}, "-"] + spelled("159PK")[1:]
    out = decode_batch(padded([frames(slovak), frames(french)]), bank())
    assert [(o.text, o.format.country) for o in out] == [("RK857AI", "SK"), ("CQ159PK", "FR")]


def sparse(text: str, gap: int, floor: float = 1e-6) -> torch.Tensor:
    """A plate as a network outputs it: each character on two frames, runs of ``gap`` near-certain blanks
    around them, and one doubtful frame (O/Q) to give the grammar something to decide."""
    spec: list = ["-"] * gap
    for k, ch in enumerate(text):
        spec += ([{ch: 0.7, "0": 0.3}] if k == 1 else [ch]) * 2 + ["-"] * gap
    return frames(spec, floor)


def test_runs_of_sure_blanks_are_cut_to_their_first_frame():
    lp = pad_frames(sparse("AA1", 5)[None], 1)
    lp = torch.cat([lp, pad_frames(sparse("B", 3)[None], lp.shape[1])])  # padded with certain blanks, as in a batch
    out, left_out = compact_blank_runs(lp)
    # plate 1: 4 blank runs kept as one frame each + 6 character frames; plate 2: 2 runs + 2 frames, then padding
    assert out.shape == (2, 10, lp.shape[2])
    labels = [torch.unique_consecutive(row.argmax(1)).tolist() for row in out]
    assert labels[0] == [0, 11, 0, 11, 0, 2, 0]  # A - A: the doubled letter keeps its blank between
    assert labels[1] == [0, 12, 0]
    assert torch.equal(out[1, 5:], blank_frames(1, 5, lp.shape[2])[0])
    kept = [4 + 6, 2 + 2]
    for i in range(2):
        blanks = lp[i, :, 0].sum() - out[i, : kept[i], 0].sum()
        assert abs(float(left_out[i] - blanks)) < 1e-4


def test_leaving_out_sure_blank_runs_changes_no_read_and_no_score():
    b = bank()
    plates = [sparse("GV073KP", 6), sparse("9343ZH68", 4), sparse("AA111AB", 9), sparse("RK857AI", 3)]
    lp = torch.cat([pad_frames(p[None], max(p.shape[0] for p in plates)) for p in plates])
    cut, whole = decode_batch(lp, b), decode_batch(lp, b, sure_blank=None)
    assert [d.text for d in cut] == [d.text for d in whole] == ["GV073KP", "9343ZH68", "AA111AB", "RK857AI"]
    for a, c in zip(cut, whole):
        assert a.format == c.format
        assert a.char_confidences == c.char_confidences and a.choice_confidences == c.choice_confidences
        assert abs(a.total_score - c.total_score) < 1e-3


def test_a_plate_of_no_sure_blank_is_decoded_as_it_is():
    lp = frames(spelled("GV073KP"))[None]  # floor 1e-4: blanks at 0.996, under the threshold
    out, left_out = compact_blank_runs(lp)
    assert out is lp and float(left_out[0]) == 0.0


def varied_plates() -> list[torch.Tensor]:
    """Score matrices of every kind the decode meets: clean and doubtful plates, sparse ones with
    runs of sure blanks, pure noise (what a box on a grille gives), padded into batches."""
    g = torch.Generator().manual_seed(11)
    noisy = (torch.randn(7, 45, 1 + len(ALPHABET), generator=g) * 3).log_softmax(-1)
    clean = padded([frames(spelled(t)) for t in ("GV073KP", "1234AB62", "B4821TX", "KR7Z", "WW123AB", "AA111AB")])
    doubtful = spelled("EQ725QJ")
    doubtful[4] = doubtful[5] = {"0": 0.85, "Q": 0.15}
    doubtful[10] = {"7": 0.5, "T": 0.5}
    mixed = padded([frames(doubtful), frames(spelled("9343ZH68")), sparse("AB123CD", 4), frames(["-", "-"])])
    peaky = (torch.randn(5, 30, 1 + len(ALPHABET), generator=g) * 9).log_softmax(-1)  # near-certain frames, ties of NEG
    return [noisy, clean, mixed, peaky, mixed[:1]]


@pytest.mark.parametrize("countries", [None, ["FR", "DE", "ZZ"]])
def test_compiled_decode_gives_the_tensor_decodes_numbers(countries: list[str] | None):
    """The compiled frame loops (the CPU's) are the tensor loops' twin: the same totals for every
    template scored, the same strings, confidences and scores, bit for bit."""
    b = bank(countries)
    for lp in varied_plates():
        assert torch.equal(_prefix_scores(lp, b.allowed, True), _prefix_scores(lp, b.allowed, False))
        assert torch.equal(bounded_template_scores(lp, b, compiled=True), bounded_template_scores(lp, b, compiled=False))
        m = torch.arange(lp.shape[0]) * 7 % len(b.formats)
        for got, want in zip(decode_with_templates(lp, b, m, True), decode_with_templates(lp, b, m, False)):
            assert np.array_equal(np.asarray(got), np.asarray(want))
        assert decode_batch(lp, b, compiled=True) == decode_batch(lp, b, compiled=False)


def test_the_decode_runs_compiled_for_float32_on_a_cpu_only():
    lp = frames(spelled("GV073KP"))[None]
    assert runs_compiled(lp)
    assert not runs_compiled(lp.to(torch.bfloat16)) and not runs_compiled(lp.double())


def test_without_numba_the_cpu_decodes_as_tensor_steps_and_says_so():
    """numba is an accelerator: where it cannot be imported the CPU reads the same, slower, and the
    log says why (a process of its own, since the import is attempted once per process)."""
    script = """
import logging, sys
sys.modules["numba"] = None  # what an environment without numba gives: ImportError on import
logging.basicConfig(level=logging.WARNING)
import torch
from lapi import grammars
from lapi.reading.ctc import TemplateBank, decode_batch, runs_compiled
bank = TemplateBank.build(grammars.formats_for(["FR", "ZZ"]), "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", {"FR": 0.9, "ZZ": 0.1})
lp = (torch.randn(3, 40, 37, generator=torch.Generator().manual_seed(5)) * 3).log_softmax(-1)
assert not runs_compiled(lp)
assert decode_batch(lp, bank) == decode_batch(lp, bank, compiled=False)
print("decoded")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "decoded"
    assert "numba unavailable" in done.stderr and "tensor steps" in done.stderr
