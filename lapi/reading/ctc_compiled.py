"""The grammar decode's frame loops compiled for a CPU (numba): the twins of :mod:`lapi.reading.ctc`'s tensor loops.

Why: on a CPU the tensor version costs its number of tensor operations, about a dozen a frame, each
some microseconds of dispatch for a few thousand numbers, and that was a quarter of a photo's
reading time.  Compiled, a frame of one plate against one template is a few hundred additions and
comparisons.  The arithmetic is the tensor version's, in float32 and in the same order, ties broken
the same way (the first maximum), so both give the same scores and strings: the tests compare them.

States, as in :mod:`lapi.reading.ctc`: ``blank[k]`` (a blank after the k-th character, or before
the first), ``emit[k, c]`` (character ``c`` as the k-th character; slot 0 never holds one).  An
impossible state holds exactly ``NEG``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NEG = np.float32(-1.0e9)  # lapi.reading.ctc.NEG


def _compiled(function):
    """``function`` compiled for the CPU, the machine code cached on disk next to this module (or in
    the user's cache) so that a new process loads it in under a second rather than compiling it
    for ~9 s; where neither place is writable (a read-only install), compiled per process."""
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba found no writable place for its cache
        return njit(nogil=True)(function)


@_compiled
def _allowed_lists(allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """One template's allowed characters as lists: (L, C) indices, (L,) counts, and its span (the
    positions that allow any character; past them every state is impossible)."""
    length, c_len = allowed.shape
    chars = np.zeros((length, c_len), np.int64)
    counts = np.zeros(length, np.int64)
    span = 0
    for j in range(length):
        for c in range(c_len):
            if allowed[j, c]:
                chars[j, counts[j]] = c
                counts[j] += 1
        if counts[j]:
            span = j + 1
    return chars, counts, span


@_compiled
def _advance(blank: np.ndarray, emit: np.ndarray, best_v: np.ndarray, best_i: np.ndarray, second_v: np.ndarray,
             second_i: np.ndarray, lp: np.ndarray, chars: np.ndarray, counts: np.ndarray, span: int,
             src: np.ndarray, prev_i: np.ndarray, blank_src: np.ndarray, pointers: bool) -> None:
    """One frame of one plate within one template, in place; with ``pointers``, the frame's
    back-pointers into ``src`` (L, C: 0 stayed, 1 after a blank, 2 after another character),
    ``prev_i`` (L, C: that other character) and ``blank_src`` (L+1: the blank entered from the
    character before it).

    Only the template's allowed characters are visited: the others hold ``NEG`` for good, so the
    first maximum over them is the first maximum over all (where any state is possible).
    """
    best_v[0], best_i[0], second_v[0], second_i[0] = NEG, 0, NEG, 0  # slot 0 never holds a character
    for k in range(1, span + 1):  # best and second-best character of every slot, before this frame
        row, n_chars = chars[k - 1], counts[k - 1]
        i1 = row[0]
        v1 = emit[k, i1]
        for q in range(1, n_chars):
            if emit[k, row[q]] > v1:
                v1, i1 = emit[k, row[q]], row[q]
        v2, i2 = NEG, 0
        for q in range(n_chars):
            c = row[q]
            if c != i1 and emit[k, c] > v2:
                v2, i2 = emit[k, c], c
        best_v[k], best_i[k], second_v[k], second_i[k] = v1, i1, v2, i2
    lp_chars = lp[1:]
    for j in range(span):  # position j is slot j + 1; its predecessor is slot j
        from_blank = blank[j]
        row, n_chars = chars[j], counts[j]
        for q in range(n_chars):
            c = row[q]
            top, origin = emit[j + 1, c], 0
            if from_blank > top:
                top, origin = from_blank, 1
            if best_i[j] != c:
                prev, prev_c = best_v[j], best_i[j]
            else:
                prev, prev_c = second_v[j], second_i[j]
            if prev > top:
                top, origin = prev, 2
            if pointers:
                src[j, c] = origin
                prev_i[j, c] = prev_c
            value = top + lp_chars[c]
            emit[j + 1, c] = value if value > NEG else NEG
    lp_blank = lp[0]
    for k in range(span + 1):
        closed = best_v[k]
        if pointers:
            blank_src[k] = closed > blank[k]
        top = closed if closed > blank[k] else blank[k]
        value = top + lp_blank
        blank[k] = value if value > NEG else NEG


@_compiled
def prefix_scores(log_probs: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(N, M, L+1): ``[n, m, k]`` is the best score of an alignment of all of plate n's frames
    (``log_probs`` (N, T, 1 + C), blank first) whose string fills the first k positions of template
    m (``allowed`` (M, L, C)); k = 0: every frame blank.  Slicing it at a template's length gives
    that template's score, and a template allowing every character scores every shorter length."""
    n, t_len, _ = log_probs.shape
    m, length, c_len = allowed.shape
    out = np.empty((n, m, length + 1), np.float32)
    blank = np.empty(length + 1, np.float32)
    emit = np.empty((length + 1, c_len), np.float32)
    best_v, second_v = np.empty(length + 1, np.float32), np.empty(length + 1, np.float32)
    best_i, second_i = np.empty(length + 1, np.int64), np.empty(length + 1, np.int64)
    src = np.empty((1, 1), np.uint8)
    prev_i = np.empty((1, 1), np.uint8)
    blank_src = np.empty(1, np.bool_)
    for j in range(m):
        chars, counts, span = _allowed_lists(allowed[j])
        for i in range(n):
            blank[:] = NEG
            blank[0] = 0.0
            emit[:, :] = NEG
            for t in range(t_len):
                _advance(blank, emit, best_v, best_i, second_v, second_i, log_probs[i, t], chars, counts, span,
                         src, prev_i, blank_src, False)
            out[i, j, :] = NEG
            out[i, j, 0] = blank[0]
            for k in range(1, span + 1):
                top = NEG
                for q in range(counts[k - 1]):
                    if emit[k, chars[k - 1, q]] > top:
                        top = emit[k, chars[k - 1, q]]
                out[i, j, k] = top if top > blank[k] else blank[k]
    return out


