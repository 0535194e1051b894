"""Candidate strings of a read: what else the plate may say, with a score, for searches that
tolerate the recogniser's doubts.

The recogniser gives each character of its reading a confidence (``PlateRead.char_confidences``).
A doubtful character is most likely one of its OCR lookalikes (:data:`lapi.matching.LOOKALIKE_COSTS`:
8 for B, 0 for O...).  So each position is a small distribution: the character read with its
confidence, the rest shared among its lookalikes by closeness (1 - substitution cost).  A
candidate's score is the product over positions, the read's own string included; the top ``k``
others are kept (one or two substitutions: three doubtful characters at once score too low to
matter).  Pure code; :func:`store_candidates` writes them into the reads' rows.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lapi.matching import LOOKALIKE_COSTS

if TYPE_CHECKING:
    from lapi.store.db import Store, StoredRead

log = logging.getLogger(__name__)

TOP_K = 5
MIN_SCORE = 0.001   # candidates less likely than this are not worth keeping
MAX_SUBSTITUTIONS = 2


def _lookalikes() -> dict[str, tuple[tuple[str, float], ...]]:
    """Per character, its lookalikes with their share of the doubt (closeness normalised to 1)."""
    close: dict[str, list[tuple[str, float]]] = {}
    for (a, b), cost in LOOKALIKE_COSTS.items():
        close.setdefault(a, []).append((b, 1.0 - cost))
        close.setdefault(b, []).append((a, 1.0 - cost))
    return {c: tuple((o, w / sum(w for _, w in others)) for o, w in sorted(others)) for c, others in close.items()}


LOOKALIKES = _lookalikes()


def read_candidates(plate_norm: str, char_confidences: Sequence[float], confidence: float = 0.9,
                    k: int = TOP_K) -> list[tuple[str, float]]:
    """The ``k`` likeliest other strings for a read, best first, with scores in (0, 1].

    ``char_confidences`` must align with ``plate_norm``; otherwise (or when empty) every character
    gets the read's overall ``confidence``.
    """
    if not plate_norm:
        return []
    confs = list(char_confidences) if len(char_confidences) == len(plate_norm) else [confidence] * len(plate_norm)
    confs = [min(max(float(c), 0.0), 1.0) for c in confs]
    options = []  # (position, replacement, factor replacing the position's own confidence)
    for i, (ch, c) in enumerate(zip(plate_norm, confs)):
        for other, share in LOOKALIKES.get(ch, ()):
            options.append((i, other, (1.0 - c) * share))
    found: list[tuple[str, float]] = []
    for n in range(1, MAX_SUBSTITUTIONS + 1):
        for combo in itertools.combinations(options, n):
            if len({pos for pos, *_ in combo}) < n:
                continue  # two replacements of one position
            chars = list(plate_norm)
            for pos, other, _ in combo:
                chars[pos] = other
            score = _product(confs, combo)
            if score >= MIN_SCORE:
                found.append(("".join(chars), round(score, 4)))
    found.sort(key=lambda c: (-c[1], c[0]))
    return found[:k]


def _product(confs: Sequence[float], combo: Sequence[tuple[int, str, float]]) -> float:
    """Product over positions: the replacement's share where one is made, else the read's confidence."""
    replaced = {pos: p for pos, _, p in combo}
    score = 1.0
    for i, c in enumerate(confs):
        score *= replaced.get(i, c)
    return score


def candidate_rows(stored: Sequence[StoredRead]) -> list[tuple[Any, ...]]:
    """(read_at, read id, candidates, scores) of the reads that have candidates."""
    rows = []
    for s in stored:
        found = read_candidates(s.read.plate_norm, s.read.char_confidences, s.read.confidence)
        if found:
            rows.append((s.read_at, s.id, [c for c, _ in found], [score for _, score in found]))
    return rows


async def store_candidates(store: Store, stored: Sequence[StoredRead]) -> None:
    """Write the reads' candidates into their rows, after the frame is committed.  A failure is
    logged, not raised: the frame is stored and acknowledged, it only lacks its candidates."""
    rows = candidate_rows(stored)
    if not rows:
        return
    try:
        async with store.pool.connection() as conn:
            async with conn.cursor() as cur:
                await cur.executemany("UPDATE plate_reads SET candidates = %s, candidate_scores = %s"
                                      " WHERE read_at = %s AND id = %s",
                                      [(c, sc, at, i) for at, i, c, sc in rows])
    except Exception:  # noqa: BLE001 - see docstring
        log.exception("candidate strings of %d reads not stored", len(rows))
