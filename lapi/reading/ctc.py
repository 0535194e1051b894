"""Grammar-constrained CTC decoding, batched as tensor operations.

Greedy CTC decoding takes the arg-max class at every time step; on plates it happily reads "0" for
"O" where the format only allows a letter, or drops a character.  Here each plate format is a
fixed-length template of allowed characters per position (:mod:`lapi.grammars`), and for every
template we find the single best CTC alignment (Viterbi) whose collapsed string fits it.  The
template scores, plus a log prior per format, say which registration the network's scores support
best.

Everything runs on whole batches: ``(plates, templates, positions, characters)`` tensors advanced
one time step at a time, so the same code serves one plate on a CPU or a thousand on a GPU.  There
is no per-plate Python in the loop.  On a CPU the frame loops run compiled instead
(:mod:`lapi.reading.ctc_compiled`, the same arithmetic): there a tensor step's cost is its dispatch.

States of the alignment after ``k`` characters: ``blank[k]`` (a blank frame after the k-th
character, or before the first) and ``emit[k-1, c]`` (frames emitting character ``c`` as the k-th
character).  A character may follow the same character only through a blank, as CTC collapse
requires; the best and second-best previous character make that rule a tensor operation.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch

from lapi.grammars import PlateFormat

log = logging.getLogger(__name__)

NEG = -1.0e9  # log-probability of an impossible state (finite, so sums stay comparable)
# A frame whose blank is at least this probable, following another such frame, is left out of the
# decode (see compact_blank_runs): ~40 % fewer decode steps on fr_dev photos, the same reads
SURE_BLANK = 0.999
CLAMP_EVERY = 16  # frames between two clamps of impossible scores to NEG (sums of NEG stay far from float overflow)


@dataclass(frozen=True)
class TemplateBank:
    """The formats a deployment accepts, compiled to tensors for one plate alphabet."""

    formats: tuple[PlateFormat, ...]
    alphabet: str
    allowed: torch.Tensor  # (templates, max_len, chars) bool: character c allowed at position j
    lengths: torch.Tensor  # (templates,) long
    log_prior: torch.Tensor  # (templates,) float
    relaxed: torch.Tensor  # (lengths, max_len, chars) bool: every character allowed, one template per length (ascending)
    relaxed_index: torch.Tensor  # (templates,) long: the relaxed template of each template's length

    @classmethod
    def build(cls, formats: Sequence[PlateFormat], alphabet: str,
              country_weights: Mapping[str, float] | None = None) -> "TemplateBank":
        """Compile ``formats``; a template's prior is its format prior within its country times the country's weight.

        ``country_weights`` expresses where the cameras stand (mostly French plates on French roads);
        countries missing from it get the smallest weight given, or 1 when none is given.
        """
        if not formats:
            raise ValueError("at least one plate format is needed")
        max_len = max(len(f.slots) for f in formats)
        allowed = torch.zeros(len(formats), max_len, len(alphabet), dtype=torch.bool)
        for m, fmt in enumerate(formats):
            for j, chars in enumerate(fmt.slots):
                for ch in chars:
                    if ch not in alphabet:
                        raise ValueError(f"format {fmt.country}/{fmt.name}: character {ch!r} not in the alphabet")
                    allowed[m, j, alphabet.index(ch)] = True
        weights = dict(country_weights or {})
        floor = min(weights.values()) if weights else 1.0
        per_country: dict[str, float] = {}
        for fmt in formats:
            per_country[fmt.country] = per_country.get(fmt.country, 0.0) + fmt.prior
        log_prior = torch.tensor([
            math.log(fmt.prior / per_country[fmt.country]) + math.log(weights.get(fmt.country, floor))
            for fmt in formats
        ])
        lengths = torch.tensor([len(f.slots) for f in formats])
        distinct = sorted({len(f.slots) for f in formats})
        relaxed = torch.zeros(len(distinct), max_len, len(alphabet), dtype=torch.bool)
        for r, n in enumerate(distinct):
            relaxed[r, :n] = True
        relaxed_index = torch.tensor([distinct.index(len(f.slots)) for f in formats])
        return cls(tuple(formats), alphabet, allowed, lengths, log_prior, relaxed, relaxed_index)

    def to(self, device: torch.device | str) -> "TemplateBank":
        return TemplateBank(self.formats, self.alphabet, self.allowed.to(device), self.lengths.to(device),
                            self.log_prior.to(device), self.relaxed.to(device), self.relaxed_index.to(device))


@dataclass(frozen=True)
class Decoded:
    """The best reading of one plate under the grammar."""

    text: str
    format: PlateFormat | None
    char_confidences: tuple[float, ...]
    # geometric mean over characters of sqrt(posterior x posterior among the allowed characters): a
    # letter the format forces (Q where the network also saw 0) is not held against the plate as a
    # doubtful one; on fr_dev this keeps 2 more correct reads at the same number of false ones
    confidence: float
    log_score: float  # Viterbi log-probability of the alignment (without the prior)
    log_prior: float = 0.0  # log prior of the format (country weight x format share)
    # per character: its posterior among the characters the format allows there (how sure the network
    # is of *which* letter, once the grammar has said "a letter"); the raw posterior penalises a Q
    # that the network also found 0-like, though the format rules 0 out
    choice_confidences: tuple[float, ...] = ()

    @property
    def total_score(self) -> float:
        """What formats compete on: alignment log-probability plus format log prior."""
        return self.log_score + self.log_prior


def _step(blank: torch.Tensor, emit: torch.Tensor, lp_blank: torch.Tensor, lp_chars: torch.Tensor,
          char_mask: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Advance every alignment by one frame: the new blank states and the back-pointers of this
    frame; the character states are updated in place.

    Shapes: ``blank`` (N, M, L+1), ``emit`` (N, M, L+1, C) whose slot 0 (before the first
    character) never holds one, ``lp_blank`` (N,), ``lp_chars`` (N, C), ``char_mask`` (M, L, C) or
    (N, M, L, C) with 0 where allowed and NEG elsewhere.  Impossible states are left to the caller
    to clamp (see ``CLAMP_EVERY``).
    """
    length = emit.shape[2] - 1
    body = emit[:, :, 1:]
    best_v, best_i = emit.max(dim=-1)  # (N, M, L+1); slot 0 stays NEG
    # entering position j from a different character at position j-1 (slot j): the best previous
    # character, or the second best where that is the same character
    prev_v, prev_i = _best_other(emit[:, :, :-1], best_v[:, :, :-1], best_i[:, :, :-1])
    from_blank = blank[:, :, :length, None].expand_as(body)
    best_src, src = torch.stack([body, from_blank, prev_v]).max(dim=0)  # 0 stay, 1 after a blank, 2 after another char
    torch.add(best_src.add_(lp_chars[:, None, None, :]), char_mask, out=body)
    blank_src = best_v > blank  # the blank after character k entered from it (best_v[k]: the k-th character)
    new_blank = torch.maximum(blank, best_v).add_(lp_blank[:, None, None])
    return new_blank, (src.to(torch.uint8), prev_i.to(torch.uint8), blank_src, best_i[:, :, 1:].to(torch.uint8))


