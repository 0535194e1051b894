"""Watchlist matching (issue 7): patterns, lookalike costs, thresholds, the index against the scan."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lapi.matching import (
    DEFAULT_MAX_COST, LOOKALIKE_COSTS, Match, WatchEntry, WatchlistIndex, fold_plate, match_read, normalise_pattern,
    substitution_cost, validate_pattern, weighted_distance,
)


def entry(i: int, plate: str, list_name: str = "a", priority: int = 1) -> WatchEntry:
    return WatchEntry(i, list_name, plate, plate, "", "", priority)


def summary(matches: list[Match]) -> list[tuple[int, str, float]]:
    return [(m.entry.id, m.match_type, m.cost) for m in matches]


def both(read: str, entries: list[WatchEntry], **kw) -> list[tuple[int, str, float]]:
    """Match through the index and the reference scan; they must agree."""
    index_kw = {k: v for k, v in kw.items() if k != "max_cost"}
    scan_kw = {k: v for k, v in kw.items() if k != "max_edits"}
    index = WatchlistIndex(entries, **index_kw)
    got = summary(index.match(read, max_cost=kw.get("max_cost")))
    assert got == summary(match_read(read, entries, **scan_kw))
    return got


# --- costs ------------------------------------------------------------------------------------------

def test_lookalike_costs_are_symmetric_and_below_a_full_edit():
    for (a, b), w in LOOKALIKE_COSTS.items():
        assert substitution_cost(a, b) == substitution_cost(b, a) == w
        assert 0 < w < 1
    assert substitution_cost("A", "A") == 0
    assert substitution_cost("A", "X") == 1  # not lookalikes
    assert substitution_cost("C", "6") == 1  # same confusion class (via G), but not a listed pair


@pytest.mark.parametrize("read,plate,cost", [
    ("AB123CD", "AB123CD", 0.0),
    ("A8123CD", "AB123CD", 0.2),     # 8/B
    ("A8I23CD", "AB123CD", 0.4),     # 8/B + I/1: the issue's example
    ("AB12JCD", "AB123CD", 1.0),     # J/3 is a full substitution
    ("AB1234CD", "AB123CD", 1.0),    # insertion
    ("AB13CD", "AB123CD", 1.0),      # deletion
    ("GV073KP", "GVO73KP", 0.2),     # 0/O
    ("GV073KP", "GVD73KP", 0.3),     # 0/D
    ("HN123MW", "NH123WM", 2.0),     # four lookalikes of 0.5 (two swaps would cost 4 indels)
    ("TTTTT", "77777", 2.0),         # 5 x 0.4 = 2.0
    ("Z2", "2Z", 0.6),
])
def test_weighted_distance(read, plate, cost):
    assert weighted_distance(read, plate) == pytest.approx(cost)


def test_weighted_distance_limit_and_patterns():
    assert weighted_distance("AB12JCD", "AB123CD", max_cost=0.8) is None
    assert weighted_distance("AB12JCD", "AB123CD", max_cost=1.0) == 1.0
    assert weighted_distance("AB999CD", "AB???CD") == 0
    assert weighted_distance("AB99CD", "AB???CD") == 1  # a '?' must consume a character
    assert weighted_distance("XAB123CDX", "*123*") == 0
    assert weighted_distance("XA8I23CDX", "*123*") == pytest.approx(0.2)  # I/1


def test_fold_plate_merges_lookalikes_only():
    assert fold_plate("AB123CD") == fold_plate("A8I23CD") == fold_plate("4B1Z3GO")
    assert fold_plate("AB123CD") != fold_plate("AB123CX")


# --- patterns -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,norm", [
    ("AB-123-CD", "AB123CD"), (" ab 1?? cd ", "AB1??CD"), ("*-123-*", "*123*"), ("ab**12*", "AB*12*"),
    ("gv–073–kp", "GV073KP"), ("é?1-2", "E?12"), ("1234.ab.56", "1234AB56"),
])
def test_normalise_pattern(raw, norm):
    assert normalise_pattern(raw) == norm


@pytest.mark.parametrize("raw,message", [
    ("", "empty"),
    (" - ", "no plate characters"),
    ("AB%12", "bad character(s) '%'"),
    ("AB[12]CD", "'['"),
    ("*", "only wildcards"),
    ("??*??", "only wildcards"),
    ("A*", "1 known character"),
    ("AB???", "2 known character"),
    ("ABCDEFGHJKL", "11 characters besides '*', at most 10"),
    ("AB?????????", "11 characters besides '*'"),
])
def test_bad_patterns_name_the_problem(raw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        normalise_pattern(raw)


def test_validate_pattern_wants_normalised_text_and_index_rejects_bad_entries():
    validate_pattern("AB*CD1")
    with pytest.raises(ValueError, match="normalise_pattern"):
        validate_pattern("ab-123")
    index = WatchlistIndex()
    with pytest.raises(ValueError, match="only wildcards"):
        index.add(entry(1, "*"))
    assert len(index) == 0
    with pytest.raises(ValueError, match="not a normalised plate"):
        index.match("ab-123-cd")


def test_entry_kind():
    assert entry(1, "AB123CD").kind == "exact"
    assert entry(1, "AB1??CD").kind == "wildcard"
    assert entry(1, "*123CD").kind == "wildcard"


# --- match types and thresholds ------------------------------------------------------------------------

def test_issue_example_lookalike_read_finds_the_plate():
    got = both("A8I23CD", [entry(1, "AB123CD"), entry(2, "XY999ZZ")])
    assert got == [(1, "lookalike", 0.4)]


def test_every_match_type():
    entries = [entry(1, "AB123CD"), entry(2, "AB1??CD", "b"), entry(3, "GV073KP", "c"), entry(4, "*073KP", "d")]
    kw = {"thresholds": {"c": 1.2}}
    assert both("AB123CD", entries, **kw) == [(1, "exact", 0.0), (2, "wildcard", 0.0)]
    assert both("AB1Z3CD", entries, **kw) == [(2, "wildcard", 0.0), (1, "lookalike", 0.3)]
    assert both("GV073KP", entries, **kw) == [(3, "exact", 0.0), (4, "wildcard", 0.0)]
    assert both("GVO73KP", entries, **kw) == [(3, "lookalike", 0.2), (4, "lookalike", 0.2)]
    # list c tolerates one real edit (+ 0.2 of lookalikes): a dropped character, a wrong one
    assert both("GV73KP", entries, **kw) == [(3, "edit", 1.0)]
    assert both("GVO73XP", entries, **kw) == [(3, "lookalike", 0.7), (4, "lookalike", 0.7)]  # O/0 + X/K
    assert both("GVO73YP", entries, **kw) == [(3, "edit", 1.2)]
    assert both("GVO73YY", entries, **kw) == []


def test_thresholds_per_list_and_max_cost_tightens():
    entries = [entry(1, "AB123CD", "strict"), entry(2, "AB123CD", "loose"), entry(3, "AB123CD")]
    kw = {"thresholds": {"strict": 0, "loose": 1.5}}
    assert both("AB123CD", entries, **kw) == [(1, "exact", 0.0), (2, "exact", 0.0), (3, "exact", 0.0)]
    assert both("A8123CD", entries, **kw) == [(2, "lookalike", 0.2), (3, "lookalike", 0.2)]
    assert both("A8IZ3CD", entries, **kw) == [(2, "lookalike", 0.7), (3, "lookalike", 0.7)]
    assert both("A8IZ3C0", entries, **kw) == [(2, "lookalike", 1.0)]  # 0.7 + 0.3 > default 0.8
    assert both("AB123C", entries, **kw) == [(2, "edit", 1.0)]
    assert both("A8123CD", entries, **kw, max_cost=0.1) == []
    assert both("AB123C", entries, **kw, max_cost=0.9) == []
    assert both("A8123CD", entries, **kw, max_cost=5) == [(2, "lookalike", 0.2), (3, "lookalike", 0.2)]
    assert DEFAULT_MAX_COST < 1


def test_index_thresholds_are_checked_and_can_change():
    with pytest.raises(ValueError, match="max_edits=1"):
        WatchlistIndex(thresholds={"x": 2.0})
    with pytest.raises(ValueError, match="max_edits=0"):
        WatchlistIndex(default_max_cost=1.0, max_edits=0)
    with pytest.raises(ValueError, match="threshold of list 'x'"):
        WatchlistIndex(thresholds={"x": -1})
    index = WatchlistIndex([entry(1, "AB123CD", "x"), entry(2, "AB1?3CD", "x"), entry(3, "AB123CD", "y")])
    assert summary(index.match("AB123C")) == []
    index.set_threshold("x", 1.0)
    assert index.threshold("x") == 1.0 and index.threshold("y") == DEFAULT_MAX_COST
    assert summary(index.match("AB123C")) == [(1, "edit", 1.0), (2, "edit", 1.0)]
    index.set_threshold("x", 0)
    assert summary(index.match("A8123CD")) == [(3, "lookalike", 0.2)]
    index.set_threshold("x", None)
    assert summary(index.match("A8123CD")) == [(1, "lookalike", 0.2), (2, "lookalike", 0.2), (3, "lookalike", 0.2)]


def test_two_edits_when_the_index_allows_them():
    entries = [entry(1, "AB123CD", "x"), entry(2, "HNHNHNH", "x")]
    kw = {"thresholds": {"x": 2.5}, "max_edits": 2}
    assert both("AB13C", entries, **kw) == [(1, "edit", 2.0)]
    # position by position 7 x 0.5 = 3.5; dropping the first H and adding an N costs 2
    assert both("NHNHNHN", entries, **kw) == [(2, "edit", 2.0)]


# --- wildcards --------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,read,hit", [
    ("AB???CD", "AB123CD", True), ("AB???CD", "AB12CD", False), ("AB???CD", "AB1234CD", False),
    ("?B123C?", "AB123CD", True), ("?B123C?", "B123C", False),
    ("*123CD", "AB123CD", True), ("*123CD", "123CD", True),          # '*' at the start, empty run
    ("AB123*", "AB123CD", True), ("AB123*", "AB123", True),          # '*' at the end, empty run
    ("AB*123CD", "AB123CD", True), ("AB*CD", "ABXXXXXCD", True),     # empty run inside, long run
    ("*123*", "123", True), ("*123*", "XX123YY", True), ("*123*", "12X3", False),
    ("A*1*D", "AB123CD", True), ("A*1*D", "AB23CD", False),
    ("?*1?3C*?", "AB123CD", True), ("??*123", "1234", False),
    ("GV0?3KP", "GV073KP", True), ("GV0?3KP", "GV073K", False),
])
def test_wildcard_edge_cases(pattern, read, hit):
    got = both(read, [entry(1, pattern)], max_cost=0)
    assert got == ([(1, "wildcard", 0.0)] if hit else [])


def test_wildcards_tolerate_lookalikes_on_known_characters():
    entries = [entry(1, "AB1??CD"), entry(2, "*123CD"), entry(3, "AB*CD")]
    assert both("A81XYC0", entries) == [(1, "lookalike", 0.5), (3, "lookalike", 0.5)]  # 8/B + 0/D
    assert both("XXI23CD", entries) == [(2, "lookalike", 0.2)]
    assert both("48XYZC0", entries) == []  # 4/A + 8/B + 0/D = 1.0 > 0.8
    # a wildcard with a real edit only on a list that allows one
    assert both("AB1XYD", entries) == []
    assert both("AB1XYD", entries, thresholds={"a": 1.0}) == [(1, "edit", 1.0), (3, "edit", 1.0)]


# --- ordering and incremental changes ------------------------------------------------------------------

def test_order_is_priority_then_cost_then_id():
    entries = [entry(5, "AB123CD", priority=1), entry(4, "A8123CD", priority=1), entry(3, "AB123CD", "b", priority=3),
               entry(2, "AB1?3CD", priority=1), entry(1, "A8I23CD", "c", priority=1)]
    assert both("AB123CD", entries) == [(3, "exact", 0.0), (2, "wildcard", 0.0), (5, "exact", 0.0),
                                        (4, "lookalike", 0.2), (1, "lookalike", 0.4)]


def test_incremental_add_remove_and_replace():
    index = WatchlistIndex(thresholds={"edit": 1.0})
    assert index.match("AB123CD") == []
    index.add(entry(1, "AB123CD"))
    index.add(entry(2, "A8123CD"))          # same folded key as entry 1
    index.add(entry(3, "AB1?3CD", "edit"))  # wildcard on a list allowing an edit
    index.add(entry(4, "AB12CD", "edit"))   # one deletion away
    assert summary(index.match("AB123CD")) == [(1, "exact", 0.0), (3, "wildcard", 0.0), (2, "lookalike", 0.2),
                                               (4, "edit", 1.0)]
    assert index.remove(2).plate_norm == "A8123CD"
    assert summary(index.match("AB123CD")) == [(1, "exact", 0.0), (3, "wildcard", 0.0), (4, "edit", 1.0)]
    index.remove(4)
    index.remove(3)
    assert summary(index.match("AB123CD")) == [(1, "exact", 0.0)]
    assert summary(index.match("AB12CD")) == []
    index.add(entry(1, "GV073KP"))          # same id: replaces
    assert len(index) == 1 and 1 in index and index.get(1).plate_norm == "GV073KP"
    assert index.match("AB123CD") == []
    with pytest.raises(KeyError):
        index.remove(99)
    index.remove(1)
    assert len(index) == 0 and index._fold == {} and index._dels == {} and index._wild_sigs == {} and index._wild_grams == {}


def test_existing_callers_still_get_exact_matches():
    entries = [WatchEntry(1, "a", "AB123CD", "AB-123-CD", "", "", 1), WatchEntry(2, "b", "AB123CD", "AB123CD", "", "", 5)]
    assert [(m.entry.id, m.match_type, m.cost) for m in match_read("AB123CD", entries)] == [(2, "exact", 0.0),
                                                                                            (1, "exact", 0.0)]


# --- the index equals the scan -------------------------------------------------------------------------

# A small, confusion-rich alphabet, so that random entries and reads collide often.
_ALPHABET = "0ODQ1IL7T2Z5S8BAX4HNMW6GC9"
_THRESHOLDS = {"strict": 0.0, "lookalike": 0.5, "edit": 1.0, "edit+": 1.6}
_LISTS = ["strict", "lookalike", "edit", "edit+", "default"]


_PARTNERS: dict[str, list[str]] = {}
for _a, _b in LOOKALIKE_COSTS:
    _PARTNERS.setdefault(_a, []).append(_b)
    _PARTNERS.setdefault(_b, []).append(_a)


def _mutate(rng: random.Random, s: str) -> str:
    partners = _PARTNERS
    chars = list(s)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        op = rng.random()
        i = rng.randrange(len(chars) + 1)
        if op < 0.5 and i < len(chars) and chars[i] in partners:
            chars[i] = rng.choice(partners[chars[i]])
        elif op < 0.7 and i < len(chars):
            chars[i] = rng.choice(_ALPHABET)
        elif op < 0.85 and len(chars) > 1 and i < len(chars):
            del chars[i]
        else:
            chars.insert(i, rng.choice(_ALPHABET))
    return "".join(chars)


def _random_pattern(rng: random.Random, plate: str) -> str:
    chars = list(plate)
    for i in rng.sample(range(len(chars)), rng.randint(0, max(0, len(chars) - 3))):
        chars[i] = "?"
    if rng.random() < 0.5:
        a = rng.randrange(len(chars) + 1)
        b = rng.randrange(a, len(chars) + 1)
        if rng.random() < 0.5:
            chars[a:b] = ["*"]
        else:
            chars.insert(a, "*")
    text = "".join(chars)
    try:
        validate_pattern(text)
    except ValueError:
        return plate
    return text


def _random_entries(rng: random.Random, n: int, wild_share: float) -> list[WatchEntry]:
    out = []
    for i in range(1, n + 1):
        plate = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(4, 8)))
        if rng.random() < wild_share:
            plate = _random_pattern(rng, plate)
        out.append(WatchEntry(i, rng.choice(_LISTS), plate, plate, "", "", rng.randint(1, 5)))
    return out


def test_index_equals_scan_on_random_entries_and_reads():
    rng = random.Random(20261123)
    entries = _random_entries(rng, 3000, wild_share=0.05)
    index = WatchlistIndex(entries, thresholds=_THRESHOLDS)
    plain = [e.plate_norm for e in entries if e.kind == "exact"]
    reads = [_mutate(rng, rng.choice(plain)) for _ in range(1000)]
    reads += ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(3, 9))) for _ in range(300)]
    hits = 0
    for read in reads:
        for max_cost in (None, 0.5):
            got = index.match(read, max_cost=max_cost)
            assert summary(got) == summary(match_read(read, entries, thresholds=_THRESHOLDS, max_cost=max_cost)), read
            hits += len(got)
    assert hits > 700  # the mutations keep many reads within reach: this is not comparing empty lists
    # remove half, add some back: still equal
    removed = rng.sample(entries, 1500)
    for e in removed:
        index.remove(e.id)
    kept = [e for e in entries if e.id in index]
    for read in reads[:300]:
        assert summary(index.match(read)) == summary(match_read(read, kept, thresholds=_THRESHOLDS)), read


_plates = st.text(alphabet=_ALPHABET, min_size=3, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), max_edits=st.integers(0, 2))
def test_index_equals_scan_property(data, seed, n, max_edits):
    rng = random.Random(seed)
    entries = _random_entries(rng, n, wild_share=0.3)
    costs = [0.0, 0.3, 0.8, 0.99, 1.0, 1.5, 1.99, 2.0, 2.6][:3 + 3 * max_edits]
    thresholds = {name: data.draw(st.sampled_from(costs), label=name) for name in _LISTS}
    index = WatchlistIndex(thresholds=thresholds, default_max_cost=data.draw(st.sampled_from(costs)),
                           max_edits=max_edits)
    for e in entries:
        index.add(e)
    for e in data.draw(st.lists(st.sampled_from(entries), max_size=5, unique_by=lambda e: e.id), label="removed"):
        index.remove(e.id)
    kept = [e for e in entries if e.id in index]
    reads = [_mutate(rng, rng.choice(entries).plate_norm.replace("?", "A").replace("*", "")) for _ in range(10)]
    reads.append(data.draw(_plates, label="read"))
    for read in reads:
        if not read:
            continue
        want = summary(match_read(read, kept, thresholds=thresholds, default_max_cost=index.threshold("?")))
        assert summary(index.match(read)) == want


def _reference_distance(read: str, pattern: str) -> float:
    """Textbook full-matrix weighted edit distance, floats, no shortcuts."""
    inf = float("inf")
    d = [[inf] * (len(read) + 1) for _ in range(len(pattern) + 1)]
    d[0][0] = 0.0
    for i in range(len(pattern) + 1):
        for j in range(len(read) + 1):
            if i == 0 and j == 0:
                continue
            best = inf
            if i > 0:
                p = pattern[i - 1]
                if p == "*":
                    best = min(best, d[i - 1][j])  # star takes nothing more
                    if j > 0:
                        best = min(best, d[i][j - 1])  # star takes read[j-1]
                else:
                    best = min(best, d[i - 1][j] + 1)  # pattern char unread
                    if j > 0:
                        r = read[j - 1]
                        s = 0.0 if p in ("?", r) else LOOKALIKE_COSTS.get((p, r), LOOKALIKE_COSTS.get((r, p), 1.0))
                        best = min(best, d[i - 1][j - 1] + s)
            if j > 0 and (i == 0 or pattern[i - 1] != "*"):
                best = min(best, d[i][j - 1] + 1)  # extra read char
            d[i][j] = best
    return d[-1][-1]


@settings(max_examples=300, deadline=None)
@given(read=_plates, plate=_plates, seed=st.integers(0, 2**32 - 1))
def test_weighted_distance_equals_reference(read, plate, seed):
    pattern = _random_pattern(random.Random(seed), plate)
    assert weighted_distance(read, pattern) == pytest.approx(_reference_distance(read, pattern))


def test_no_flood_on_a_large_realistic_list():
    """200,000 realistic entries at the default threshold: listed plates hit, passing ones almost never."""
    from lapi.bench_watchlist import lookalike_misread, realistic_plates

    rng = random.Random(5)
    plates = [p for p, _ in realistic_plates(202_000, rng)]
    listed, passing = plates[:200_000], plates[200_000:]
    index = WatchlistIndex(WatchEntry(i, "national", p, p, "", "", 1) for i, p in enumerate(listed))
    index.add(entry(10**6, "AB123CD"))
    assert summary(index.match("A8I23CD")) == [(10**6, "lookalike", 0.4)]
    assert all(index.match(p) for p in listed[:1000])
    assert all(index.match(lookalike_misread(p, rng)) for p in listed[1000:2000])
    false_hits = sum(len(index.match(p)) for p in passing)
    assert false_hits <= 0.02 * len(passing)