@_compiled
def best_paths(log_probs: np.ndarray, allowed: np.ndarray, lengths: np.ndarray, char_probs: np.ndarray,
               among: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each plate's best alignment within its own template, walked back from its last frame.

    ``log_probs`` (N, T, 1 + C); ``allowed`` (N, L, C) and ``lengths`` (N,): plate i's template;
    ``char_probs`` (N, T, C) the characters' posteriors and ``among`` (N, T, L) each frame's mass on
    the characters allowed at each position (computed by the caller, so that they are the tensor
    version's numbers).  Returns labels (N, L) (-1 past the template's length), per-character
    confidences (the highest posterior among the frames emitting it), the same characters'
    posteriors among the allowed characters, and scores (N,).
    """
    n, t_len, _ = log_probs.shape
    length, c_len = allowed.shape[1], allowed.shape[2]
    labels = np.full((n, length), -1, np.int64)
    confs = np.zeros((n, length), np.float32)
    choice = np.zeros((n, length), np.float32)
    scores = np.empty(n, np.float32)
    blank = np.empty(length + 1, np.float32)
    emit = np.empty((length + 1, c_len), np.float32)
    best_v, second_v = np.empty(length + 1, np.float32), np.empty(length + 1, np.float32)
    best_i, second_i = np.empty(length + 1, np.int64), np.empty(length + 1, np.int64)
    src = np.empty((t_len, length, c_len), np.uint8)
    prev_i = np.empty((t_len, length, c_len), np.uint8)
    blank_src = np.empty((t_len, length + 1), np.bool_)
    best_at = np.empty((t_len, length + 1), np.int64)
    for i in range(n):
        chars, counts, span = _allowed_lists(allowed[i])
        blank[:] = NEG
        blank[0] = 0.0
        emit[:, :] = NEG
        best_v[:] = NEG
        best_i[:] = 0
        for t in range(t_len):
            _advance(blank, emit, best_v, best_i, second_v, second_i, log_probs[i, t], chars, counts, span,
                     src[t], prev_i[t], blank_src[t], True)
            best_at[t] = best_i
        size = lengths[i]
        last_char, last_emit = 0, emit[size, 0]
        for c in range(1, c_len):
            if emit[size, c] > last_emit:
                last_char, last_emit = c, emit[size, c]
        in_emit = last_emit > blank[size]
        scores[i] = last_emit if in_emit else blank[size]
        if t_len == 0:
            continue
        k = size - 1 if in_emit else size
        ch = last_char
        for t in range(t_len - 1, -1, -1):
            pos = min(max(k, 0), length - 1)
            if in_emit:
                labels[i, pos] = ch
                p = char_probs[i, t, ch]
                if p > confs[i, pos]:
                    confs[i, pos] = p
                    choice[i, pos] = p / among[i, t, pos]
                origin = src[t, pos, ch]
                if origin == 2:
                    k -= 1
                    ch = np.int64(prev_i[t, pos, ch])
                in_emit = origin != 1
            else:
                if blank_src[t, min(max(k, 0), length)]:
                    ch = best_at[t, min(max(k - 1, 0), length - 1) + 1]
                    k -= 1
                    in_emit = True
    return labels, confs, choice, scores
