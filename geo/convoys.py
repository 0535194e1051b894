"""Convoy / co-travel scoring: which vehicles keep turning up next to the target, beyond chance?

Any vehicle can pass a busy motorway camera within two minutes of the target; few pass a village
camera at that moment.  So each co-occurrence is weighed by the camera's background traffic at
that time of day:

* around each target passage, the camera's read count within ±``rate_window`` gives its rate;
  ``μ = rate × 2·dt`` vehicles pass within ±``dt`` of the target by chance;
* out of the ``N`` distinct vehicles seen at the target's cameras over the trip, a given
  unrelated one is among those μ with probability ``p = μ / N``;
* a candidate seen with the target at cameras S (its least likely passage at each) would do so
  by chance with probability ``Π p``; among N vehicles, and over the ``C(m, |S|)`` ways of choosing
  |S| of the target's m cameras, the expected number of chance matches this good is
  ``E = N · C(m, |S|) · Π p``.

The score is ``-log10 E``: above 0, fewer than one vehicle would match like this by chance; 2
means one in a hundred.  Independence between cameras is assumed, which flatters through
traffic on one motorway a little — it is a ranking aid, not a court-grade probability.  Pure: the
store fetches passages, co-sightings and N (:mod:`lapi.store.geo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable


@dataclass(frozen=True)
class ConvoyRules:
    k: int = 3                                    # distinct cameras shared with the target, at least
    dt: timedelta = timedelta(minutes=2)          # within this of the target's passage
    rate_window: timedelta = timedelta(minutes=30)  # background rate measured over ± this


@dataclass(frozen=True)
class TargetPassage:
    camera_id: str
    time: datetime
    around: int          # reads at this camera within ± rate_window (the target's own included)


@dataclass(frozen=True)
class CoSighting:
    plate: str
    camera_id: str
    target_time: datetime   # the target passage it is near
    time: datetime


@dataclass(frozen=True)
class Match:
    camera_id: str
    target_time: datetime
    time: datetime
    chance: float           # p: probability an unrelated vehicle is this close to the target here

    @property
    def offset_s(self) -> float:
        return (self.time - self.target_time).total_seconds()


@dataclass(frozen=True)
class Candidate:
    plate: str
    matches: list[Match]    # one per camera, the least likely passage there
    expected: float         # E: vehicles expected to match this well by chance
    score: float            # -log10 E

    @property
    def cameras(self) -> int:
        return len(self.matches)

    @property
    def position(self) -> str:
        """Whether it keeps behind the target (following), ahead of it (scouting) or neither."""
        offsets = [m.offset_s for m in self.matches]
        if all(o > 0 for o in offsets):
            return "behind"
        if all(o < 0 for o in offsets):
            return "ahead"
        return "mixed"

    def as_dict(self) -> dict[str, Any]:
        return {"plate_norm": self.plate, "cameras": self.cameras, "score": round(self.score, 2),
                "expected_by_chance": float(f"{self.expected:.3g}"), "position": self.position,
                "mean_offset_s": round(sum(m.offset_s for m in self.matches) / len(self.matches), 1),
                "matches": [{"camera_id": m.camera_id, "target_time": m.target_time.isoformat(),
                             "time": m.time.isoformat(), "offset_s": round(m.offset_s, 1),
                             "chance": float(f"{m.chance:.3g}")} for m in self.matches]}


def passage_chances(passages: list[TargetPassage], population: int, rules: ConvoyRules) -> dict[tuple[str, datetime], float]:
    """p for every target passage: the camera's background within ±dt over the vehicles around."""
    n = max(population, 1)
    window_s = rules.rate_window.total_seconds()
    share = min(1.0, rules.dt.total_seconds() / window_s) if window_s > 0 else 1.0
    out = {}
    for p in passages:
        own = sum(1 for q in passages if q.camera_id == p.camera_id and abs((q.time - p.time).total_seconds()) <= window_s)
        background = max(p.around - own, 1)  # the candidate itself is traffic there
        out[(p.camera_id, p.time)] = min(1.0, background * share / n)
    return out


def score_candidates(passages: list[TargetPassage], co_sightings: Iterable[CoSighting], population: int,
                     rules: ConvoyRules = ConvoyRules()) -> list[Candidate]:
    """Vehicles seen within ``dt`` of the target at ``k`` or more distinct cameras, most surprising first."""
    chances = passage_chances(passages, population, rules)
    m = len({p.camera_id for p in passages})
    best: dict[str, dict[str, Match]] = {}
    dt_s = rules.dt.total_seconds()
    for s in co_sightings:
        chance = chances.get((s.camera_id, s.target_time))
        if chance is None or abs((s.time - s.target_time).total_seconds()) > dt_s:
            continue
        per_camera = best.setdefault(s.plate, {})
        current = per_camera.get(s.camera_id)
        if current is None or (chance, abs((s.time - s.target_time).total_seconds())) < (current.chance, abs(current.offset_s)):
            per_camera[s.camera_id] = Match(s.camera_id, s.target_time, s.time, chance)
    n = max(population, 1)
    out = []
    for plate, per_camera in best.items():
        if len(per_camera) < rules.k:
            continue
        matches = sorted(per_camera.values(), key=lambda x: x.target_time)
        log_e = (math.log10(n) + math.log10(math.comb(max(m, len(matches)), len(matches)))
                 + sum(math.log10(x.chance) for x in matches))
        out.append(Candidate(plate, matches, 10 ** log_e, -log_e))
    out.sort(key=lambda c: (-c.score, -c.cameras, c.plate))
    return out
