"""Watchlist matching benchmark (issue 7): index build time and memory, reads matched per second.

``lapi bench watchlist --entries 1000000 --reads 200000`` builds N realistic entries (French SIV
and FNI plates plus foreign ones, drawn with the camera-side country priors of
:mod:`lapi.grammars`, a few wildcard patterns), indexes them in a :class:`WatchlistIndex` and
matches M reads on one core: mostly passing vehicles that are not on the list, some listed
plates read correctly and some read with one lookalike substitution (``AB123CD`` -> ``A8123CD``).
"""

from __future__ import annotations

import gc
import os
import random
import time
from dataclasses import dataclass, field

from lapi.grammars import COUNTRY_PRIORS, GENERIC, random_plate_text
from lapi.matching import DEFAULT_MAX_COST, LOOKALIKE_COSTS, WatchEntry, WatchlistIndex

_PARTNERS: dict[str, list[str]] = {}
for (_a, _b) in LOOKALIKE_COSTS:
    _PARTNERS.setdefault(_a, []).append(_b)
    _PARTNERS.setdefault(_b, []).append(_a)

_CATEGORIES = ("vol", "passeur", "stupefiants", "fiche S", "recherche judiciaire", "douane")
_LISTS = ("national", "douane", "gendarmerie-62")


def _rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def realistic_plates(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` distinct (normalised, display) plates as they pass French cameras."""
    weights = {c: w for c, w in COUNTRY_PRIORS.items() if c != GENERIC}
    seen: set[str] = set()
    out = []
    while len(out) < n:
        fmt, text = random_plate_text(rng, weights=weights)
        if text in seen:
            continue
        seen.add(text)
        out.append((text, fmt.display(text)))
    return out


def lookalike_misread(plate: str, rng: random.Random) -> str:
    """``plate`` with one character replaced by a lookalike (unchanged if it has none)."""
    spots = [i for i, c in enumerate(plate) if c in _PARTNERS]
    if not spots:
        return plate
    i = rng.choice(spots)
    return plate[:i] + rng.choice(_PARTNERS[plate[i]]) + plate[i + 1:]


def _wildcard_of(plate: str, rng: random.Random) -> str:
    """A partly-known plate: two characters unknown, or the middle and end known."""
    if rng.random() < 0.7:
        spots = rng.sample(range(len(plate)), 2)
        return "".join("?" if i in spots else c for i, c in enumerate(plate))
    return "*" + plate[2:]


@dataclass
class WatchlistBench:
    entries: int
    wildcards: int
    reads: int
    max_cost: float
    build_s: float
    entries_rss_mb: float
    index_rss_mb: float
    match_s: float
    reads_per_s: float
    match_cpu_s: float     # CPU time of this process while matching (the machine may be shared)
    reads_per_cpu_s: float
    hits: dict[str, int] = field(default_factory=dict)
    reads_with_hit: dict[str, int] = field(default_factory=dict)
    read_mix: dict[str, int] = field(default_factory=dict)


def bench_watchlist(entries: int = 1_000_000, reads: int = 200_000, *, wildcards: int = 1000,
                    max_cost: float = DEFAULT_MAX_COST, listed_share: float = 0.05, misread_share: float = 0.05,
                    seed: int = 7, progress=None) -> WatchlistBench:
    """Build ``entries`` entries (``wildcards`` of them patterns) and match ``reads`` reads.

    ``max_cost`` is every list's threshold (default 0.8: exact + lookalike, no real edit; >= 1
    adds one-edit tolerance and its deletion neighbourhoods).  Reads: ``listed_share`` listed
    plates read right, ``misread_share`` listed plates with one lookalike substitution, the rest
    passing plates drawn like the entries (a few of which are listed by chance).
    """
    say = progress or (lambda msg: None)
    rng = random.Random(seed)
    say(f"drawing {entries + reads:,} plates")
    plates = realistic_plates(entries + reads, rng)
    listed, passing = plates[:entries], [p for p, _ in plates[entries:]]

    gc.collect()
    rss0 = _rss_bytes()
    items = []
    for i, (norm, shown) in enumerate(listed, start=1):
        if i <= wildcards:
            norm = _wildcard_of(norm, rng)
            shown = norm
        items.append(WatchEntry(i, _LISTS[i % len(_LISTS)], norm, shown, _CATEGORIES[i % len(_CATEGORIES)],
                                f"PV 2026/{i:07d}", 1 + i % 5))
    gc.collect()
    rss1 = _rss_bytes()
    say(f"indexing {entries:,} entries")
    gc.disable()  # the index allocates millions of small objects; collections would dominate the build
    try:
        t0 = time.perf_counter()
        index = WatchlistIndex(items, default_max_cost=max_cost, max_edits=max(1, int(max_cost)))
        build_s = time.perf_counter() - t0
    finally:
        gc.enable()
    gc.collect()
    rss2 = _rss_bytes()

    n_listed = int(reads * listed_share)
    n_misread = int(reads * misread_share)
    plain = [e.plate_norm for e in items[wildcards:]] or [p for p, _ in listed]
    batch = ([rng.choice(plain) for _ in range(n_listed)]
             + [lookalike_misread(rng.choice(plain), rng) for _ in range(n_misread)]
             + passing[:reads - n_listed - n_misread])
    kinds = ["listed"] * n_listed + ["misread"] * n_misread + ["passing"] * (len(batch) - n_listed - n_misread)
    order = list(range(len(batch)))
    rng.shuffle(order)
    batch = [batch[i] for i in order]
    kinds = [kinds[i] for i in order]

    say(f"matching {len(batch):,} reads")
    match = index.match
    t0, c0 = time.perf_counter(), time.process_time()
    results = [match(r) for r in batch]
    match_s, match_cpu_s = time.perf_counter() - t0, time.process_time() - c0

    hits: dict[str, int] = {}
    with_hit: dict[str, int] = {}
    mix: dict[str, int] = {}
    for kind, res in zip(kinds, results):
        mix[kind] = mix.get(kind, 0) + 1
        if res:
            with_hit[kind] = with_hit.get(kind, 0) + 1
        for m in res:
            hits[m.match_type] = hits.get(m.match_type, 0) + 1
    return WatchlistBench(entries, min(wildcards, entries), len(batch), max_cost, build_s,
                          (rss1 - rss0) / 2**20, (rss2 - rss1) / 2**20, match_s,
                          len(batch) / match_s if match_s else float("inf"), match_cpu_s,
                          len(batch) / match_cpu_s if match_cpu_s else float("inf"), hits, with_hit, mix)


def format_report(b: WatchlistBench) -> str:
    lines = [
        f"entries          {b.entries:,} ({b.wildcards:,} wildcard patterns), list threshold {b.max_cost}",
        f"index build      {b.build_s:.1f} s",
        f"memory (RSS)     entries {b.entries_rss_mb:,.0f} MiB, index {b.index_rss_mb:,.0f} MiB",
        f"reads            {b.reads:,}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(b.read_mix.items())),
        f"matched          {b.reads_per_s:,.0f} reads/s on one core ({b.match_s:.2f} s wall; "
        f"{b.reads_per_cpu_s:,.0f} reads per CPU-second)",
        "reads with a hit " + ", ".join(f"{k} {b.reads_with_hit.get(k, 0):,}/{v:,}" for k, v in sorted(b.read_mix.items())),
        "hits by type     " + (", ".join(f"{k} {v:,}" for k, v in sorted(b.hits.items())) or "none"),
    ]
    return "\n".join(lines)
