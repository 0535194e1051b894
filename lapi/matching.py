"""Watchlist matching: which entries a read hits, and how.

Pure code, no I/O: the store loads entries, this decides.

Entries
    An entry's ``plate_norm`` is either a normalised plate (A-Z0-9, see
    :func:`lapi.plates.normalise_plate`) or a *wildcard pattern* over the same alphabet in which
    ``?`` stands for exactly one character and ``*`` for any run of characters, possibly empty
    (``AB1??CD``, ``*123*``).  :func:`normalise_pattern` turns typed text into that form and
    rejects what cannot be meant (see :func:`validate_pattern`).

Cost
    A read hits an entry when the *weighted edit distance* between the read and the entry (for a
    pattern: the cheapest plate the pattern stands for) is within the entry's list threshold.
    Insertion, deletion and substitution cost 1, except substitutions between OCR lookalikes
    (:data:`LOOKALIKE_COSTS`), which cost 0.2-0.7.  Costs are kept internally as integers in
    hundredths (:data:`COST_UNIT`), so sums and threshold comparisons are exact.

Match types
    ``exact`` (plain entry, cost 0), ``wildcard`` (pattern, cost 0), ``lookalike`` (cost > 0 paid
    with lookalike substitutions only), ``edit`` (the cheapest alignment needs at least one
    insertion, deletion or non-lookalike substitution; only lists whose threshold is >= 1 get these).

Thresholds
    Per list (``thresholds={"douane": 1.2}``), default :data:`DEFAULT_MAX_COST` = 0.8: below one
    full edit, because on a 1,000,000-entry list a random read lies within one arbitrary
    substitution of about one entry (a flood of false hits), while two strong lookalikes
    (``A8-I23-CD`` for ``AB-123-CD``: 0.2 + 0.2) and any single lookalike (<= 0.7) stay within it.

:func:`match_read` is the reference: it scans every entry.  :class:`WatchlistIndex` gives the same
answers without a scan, for lists of millions of entries changing while the service runs.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from lapi.plates import MAX_PLATE_CHARS

# --- entries and matches -----------------------------------------------------------------------

EXACT = "exact"
WILDCARD = "wildcard"
LOOKALIKE = "lookalike"
EDIT = "edit"


@dataclass(frozen=True)
class WatchEntry:
    id: int
    list_name: str
    plate_norm: str  # normalised plate, or normalised wildcard pattern (``?`` one char, ``*`` any run)
    plate_text: str
    category: str
    reason: str
    priority: int

    @property
    def kind(self) -> str:
        """``"wildcard"`` when ``plate_norm`` is a pattern, else ``"exact"``."""
        return WILDCARD if ("?" in self.plate_norm or "*" in self.plate_norm) else EXACT


@dataclass(frozen=True)
class Match:
    entry: WatchEntry
    match_type: str  # exact | wildcard | lookalike | edit
    cost: float      # weighted edit distance (0 for exact and wildcard matches)


def _order(m: Match) -> tuple:
    return (-m.entry.priority, m.cost, m.entry.id)


# --- costs ---------------------------------------------------------------------------------------

COST_UNIT = 100  # internal integer costs are hundredths: a full edit is 100

# Substitution costs between OCR lookalikes (symmetric).  The weight says how little of the glyph
# tells the two apart on a plate (FE-Schrift-like fonts, 20-40 px high crops, motion blur):
#   0.2  same skeleton, one differs only by a corner or a gap: 0/O, 1/I, 8/B, 5/S
#   0.3  a stroke or a tail more: 2/Z, 0/D, O/D, O/Q, 6/G, U/V
#   0.4  a whole but short stroke: 0/Q, 1/L, I/L, 1/7, 7/T, M/N, E/F, C/G
#   0.5  a distinct stroke that blur or a bolt hides: D/Q, 1/T, I/T, 4/A, N/H, M/W, K/X
#   0.6-0.7  same family, still usually told apart: 7/I, L/T, H/M, N/W, 7/L, H/W
# Anything else costs 1, like an insertion or deletion.  The recogniser's own confusion figures
# (docs/benchmarks.md) are too few to fit these; they are the order seen in its errors.
LOOKALIKE_COSTS: dict[tuple[str, str], float] = {
    ("0", "O"): 0.2, ("1", "I"): 0.2, ("8", "B"): 0.2, ("5", "S"): 0.2,
    ("2", "Z"): 0.3, ("0", "D"): 0.3, ("O", "D"): 0.3, ("O", "Q"): 0.3, ("6", "G"): 0.3, ("U", "V"): 0.3,
    ("0", "Q"): 0.4, ("1", "L"): 0.4, ("I", "L"): 0.4, ("1", "7"): 0.4, ("7", "T"): 0.4,
    ("M", "N"): 0.4, ("E", "F"): 0.4, ("C", "G"): 0.4,
    ("D", "Q"): 0.5, ("1", "T"): 0.5, ("I", "T"): 0.5, ("4", "A"): 0.5, ("N", "H"): 0.5,
    ("M", "W"): 0.5, ("K", "X"): 0.5,
    ("7", "I"): 0.6, ("L", "T"): 0.6, ("H", "M"): 0.6, ("N", "W"): 0.6,
    ("7", "L"): 0.7, ("H", "W"): 0.7,
}

DEFAULT_MAX_COST = 0.8
PLATE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MIN_FIXED_CHARS = 3  # a wildcard pattern with fewer known characters would hit a large share of all reads


def _units(cost: float) -> int:
    return round(cost * COST_UNIT)


def _build_tables() -> tuple[dict[str, int], dict[int, str]]:
    for (a, b), w in LOOKALIKE_COSTS.items():
        if a not in PLATE_ALPHABET or b not in PLATE_ALPHABET or a == b or not 0 < w < 1:
            raise ValueError(f"bad lookalike pair {a!r}/{b!r}: {w}")
    sub = {}
    for (a, b), w in LOOKALIKE_COSTS.items():
        sub[a + b] = sub[b + a] = _units(w)
    # Fold every character to the smallest member of its confusion class (connected component
    # of the lookalike pairs), so strings that differ by lookalike substitutions fold alike.
    parent = {c: c for c in PLATE_ALPHABET}

    def find(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    for a, b in LOOKALIKE_COSTS:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    fold = {ord(c): find(c) for c in PLATE_ALPHABET}
    return sub, fold


_SUB, _FOLD = _build_tables()  # "AB" -> cost units of substituting A by B; ord(char) -> class representative
_BIG = 1 << 40


def fold_plate(plate_norm: str) -> str:
    """Each character replaced by its lookalike class representative, so plates that differ only
    by lookalike substitutions (``AB123CD``, ``A8I23CD``) fold to the same key."""
    return plate_norm.translate(_FOLD)


def substitution_cost(a: str, b: str) -> float:
    """Cost of reading ``b`` where the plate has ``a``: 0, a lookalike weight, or 1."""
    if a == b:
        return 0.0
    return _SUB.get(a + b, COST_UNIT) / COST_UNIT


# --- patterns ------------------------------------------------------------------------------------

_SEPARATORS = set(" \t-_./·,")


def normalise_pattern(text: str) -> str:
    """Typed plate or pattern -> normalised form: ``' ab-1?? cd '`` -> ``'AB1??CD'``.

    Upper-cases, drops accents and separators (spaces, dashes, ``._/·,``), merges runs of ``*``
    and validates the result (:func:`validate_pattern`).  Raises ValueError naming the problem.
    """
    if not isinstance(text, str):
        raise ValueError(f"pattern must be a string, got {type(text).__name__}")
    out = []
    for ch in unicodedata.normalize("NFKD", text).upper():
        if unicodedata.category(ch) == "Mn":  # accent split off by NFKD
            continue
        if ch in _SEPARATORS or ch.isspace() or unicodedata.category(ch) == "Pd":
            continue
        if ch == "*" and out and out[-1] == "*":
            continue
        out.append(ch)
    norm = "".join(out)
    if not norm and text.strip():
        raise ValueError(f"pattern {text!r} has no plate characters")
    validate_pattern(norm)
    return norm


def validate_pattern(pattern: str) -> None:
    """Raise ValueError, naming the problem, unless ``pattern`` is a usable normalised entry.

    A plain plate: 1-10 characters A-Z0-9.  A wildcard pattern: the same plus ``?`` and ``*``,
    at most 10 characters besides ``*``, and at least :data:`MIN_FIXED_CHARS` known characters
    (``*``, ``????`` or ``A*`` would hit every read or a large share of them).
    """
    if not isinstance(pattern, str):
        raise ValueError(f"pattern must be a string, got {type(pattern).__name__}")
    if not pattern:
        raise ValueError("empty pattern")
    bad = sorted({c for c in pattern if c not in PLATE_ALPHABET and c not in "?*"})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise ValueError(f"pattern {pattern!r}: bad character(s) {shown}; only A-Z, 0-9, ? and * "
                         "(normalise typed text with normalise_pattern)")
    width = len(pattern) - pattern.count("*")
    if width > MAX_PLATE_CHARS:
        raise ValueError(f"pattern {pattern!r}: {width} characters besides '*', at most {MAX_PLATE_CHARS}")
    fixed = width - pattern.count("?")
    if fixed == len(pattern):
        return
    if fixed == 0:
        raise ValueError(f"pattern {pattern!r} has only wildcards: it would hit every read")
    if fixed < MIN_FIXED_CHARS:
        raise ValueError(f"pattern {pattern!r} has {fixed} known character(s), at least {MIN_FIXED_CHARS} are needed "
                         "(it would hit too many reads)")


@dataclass(frozen=True)
class _Pattern:
    """A validated entry pattern, ready to match."""
    text: str             # ``**`` merged
    wildcard: bool
    has_star: bool
    width: int            # characters besides '*': the read length when there is no star, else its minimum
    fixed: int            # known characters
    fold_re: re.Pattern | None   # folded pattern as a regex, for wildcards (lookalike-only prefilter)
    class_mask: int       # bit per lookalike class of the known characters
    head: tuple[tuple[int, str], ...] = ()  # known characters before any '*': (offset from the start, folded char)
    tail: tuple[tuple[int, str], ...] = ()  # known characters after the last '*': (offset from the end < 0, folded char)
    grams: tuple[tuple[int, int, str], ...] = ()  # (first, last index in text, folded run): 2-3 adjacent known chars


def _class_bit(ch: str) -> int:
    return 1 << PLATE_ALPHABET.index(ch.translate(_FOLD))


def _mask(text: str) -> int:
    m = 0
    for ch in text:
        if ch not in "?*":
            m |= _class_bit(ch)
    return m


@lru_cache(maxsize=65536)
def compile_pattern(pattern: str) -> _Pattern:
    """Validate and prepare an entry's ``plate_norm`` (cached)."""
    validate_pattern(pattern)
    text = re.sub(r"\*+", "*", pattern)
    wildcard = "?" in text or "*" in text
    has_star = "*" in text
    width = len(text) - text.count("*")
    fixed = width - text.count("?")
    if not wildcard:
        return _Pattern(text, False, False, width, fixed, None, 0)
    folded = text.translate(_FOLD)
    fold_re = re.compile("".join(".*" if c == "*" else "." if c == "?" else c for c in folded))
    parts = folded.split("*")
    head = tuple((i, c) for i, c in enumerate(parts[0]) if c != "?")
    tail = () if not has_star else tuple((i - len(parts[-1]), c) for i, c in enumerate(parts[-1]) if c != "?")
    grams = []
    for run in re.finditer(r"[^?*]{2,}", folded):
        for size in (3, 2):
            for i in range(run.start(), run.end() - size + 1):
                grams.append((i, i + size - 1, folded[i:i + size]))
    return _Pattern(text, True, has_star, width, fixed, fold_re, _mask(text), head, tail, tuple(grams))


