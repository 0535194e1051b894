"""Plate text normalisation: the one form under which reads, watchlists and queries are compared.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_PLATE_CHAR = re.compile(r"[^A-Z0-9]")


def normalise_plate(text: str) -> str:
    """Upper-case A-Z0-9 only: ``'ab-123 cd'`` -> ``'AB123CD'``.

    Separators, spaces and accents differ between a camera's read, a typed query and a watchlist
    import; comparing the normalised forms makes them agree.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_PLATE_CHAR.sub("", folded.upper())


MIN_PLATE_CHARS = 4  # shortest registrations read in practice (vanity plates aside)
MAX_PLATE_CHARS = 10


KEY_MIN_CHARS = 2  # a plate named by a user (a fitting, a hold, a route): the database's CHECK allows 2-10


def names_a_vehicle(text: str) -> bool:
    """Whether ``text``, once normalised, can name a vehicle in a fitting, a hold or a query: 2-10
    letters/digits (what the tables' ``plate_norm`` CHECK allows); shorter than a read may be, since
    a user may give a foreign or special plate the reader would not report."""
    return KEY_MIN_CHARS <= len(normalise_plate(text)) <= MAX_PLATE_CHARS


def is_plausible_plate(norm: str) -> bool:
    """A normalised read worth storing: 4-10 characters.

    Fragments ("K", "3Z") come from false detections or clipped crops; storing them would fill a
    regulated database with noise and could never match a watchlist entry.
    """
    return MIN_PLATE_CHARS <= len(norm) <= MAX_PLATE_CHARS


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