def _best_other(emit: torch.Tensor, best_v: torch.Tensor, best_i: torch.Tensor,
                with_index: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """For every character c, the best score (and its character) among the *other* characters of ``emit``'s last axis.

    That is the best character where it is not c, else the second best.  Written as one scatter of
    the second best over a copy of the best, not a top-2 and a comparison with every character:
    the same numbers for ~40 % less of the decode's time on a CPU.
    """
    at_best = best_i[..., None]
    second_v, second_i = emit.scatter(-1, at_best, NEG).max(dim=-1, keepdim=True)
    shape = emit.shape
    values = best_v[..., None].expand(shape).clone().scatter_(-1, at_best, second_v)
    if not with_index:
        return values, None
    return values, best_i[..., None].expand(shape).clone().scatter_(-1, at_best, second_i)


def _initial(n: int, m: int, length: int, c: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Blank states (N, M, L+1) and character states (N, M, L+1, C) before the first frame; the
    character states carry a leading slot that never holds a character, so that position j's
    predecessor and the blank after character j are plain slices, not assembled each frame."""
    blank = like.new_full((n, m, length + 1), NEG)
    blank[:, :, 0] = 0.0
    return blank, like.new_full((n, m, length + 1, c), NEG)


def _viterbi(log_probs: torch.Tensor, allowed: torch.Tensor, lengths: torch.Tensor, compiled: bool = False) -> torch.Tensor:
    """(N, M) best alignment score of each plate within each of the templates ``allowed`` (M, L, C)
    of ``lengths`` positions."""
    scores = _prefix_scores(log_probs, allowed, compiled)
    return scores.gather(2, lengths.view(1, -1, 1).expand(scores.shape[0], -1, 1)).squeeze(2)


def _prefix_scores(log_probs: torch.Tensor, allowed: torch.Tensor, compiled: bool) -> torch.Tensor:
    """(N, M, L+1): the best score of each plate within the first k positions of each template
    ``allowed`` (M, L, C), for every k (see :func:`lapi.reading.ctc_compiled.prefix_scores`)."""
    if compiled:
        return torch.from_numpy(_kernels().prefix_scores(log_probs.contiguous().numpy(), allowed.contiguous().numpy()))
    blank, emit = _viterbi_states(log_probs, allowed)
    return torch.cat([blank[:, :, :1], torch.maximum(blank[:, :, 1:], emit.max(dim=-1).values)], dim=2)


@functools.cache
def _kernels() -> ModuleType | None:
    """:mod:`lapi.reading.ctc_compiled`, imported at its first use (a GPU deployment decodes as
    tensor steps and need not load numba); None where numba cannot be imported, logged once: the
    CPU then decodes as tensor steps too, the same reads ~8x slower."""
    try:
        from lapi.reading import ctc_compiled
    except ImportError as exc:
        log.warning("grammar decode: numba unavailable (%s); decoding as tensor steps, ~8x slower on a CPU", exc)
        return None
    return ctc_compiled


def runs_compiled(log_probs: torch.Tensor) -> bool:
    """Whether the decode of ``log_probs`` runs its frame loops compiled: float32 on a CPU, numba present."""
    return log_probs.device.type == "cpu" and log_probs.dtype == torch.float32 and _kernels() is not None


def _viterbi_states(log_probs: torch.Tensor, allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Blank (N, M, L+1) and character (N, M, L, C) states after the last frame, for the templates
    ``allowed`` (M, L, C).

    The score-only twin of the :func:`_step` loop (no back-pointers kept): on a CPU the cost is the
    number of tensor operations per frame, so this one does as few as it can, in place (impossible
    states are clamped back to NEG every ``CLAMP_EVERY`` frames, not every frame).  A state at
    position j depends only on positions up to j, so one template's states also score every
    shorter prefix of it (see :func:`bounded_template_scores`).
    """
    n, t_len, _ = log_probs.shape
    m, length, c = allowed.shape
    char_mask = torch.where(allowed, 0.0, NEG).to(log_probs.dtype)
    blank, emit = _initial(n, m, length, c, log_probs)
    body = emit[:, :, 1:]  # the L positions
    chars, blanks = log_probs[:, :, None, None, 1:], log_probs[:, :, 0, None, None]
    for t in range(t_len):
        best_v, best_i = emit.max(dim=-1)  # (N, M, L+1); slot 0 stays NEG
        # stay on a character, or enter it after a blank, or after a different previous character
        prev, _ = _best_other(emit[:, :, :-1], best_v[:, :, :-1], best_i[:, :, :-1], with_index=False)
        src = torch.maximum(body, blank[:, :, :length, None])
        torch.maximum(src, prev, out=src)
        torch.add(src.add_(chars[:, t]), char_mask, out=body)
        blank = torch.maximum(blank, best_v).add_(blanks[:, t])  # best_v[k]: the k-th character just closed
        if t % CLAMP_EVERY == CLAMP_EVERY - 1:
            body.clamp_min_(NEG)
            blank.clamp_min_(NEG)
    return blank.clamp_min_(NEG), body.clamp_min(NEG)


def template_scores(log_probs: torch.Tensor, bank: TemplateBank) -> torch.Tensor:
    """(N, M) Viterbi log-probability of the best alignment of each plate within each template.

    ``log_probs``: (N, T, 1 + len(alphabet)) with the CTC blank at index 0.
    """
    return _viterbi(log_probs, bank.allowed, bank.lengths)


def bounded_template_scores(log_probs: torch.Tensor, bank: TemplateBank, first_round: int = 8,
                            next_round: int = 12, compiled: bool = False) -> torch.Tensor:
    """Like :func:`template_scores` plus priors, but only for templates that can still win; NEG for the rest.

    Why: scoring all 122 templates of the default bank is most of the decoding time on a CPU, yet a
    clear French plate settles the question after a handful.  A template allowing every character
    at each of its L positions scores at least as well as any template of length L, so its score
    plus a template's prior bounds what that template can reach.  Pass one scores those relaxed
    templates together with the ``first_round`` most probable formats; then, for the plates not yet
    settled, the ``next_round`` templates of highest bound, and last every template whose bound
    still beats the best total found (branch and bound): the winner is exactly that of the full
    search, in at most three passes over the frames.  ``compiled``: the frame loops run compiled
    (CPU tensors only).
    """
    n = log_probs.shape[0]
    m = bank.allowed.shape[0]
    first = bank.log_prior.topk(min(first_round, m)).indices
    # the longest relaxed template (the last) runs once: its states at each shorter length are the
    # states of the relaxed template of that length, so the first pass has 1 + first_round
    # templates, not one per length (a quarter of the decode's first pass on a CPU)
    prefix = _prefix_scores(log_probs, torch.cat([bank.relaxed[-1:], bank.allowed[first]]), compiled)
    relaxed = prefix[:, 0, bank.relaxed.any(dim=2).sum(dim=1)]  # (N, R)
    upper = relaxed[:, bank.relaxed_index] + bank.log_prior  # (N, M)
    totals = log_probs.new_full((n, m), NEG)
    firsts = prefix[:, 1:].gather(2, bank.lengths[first].view(1, -1, 1).expand(n, -1, 1)).squeeze(2)
    totals[:, first] = firsts + bank.log_prior[first]
    scored = torch.zeros(m, dtype=torch.bool, device=log_probs.device)
    scored[first] = True
    for round_size in (next_round, m):  # the most promising templates first, then whatever can still win
        best = totals.max(dim=1).values
        open_bound = upper.masked_fill(scored, 2 * NEG)
        live = open_bound > best[:, None]
        rows = live.any(dim=1).nonzero().squeeze(1)  # plates not yet settled
        if not len(rows):
            break
        k = min(round_size, m)
        top = open_bound[rows].masked_fill(~live[rows], 2 * NEG).topk(k, dim=1)
        pick = torch.zeros(m, dtype=torch.bool, device=log_probs.device)
        pick[top.indices[top.values > 2 * NEG]] = True
        rest = pick.nonzero().squeeze(1)
        rest_totals = _viterbi(log_probs[rows], bank.allowed[rest], bank.lengths[rest], compiled) + bank.log_prior[rest]
        totals[rows[:, None], rest[None, :]] = rest_totals
        scored |= pick
    return totals


def decode_with_templates(log_probs: torch.Tensor, bank: TemplateBank, template_index: torch.Tensor,
                          compiled: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
    """Best string of each plate ``i`` within its template ``template_index[i]``, by back-tracking.

    Returns ``labels`` (N, L) alphabet indices (-1 past the template's length), per-character
    confidences (N, L) (the highest posterior among the frames emitting it), the same characters' posteriors
    among the characters allowed at their position (N, L), all three as host arrays, and scores (N,).
    ``compiled``: the frame loops and the walk back run compiled (CPU tensors only).
    """
    n, t_len, _ = log_probs.shape
    allowed = bank.allowed[template_index]  # (N, L, C)
    lengths = bank.lengths[template_index]
    if compiled:
        char_probs, among = _posteriors(log_probs, allowed)
        labels, confs, choice, scores = _kernels().best_paths(
            log_probs.contiguous().numpy(), allowed.contiguous().numpy(), lengths.numpy(), char_probs.numpy(),
            among.numpy())
        return labels, confs, choice, torch.from_numpy(scores)
    length, c = allowed.shape[1:]
    char_mask = torch.where(allowed, 0.0, NEG).to(log_probs.dtype)[:, None]  # (N, 1, L, C): one template per plate
    blank, emit = _initial(n, 1, length, c, log_probs)
    body = emit[:, :, 1:]
    pointers = []
    for t in range(t_len):
        blank, ptr = _step(blank, emit, log_probs[:, t, 0], log_probs[:, t, 1:], char_mask)
        pointers.append(ptr)
        if t % CLAMP_EVERY == CLAMP_EVERY - 1:
            body.clamp_min_(NEG)
            blank.clamp_min_(NEG)
    emit = body.clamp_min(NEG)
    scores, ends_in_char = _final_per_plate(blank.clamp_min_(NEG), emit, lengths)
    if not pointers:  # no frames: nothing was read
        empty = np.zeros((n, length), dtype=np.float32)
        return np.full((n, length), -1, dtype=np.int64), empty, empty.copy(), scores
    rows = torch.arange(n, device=log_probs.device)
    last_char = emit[rows, 0, (lengths - 1).clamp_min(0)].argmax(dim=-1)
    char_probs, among = _posteriors(log_probs, allowed)
    src, prev_i, blank_src, best_i = (torch.stack(p)[:, :, 0].cpu().numpy() for p in zip(*pointers))
    labels, confs, choice = _backtrack(src, prev_i, blank_src, best_i, char_probs.cpu().numpy(), among.cpu().numpy(),
                                       lengths.cpu().numpy(), ends_in_char.cpu().numpy(), last_char.cpu().numpy())
    return labels, confs, choice, scores


def _posteriors(log_probs: torch.Tensor, allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The characters' posteriors (N, T, C), and each frame's probability mass on the characters
    allowed at each position of each plate's template ``allowed`` (N, L, C): (N, T, L)."""
    char_probs = log_probs[:, :, 1:].exp()
    return char_probs, (char_probs[:, :, None, :] * allowed[:, None, :, :]).sum(dim=-1).clamp_min(1e-12)


def _backtrack(src: np.ndarray, prev_i: np.ndarray, blank_src: np.ndarray, best_i: np.ndarray, char_probs: np.ndarray,
               among: np.ndarray, lengths: np.ndarray, ends_in_char: np.ndarray,
               last_char: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk every plate's best alignment back from its last frame: labels, confidences, choice confidences.

    The back-pointers come off the device once and the walk runs in NumPy, still vectorised over
    plates: it is ~25 small operations per frame, which cost torch's dispatch (~45 ms over a photo's
    ~95 frames on a CPU) far more than their arithmetic.  Shapes: ``src``/``prev_i`` (T, N, L, C),
    ``blank_src`` (T, N, L+1), ``best_i`` (T, N, L), ``char_probs`` (N, T, C), ``among`` (N, T, L).
    """
    t_len, n, length, _ = src.shape
    rows = np.arange(n)
    labels = np.full((n, length), -1, dtype=np.int64)
    confs = np.zeros((n, length), dtype=char_probs.dtype)
    choice = np.zeros_like(confs)
    # state: in_emit (bool), k = characters completed (blank) or position index (emit), ch = character
    in_emit = ends_in_char.copy()
    k = np.where(in_emit, lengths - 1, lengths)
    ch = last_char.astype(np.int64)
    for t in range(t_len - 1, -1, -1):
        # record the character of emitting states
        pos = np.clip(k, 0, length - 1)
        p = char_probs[rows, t, ch]
        labels[rows[in_emit], pos[in_emit]] = ch[in_emit]
        upd = in_emit & (p > confs[rows, pos])
        confs[rows[upd], pos[upd]] = p[upd]
        choice[rows[upd], pos[upd]] = (p / among[rows, t, pos])[upd]
        # move to the state at t-1
        e_src = src[t, rows, pos, ch]
        e_prev = prev_i[t, rows, pos, ch].astype(np.int64)
        b_src = blank_src[t, rows, np.clip(k, 0, length)]
        b_char = best_i[t, rows, np.clip(k - 1, 0, length - 1)].astype(np.int64)
        new_in_emit = np.where(in_emit, e_src != 1, b_src)
        # from emit: a previous character means one position back; from blank: k-1 characters done
        new_k = np.where(in_emit, np.where(e_src == 2, k - 1, k), np.where(b_src, k - 1, k))
        new_ch = np.where(in_emit, np.where(e_src == 2, e_prev, ch), np.where(b_src, b_char, ch))
        in_emit, k, ch = new_in_emit, new_k, new_ch
    return labels, confs, choice


def _final_per_plate(blank: torch.Tensor, emit: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per plate, with its own template (template axis of size 1): the best score of a complete
    alignment, and whether it ends in a character."""
    n = blank.shape[0]
    rows = torch.arange(n, device=blank.device)
    end_blank = blank[rows, 0, lengths]
    last_emit = emit[rows, 0, (lengths - 1).clamp_min(0)].max(dim=-1).values
    return torch.maximum(end_blank, last_emit), last_emit > end_blank


def compact_blank_runs(log_probs: torch.Tensor, sure_blank: float = SURE_BLANK) -> tuple[torch.Tensor, torch.Tensor]:
    """``log_probs`` (N, T, C) without the frames that only prolong a run of near-certain blanks,
    and, per plate, the blank log-probability of the frames left out (N,).

    Why: the decode's cost on a CPU is its number of time steps, and most frames of a plate are
    blanks between and around the characters (plus the certain blanks that pad a batch).  The
    first frame of each run of sure blanks stays, so two equal characters keep the blank between
    them; every alignment worth having stays on the blank through the rest of the run, so its
    score only loses the constant returned here (added back to ``Decoded.log_score``), and the
    characters' confidences, taken from the frames that emit them, do not change.  One cumsum and
    one scatter: no per-plate Python.
    """
    n, t_len, c = log_probs.shape
    if t_len == 0:
        return log_probs, log_probs.new_zeros(n)
    sure = log_probs[:, :, 0] > math.log(sure_blank)
    keep = ~(sure & torch.nn.functional.pad(sure[:, :-1], (1, 0)))  # the first frame of a run stays
    dropped = torch.where(keep, 0.0, log_probs[:, :, 0]).sum(dim=1)
    counts = keep.sum(dim=1)
    out_len = int(counts.max())
    if out_len == t_len:
        return log_probs, dropped
    slot = torch.where(keep, keep.cumsum(dim=1) - 1, out_len)  # left-out frames go to a spare slot
    out = log_probs.new_full((n, out_len + 1, c), NEG)
    out[:, :, 0] = 0.0  # slots after a plate's last kept frame: certain blanks, as a batch is padded
    out.scatter_(1, slot[:, :, None].expand(n, t_len, c), log_probs)
    return out[:, :out_len], dropped


def decode_batch(log_probs: torch.Tensor, bank: TemplateBank, max_fallbacks: int = 3,
                 sure_blank: float | None = SURE_BLANK, compiled: bool | None = None) -> list[Decoded]:
    """The best registration of every plate: template scores plus priors pick the format, back-tracking the string.

    A format's extra rules (excluded series, department ranges) cannot be expressed per position;
    a string that breaks them sends its plate to its next-best scored template, up to
    ``max_fallbacks`` times (templates the bounded search never scored are not candidates).
    ``sure_blank``: see :func:`compact_blank_runs` (None: every frame is decoded).  ``compiled``:
    the frame loops run compiled (None: where :func:`runs_compiled` says; False: as tensor steps).
    """
    n = log_probs.shape[0]
    if n == 0:
        return []
    compiled = runs_compiled(log_probs) if compiled is None else compiled
    bank = bank.to(log_probs.device)
    if sure_blank is None:
        left_out = [0.0] * n
    else:
        log_probs, dropped = compact_blank_runs(log_probs, sure_blank)
        left_out = dropped.tolist()
    totals = bounded_template_scores(log_probs, bank, compiled=compiled)
    ranked = totals.argsort(dim=1, descending=True)
    results: list[Decoded | None] = [None] * n
    pending = torch.arange(n, device=log_probs.device)
    for attempt in range(min(max_fallbacks + 1, ranked.shape[1])):
        if attempt:
            pending = pending[totals[pending, ranked[pending, attempt]] > NEG / 2]  # scored templates only
            if not len(pending):
                break
        template_index = ranked[pending, attempt]
        labels, confs, choice, scores = decode_with_templates(log_probs[pending], bank, template_index, compiled)
        labels, confs, choice, scores = labels.tolist(), confs.tolist(), choice.tolist(), scores.tolist()
        priors = bank.log_prior[template_index].tolist()
        still = []
        for row, plate in enumerate(pending.tolist()):
            fmt = bank.formats[int(template_index[row])]
            chars = [bank.alphabet[i] for i in labels[row] if i >= 0]
            text = "".join(chars)
            char_conf = tuple(round(c, 4) for c in confs[row][: len(chars)])
            choice_conf = tuple(round(c, 4) for c in choice[row][: len(chars)])
            confidence = _geometric_mean([math.sqrt(a * b) for a, b in zip(char_conf, choice_conf)])
            decoded = Decoded(text, fmt, char_conf, confidence, scores[row] + left_out[plate], priors[row], choice_conf)
            if fmt.accepts(text) or results[plate] is None:
                results[plate] = decoded
            if not fmt.accepts(text):
                still.append(plate)
        if not still:
            break
        pending = torch.tensor(still, device=log_probs.device)
    return [r if r is not None and r.format is not None and r.format.accepts(r.text)
            else Decoded(r.text, None, r.char_confidences, r.confidence, r.log_score, r.log_prior, r.choice_confidences)
            for r in results]


def _geometric_mean(values: Sequence[float]) -> float:
    if not values or min(values) <= 0:
        return 0.0
    return round(math.exp(sum(math.log(v) for v in values) / len(values)), 4)