# --- distances ------------------------------------------------------------------------------------

def _distance(read: str, pattern: str, limit: int, indel: int = COST_UNIT, full: int = COST_UNIT) -> int | None:
    """Weighted edit distance (integer units) from ``pattern`` to ``read``, or None when above ``limit``.

    ``?`` in the pattern matches one read character for free, ``*`` any run.  ``indel`` and
    ``full`` (non-lookalike substitution) can be made prohibitive to get the lookalike-only cost.
    """
    n = len(read)
    cap = limit + 1
    prev = [min(j * indel, cap) for j in range(n + 1)]
    sub = _SUB
    for pc in pattern:
        if pc == "*":
            cur = [prev[0]]
            for j in range(1, n + 1):
                a, b = prev[j], cur[j - 1]
                cur.append(a if a < b else b)
        else:
            first = prev[0] + indel
            cur = [first if first < cap else cap]
            for j in range(1, n + 1):
                rc = read[j - 1]
                s = 0 if (pc == "?" or pc == rc) else sub.get(pc + rc, full)
                v = prev[j - 1] + s
                w = prev[j] + indel
                if w < v:
                    v = w
                w = cur[j - 1] + indel
                if w < v:
                    v = w
                cur.append(v if v < cap else cap)
        if min(cur) > limit:
            return None
        prev = cur
    return prev[n] if prev[n] <= limit else None


def weighted_distance(read: str, pattern: str, max_cost: float | None = None) -> float | None:
    """Weighted edit distance between a normalised read and an entry (plate or pattern).

    Returns None when it exceeds ``max_cost`` (no bound when None).
    """
    compile_pattern(pattern)
    limit = _BIG if max_cost is None else _units(max_cost)
    d = _distance(read, re.sub(r"\*+", "*", pattern), limit)
    return None if d is None else d / COST_UNIT


def _classify(read: str, pat: _Pattern, dist: int) -> str:
    """Match type of a hit at distance ``dist`` (see module docstring)."""
    if dist == 0:
        return WILDCARD if pat.wildcard else EXACT
    look = _distance(read, pat.text, dist, indel=_BIG, full=_BIG)
    return LOOKALIKE if look == dist else EDIT


def _score(read: str, pat: _Pattern, limit: int) -> tuple[str, int] | None:
    """(match type, cost units) of ``read`` against ``pat`` within ``limit``, or None: the reference."""
    n = len(read)
    if n < pat.width:
        if (pat.width - n) * COST_UNIT > limit:
            return None
    elif not pat.has_star and (n - pat.width) * COST_UNIT > limit:
        return None
    d = _distance(read, pat.text, limit)
    if d is None:
        return None
    return _classify(read, pat, d), d


# --- thresholds ----------------------------------------------------------------------------------

def _limit_units(value: float, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 100:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    return _units(value)


def _list_limits(thresholds: Mapping[str, float] | None, default_max_cost: float) -> tuple[dict[str, int], int]:
    default = _limit_units(default_max_cost, "default_max_cost")
    limits = {name: _limit_units(v, f"threshold of list {name!r}") for name, v in (thresholds or {}).items()}
    return limits, default


def match_read(plate_norm: str, entries: Iterable[WatchEntry], *, thresholds: Mapping[str, float] | None = None,
               default_max_cost: float = DEFAULT_MAX_COST, max_cost: float | None = None) -> list[Match]:
    """Entries hit by one read, by scanning them all: highest priority first, then cheapest, then id.

    ``thresholds`` maps list names to their maximum cost (others: ``default_max_cost``);
    ``max_cost`` tightens every list's threshold for this call (it never loosens one).
    """
    limits, default = _list_limits(thresholds, default_max_cost)
    cap = None if max_cost is None else _limit_units(max_cost, "max_cost")
    hits = []
    for e in entries:
        limit = limits.get(e.list_name, default)
        if cap is not None and cap < limit:
            limit = cap
        r = _score(plate_norm, compile_pattern(e.plate_norm), limit)
        if r is not None:
            hits.append(Match(e, r[0], r[1] / COST_UNIT))
    return sorted(hits, key=_order)


# --- the index -----------------------------------------------------------------------------------

_READ_RE = re.compile(r"[0-9A-Z]*")


def _deletions(key: str, depth: int) -> set[str]:
    """Distinct strings obtained by deleting 1..depth characters of ``key``."""
    out: set[str] = set()
    level = {key}
    for _ in range(depth):
        level = {s[:i] + s[i + 1:] for s in level for i in range(len(s))}
        out |= level
    return out


def _bag_add(d: dict, key, value) -> None:
    """``d[key]`` holds one value, or a list of them when several (saves memory at 1M entries)."""
    old = d.get(key)
    if old is None:
        d[key] = value
    elif type(old) is list:
        if value not in old:
            old.append(value)
    elif old != value:
        d[key] = [old, value]


def _bag_remove(d: dict, key, value) -> None:
    old = d.get(key)
    if type(old) is list:
        old.remove(value)
        if len(old) == 1:
            d[key] = old[0]
    elif old == value:
        del d[key]


def _bag_items(v) -> list:
    return v if type(v) is list else [v]


class WatchlistIndex:
    """Watchlist entries indexed so that one read is matched without scanning them.

    * Plain entries live in a dict keyed by their *folded* plate (:func:`fold_plate`): a read
      and an entry that differ only by lookalike substitutions share the key, so exact and
      lookalike matches cost one lookup; the few candidates are then priced with the weights.
    * For lists whose threshold allows real edits (>= 1), the folded keys' deletion
      neighbourhoods (symmetric delete, depth = edits allowed, at most ``max_edits``) are kept
      too, and a read probes its own deletions: that yields every entry within k edits of the
      folded read, which is then priced.
    * Wildcard patterns, which are few, are bucketed by up to three known characters (folded) at
      fixed offsets from the start or the end of the read (patterns with none there, like
      ``*123*``: by a run of 2-3 adjacent known characters, probed with every bigram/trigram of
      the read), checked with a folded regex and priced.  A pattern on a list allowing one real
      edit is bucketed twice, by two pieces that one edit cannot both disturb; patterns that
      cannot be split so, or whose list allows two or more edits, are scanned (after a
      lookalike-class filter).  Those tolerant patterns are the slow part: ~1,000 of them at
      threshold 1.0 cost more than a million plain entries.

    Results are exactly :func:`match_read`'s for the same thresholds.  ``add`` of an id already
    present replaces that entry; ``set_threshold`` changes one list's threshold.
    """

    def __init__(self, entries: Iterable[WatchEntry] = (), *, thresholds: Mapping[str, float] | None = None,
                 default_max_cost: float = DEFAULT_MAX_COST, max_edits: int = 1) -> None:
        if isinstance(max_edits, bool) or not isinstance(max_edits, int) or not 0 <= max_edits <= 3:
            raise ValueError(f"max_edits must be an integer 0-3, got {max_edits!r}")
        self.max_edits = max_edits
        self._limits, self._default = _list_limits(thresholds, default_max_cost)
        for name, limit in self._limits.items():
            self._check_limit(limit, name)
        self._check_limit(self._default, "(default)")
        self._entries: dict[int, WatchEntry] = {}
        self._fold: dict[str, int | list[int]] = {}        # folded plate -> plain entry id(s)
        self._depth: dict[str, int] = {}                   # folded plate -> deletion depth kept (> 0 only)
        self._dels: dict[str, str | list[str]] = {}        # deletion variant -> folded plate(s)
        self._depth_counts = [0] * (max_edits + 1)         # how many folded plates keep each depth
        self._wild: dict[int, _Pattern] = {}               # wildcard entry id -> pattern
        self._wild_regs: dict[int, tuple] = {}             # wildcard entry id -> its bucket keys
        self._wild_sigs: dict[tuple, list] = {}            # signature -> [key getter, lowest, highest offset,
                                                           #               {key: wildcard entry id(s)}]
        self._wild_grams: dict[str, int | list[int]] = {}  # folded run of 2-3 known chars -> pattern id(s)
        self._wild_gram_sizes: dict[int, int] = {}         # gram length -> registrations using it
        self._wild_scan: dict[int, int] = {}               # patterns matched by a (filtered) scan -> edits
        self._sig_cache: dict[int, list] = {}              # read length -> [(getter, signature)] applicable
        for e in entries:
            self.add(e)

    # thresholds -----------------------------------------------------------------------------
    def _check_limit(self, limit: int, name: str) -> None:
        if limit // COST_UNIT > self.max_edits:
            raise ValueError(f"threshold {limit / COST_UNIT} of list {name!r} allows {limit // COST_UNIT} real edit(s); "
                             f"this index was built for at most max_edits={self.max_edits}")

    def threshold(self, list_name: str) -> float:
        """The list's maximum match cost."""
        return self._limits.get(list_name, self._default) / COST_UNIT

    def set_threshold(self, list_name: str, max_cost: float | None) -> None:
        """Set (None: back to the default) one list's threshold; its entries are re-indexed."""
        if max_cost is None:
            self._limits.pop(list_name, None)
        else:
            limit = _limit_units(max_cost, f"threshold of list {list_name!r}")
            self._check_limit(limit, list_name)
            self._limits[list_name] = limit
        for e in [e for e in self._entries.values() if e.list_name == list_name]:
            self.remove(e.id)
            self.add(e)

    def _edits(self, e: WatchEntry) -> int:
        return min(self._limits.get(e.list_name, self._default) // COST_UNIT, self.max_edits)

    # add / remove ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def get(self, entry_id: int) -> WatchEntry | None:
        return self._entries.get(entry_id)

    def entries(self) -> list[WatchEntry]:
        return list(self._entries.values())

    def add(self, entry: WatchEntry) -> None:
        """Index ``entry`` (replacing an entry with the same id).  Raises ValueError for a bad pattern."""
        pat = compile_pattern(entry.plate_norm)
        if entry.id in self._entries:
            self.remove(entry.id)
        self._entries[entry.id] = entry
        if pat.wildcard:
            self._add_wild(entry, pat)
            return
        key = entry.plate_norm.translate(_FOLD)
        _bag_add(self._fold, key, entry.id)
        self._set_depth(key)

    def remove(self, entry_id: int) -> WatchEntry:
        """Drop an entry; returns it.  KeyError when the id is not indexed."""
        entry = self._entries.pop(entry_id)
        if entry_id in self._wild:
            self._remove_wild(entry_id)
            return entry
        key = entry.plate_norm.translate(_FOLD)
        _bag_remove(self._fold, key, entry_id)
        self._set_depth(key)
        return entry

    def _set_depth(self, key: str) -> None:
        """Keep the deletion neighbourhood of ``key`` as deep as its entries' lists need."""
        ids = self._fold.get(key)
        want = 0 if ids is None else max(self._edits(self._entries[i]) for i in _bag_items(ids))
        have = self._depth.get(key, 0)
        if want == have:
            return
        if have:
            for v in _deletions(key, have):
                _bag_remove(self._dels, v, key)
            self._depth_counts[have] -= 1
            del self._depth[key]
        if want:
            for v in _deletions(key, want):
                _bag_add(self._dels, v, key)
            self._depth_counts[want] += 1
            self._depth[key] = want

    @staticmethod
    def _signature(known: list[tuple[int, str]], exact_width: int | None) -> tuple:
        """(signature, key) for known (offset, folded char) pairs; offsets < 0 count from the end."""
        offsets = tuple(o for o, _ in known)
        key = "".join(c for _, c in known)
        return (offsets, exact_width), (key if len(key) == 1 else tuple(key))

    def _wild_registrations(self, pat: _Pattern, edits: int) -> list:
        """Bucket keys of a pattern such that every read within its list's threshold hits one of
        them; [] when the pattern must be scanned instead."""
        if edits == 0:
            # no real edit: every known character keeps its offset from the start (head) or end (tail)
            known = list(pat.head[:3])
            if len(known) < 3 and pat.tail:
                known += list(pat.tail[-(3 - len(known)):])
            if known:
                return [self._signature(sorted(known), None if pat.has_star else pat.width)]
            if pat.grams:
                best = max(pat.grams, key=lambda g: len(g[2]))
                return [("gram", best[2])]
            return []
        if edits > 1:
            return []
        # One real edit disturbs at most one of two pieces whose "vulnerable zones" are disjoint:
        # known characters at offsets from the start (zone: the start up to them), from the end
        # (zone: them up to the end), or a run of adjacent ones found anywhere (zone: the run).
        n_text = len(pat.text)
        if not pat.has_star:
            known = list(pat.head)
            half = min(3, (len(known) + 1) // 2)
            left = known[:half]
            right = [(o - pat.width, c) for o, c in known[half:][-3:]]
            return [self._signature(left, None), self._signature(right, None)]
        pieces = []  # (characters known, zone first, zone last, registration)
        for size in range(1, min(3, len(pat.head)) + 1):
            left = list(pat.head[:size])
            pieces.append((size, 0, left[-1][0], self._signature(left, None)))
        for size in range(1, min(3, len(pat.tail)) + 1):
            right = list(pat.tail[-size:])
            pieces.append((size, n_text + right[0][0], n_text - 1, self._signature(right, None)))
        pieces += [(len(g), first, last, ("gram", g)) for first, last, g in pat.grams]
        best = None
        for i, (na, a0, a1, ra) in enumerate(pieces):
            for nb, b0, b1, rb in pieces[i + 1:]:
                if a1 < b0 or b1 < a0:
                    score = (min(na, nb), na + nb)
                    if best is None or score > best[0]:
                        best = (score, [ra, rb])
        return [] if best is None else best[1]

    def _add_wild(self, entry: WatchEntry, pat: _Pattern) -> None:
        self._wild[entry.id] = pat
        regs = self._wild_registrations(pat, self._edits(entry))
        self._wild_regs[entry.id] = tuple(regs)
        if not regs:
            self._wild_scan[entry.id] = self._edits(entry)
        for sig, key in regs:
            if sig == "gram":
                _bag_add(self._wild_grams, key, entry.id)
                self._wild_gram_sizes[len(key)] = self._wild_gram_sizes.get(len(key), 0) + 1
                continue
            slot = self._wild_sigs.get(sig)
            if slot is None:
                offsets = sig[0]
                slot = self._wild_sigs[sig] = [operator.itemgetter(*offsets), min(offsets), max(offsets), {}]
                self._sig_cache.clear()
            _bag_add(slot[3], key, entry.id)

    def _remove_wild(self, entry_id: int) -> None:
        del self._wild[entry_id]
        self._wild_scan.pop(entry_id, None)
        for sig, key in self._wild_regs.pop(entry_id):
            if sig == "gram":
                _bag_remove(self._wild_grams, key, entry_id)
                self._wild_gram_sizes[len(key)] -= 1
                if not self._wild_gram_sizes[len(key)]:
                    del self._wild_gram_sizes[len(key)]
                continue
            slot = self._wild_sigs[sig]
            _bag_remove(slot[3], key, entry_id)
            if not slot[3]:
                del self._wild_sigs[sig]
                self._sig_cache.clear()

    # matching ------------------------------------------------------------------------------------
    def match(self, plate_norm: str, max_cost: float | None = None) -> list[Match]:
        """Entries hit by a normalised read: highest priority first, then cheapest, then id.

        ``max_cost`` tightens every list's threshold for this call (it never loosens one).
        Raises ValueError for a read that is not A-Z0-9.
        """
        if _READ_RE.fullmatch(plate_norm) is None:
            raise ValueError(f"read {plate_norm!r} is not a normalised plate (A-Z0-9)")
        if not plate_norm:
            return []
        cap = _BIG if max_cost is None else _limit_units(max_cost, "max_cost")
        limits, default, entries, fold = self._limits, self._default, self._entries, self._fold
        folded = plate_norm.translate(_FOLD)
        hits: list[Match] = []

        # plain entries: same folded key (exact and lookalike) ...
        ids = fold.get(folded)
        if ids is not None:
            for i in (ids if type(ids) is list else (ids,)):
                e = entries[i]
                limit = limits.get(e.list_name, default)
                if cap < limit:
                    limit = cap
                r = _price_plain(plate_norm, e.plate_norm, limit)
                if r is not None:
                    hits.append(Match(e, r[0], r[1] / COST_UNIT))
        # ... and within k real edits (deletion neighbourhoods), when some list allows them
        depth = self._probe_depth(cap)
        if depth:
            dels = self._dels
            keys = set()
            v = dels.get(folded)
            if v is not None:
                keys.update(_bag_items(v))
            for var in _deletions(folded, depth):
                if var in fold:
                    keys.add(var)
                v = dels.get(var)
                if v is not None:
                    keys.update(_bag_items(v))
            keys.discard(folded)
            for key in keys:
                for i in _bag_items(fold[key]):
                    e = entries[i]
                    limit = limits.get(e.list_name, default)
                    if cap < limit:
                        limit = cap
                    if limit < COST_UNIT:
                        continue  # another folded key needs a real edit
                    r = _price_plain(plate_norm, e.plate_norm, limit)
                    if r is not None:
                        hits.append(Match(e, r[0], r[1] / COST_UNIT))

        if self._wild:
            self._match_wild(plate_norm, folded, cap, hits)
        if len(hits) > 1:
            hits.sort(key=_order)
        return hits

    def _probe_depth(self, cap: int) -> int:
        counts = self._depth_counts
        for d in range(len(counts) - 1, 0, -1):
            if counts[d]:
                return min(d, cap // COST_UNIT)
        return 0

    def _sigs_for(self, n: int) -> list:
        """(key getter, buckets) of the signatures a read of length ``n`` can probe (cached)."""
        sigs = self._sig_cache.get(n)
        if sigs is None:
            sigs = [(getter, buckets) for sig, (getter, lowest, highest, buckets) in self._wild_sigs.items()
                    if (sig[1] is None or sig[1] == n) and highest < n and -lowest <= n]
            self._sig_cache[n] = sigs
        return sigs

    def _match_wild(self, read: str, folded: str, cap: int, hits: list[Match]) -> None:
        n = len(read)
        candidates: set[int] = set()
        for getter, buckets in self._sigs_for(n):
            ids = buckets.get(getter(folded))
            if ids is not None:
                if type(ids) is list:
                    candidates.update(ids)
                else:
                    candidates.add(ids)
        if self._wild_grams:
            grams = self._wild_grams
            for size in self._wild_gram_sizes:
                for j in range(n - size + 1):
                    ids = grams.get(folded[j:j + size])
                    if ids is not None:
                        candidates.update(_bag_items(ids))
        rmask = None
        if self._wild_scan:
            rmask = _mask(folded)
            wild = self._wild
            for i, k in self._wild_scan.items():
                if (wild[i].class_mask & ~rmask).bit_count() <= k:  # a missing class costs a real edit
                    candidates.add(i)
        limits, default, entries, wild = self._limits, self._default, self._entries, self._wild
        for i in candidates:
            e = entries[i]
            limit = limits.get(e.list_name, default)
            if cap < limit:
                limit = cap
            pat = wild[i]
            if limit < COST_UNIT:
                if pat.fold_re.fullmatch(folded) is None:
                    continue  # without a real edit the folded read must fit the folded pattern
            elif pat.fold_re.fullmatch(folded) is None:
                if rmask is None:
                    rmask = _mask(folded)
                if (pat.class_mask & ~rmask).bit_count() > limit // COST_UNIT:
                    continue  # each lookalike class missing from the read costs a real edit
            r = _score(read, pat, limit)
            if r is not None:
                hits.append(Match(e, r[0], r[1] / COST_UNIT))


def _price_plain(read: str, plate: str, limit: int) -> tuple[str, int] | None:
    """(match type, cost units) of a read against a plain entry within ``limit``, or None.

    Same answers as :func:`_score`, with shortcuts for the two cases the index meets most: equal
    lengths (any alignment other than position by position needs >= 2 indels, >= 200 units) and,
    below 200 units, lengths one apart (exactly one indel: best split point by prefix/suffix sums).
    """
    if read == plate:
        return EXACT, 0
    n, m = len(read), len(plate)
    sub = _SUB
    if n == m:
        cost = 0
        real = False
        for a, b in zip(plate, read):
            if a != b:
                w = sub.get(a + b)
                if w is None:
                    w = COST_UNIT
                    real = True
                cost += w
                if cost > limit and limit < 2 * COST_UNIT:
                    return None
        if cost <= 2 * COST_UNIT:
            return ((EDIT if real else LOOKALIKE), cost) if cost <= limit else None
        return _score(read, compile_pattern(plate), limit)
    if limit < 2 * COST_UNIT and (n - m == 1 or m - n == 1):
        if limit < COST_UNIT:
            return None
        long, short = (read, plate) if n > m else (plate, read)
        k = len(short)
        # prefix[i]: long[:i] against short[:i]; suffix[i]: long[i+1:] against short[i:]
        prefix = [0] * (k + 1)
        acc = 0
        for i in range(k):
            a, b = long[i], short[i]
            if a != b:
                acc += sub.get(a + b, COST_UNIT)
            prefix[i + 1] = acc
        best = _BIG
        acc = 0
        for i in range(k, -1, -1):
            if i < k:
                a, b = long[i + 1], short[i]
                if a != b:
                    acc += sub.get(a + b, COST_UNIT)
            t = prefix[i] + acc
            if t < best:
                best = t
        cost = COST_UNIT + best
        return (EDIT, cost) if cost <= limit else None
    return _score(read, compile_pattern(plate), limit)
