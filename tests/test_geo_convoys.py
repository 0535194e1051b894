"""Convoy scoring, pure (no database): background-aware ranking on a synthetic corridor."""

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from geo.convoys import ConvoyRules, CoSighting, TargetPassage, passage_chances, score_candidates
from geo.scenarios import CAMERA_RATES_PER_H, corridor_traffic

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def reference_inputs(sightings, target, rules):
    """What lapi.store.geo fetches, computed by brute force over the scenario's sightings."""
    by_cam = defaultdict(list)
    for s in sightings:
        by_cam[s.camera_id].append(s)
    for rows in by_cam.values():
        rows.sort(key=lambda s: s.time)
    times = {c: [s.time for s in rows] for c, rows in by_cam.items()}
    passages, co = [], []
    for s in sorted((s for s in sightings if s.plate == target), key=lambda s: s.time):
        ts = times[s.camera_id]
        around = bisect_right(ts, s.time + rules.rate_window) - bisect_left(ts, s.time - rules.rate_window)
        passages.append(TargetPassage(s.camera_id, s.time, around))
        lo, hi = bisect_left(ts, s.time - rules.dt), bisect_right(ts, s.time + rules.dt)
        co += [CoSighting(o.plate, o.camera_id, s.time, o.time) for o in by_cam[s.camera_id][lo:hi] if o.plate != target]
    start = passages[0].time - rules.rate_window
    end = passages[-1].time + rules.rate_window
    cams = {p.camera_id for p in passages}
    population = len({s.plate for s in sightings if s.camera_id in cams and start <= s.time <= end})
    return passages, co, population


@pytest.fixture(scope="module")
def corridor():
    return corridor_traffic(T0, hours=2.0, seed=6)


def test_scenario_traffic_matches_the_camera_rates(corridor):
    counts = defaultdict(int)
    for s in corridor.sightings:
        counts[s.camera_id] += 1
    for cam, rate in CAMERA_RATES_PER_H.items():
        assert abs(counts[cam] - rate * 2) < 4 * math.sqrt(rate * 2), cam  # Poisson: within 4 sd


def test_companion_ranks_first_and_the_quiet_scout_above_the_busy_decoy(corridor):
    rules = ConvoyRules(k=3, dt=timedelta(minutes=2))
    ranked = score_candidates(*reference_inputs(corridor.sightings, corridor.target, rules), rules)
    plates = [c.plate for c in ranked]
    assert plates[0] == corridor.companion
    assert ranked[0].cameras == 6 and ranked[0].position == "behind"
    assert corridor.quiet_scout in plates and corridor.busy_decoy in plates
    scout = ranked[plates.index(corridor.quiet_scout)]
    decoy = ranked[plates.index(corridor.busy_decoy)]
    # both share exactly three cameras with the target; the quiet ones are the surprising ones
    assert scout.cameras == decoy.cameras == 3
    assert scout.score > decoy.score + 2
    # at the default threshold (1.0: fewer than 1 in 10 by chance) the scout is news, the decoy is what
    # chance produces on a busy motorway
    assert scout.score > 1.0 > decoy.score
    assert scout.position == "ahead"


BUSY = {"a26-setques", "a16-calais-est", "a16-coquelles"}


def test_busy_cameras_alone_never_make_a_notable_candidate(corridor):
    rules = ConvoyRules(k=2, dt=timedelta(minutes=2))
    ranked = score_candidates(*reference_inputs(corridor.sightings, corridor.target, rules), rules)
    assert ranked[0].plate == corridor.companion
    busy_only = [c for c in ranked if {m.camera_id for m in c.matches} <= BUSY]
    assert len(busy_only) >= 2 and corridor.busy_decoy in [c.plate for c in busy_only]
    assert all(c.score < 1.0 for c in busy_only)


def test_k_filters_candidates(corridor):
    rules = ConvoyRules(k=4, dt=timedelta(minutes=2))
    ranked = score_candidates(*reference_inputs(corridor.sightings, corridor.target, rules), rules)
    assert corridor.companion in [c.plate for c in ranked]
    assert all(c.cameras >= 4 for c in ranked)
    assert corridor.quiet_scout not in [c.plate for c in ranked]


def test_chance_follows_the_camera_rate_and_the_window():
    rules = ConvoyRules(k=2, dt=timedelta(minutes=1), rate_window=timedelta(minutes=30))
    busy = TargetPassage("busy", T0, 1001)    # 1000 others in an hour
    quiet = TargetPassage("quiet", T0 + timedelta(minutes=5), 11)  # 10 others
    chances = passage_chances([busy, quiet], population=2000, rules=rules)
    # 1000 vehicles/h -> 1000 * (2 min / 60 min) = 33.3 within +-1 min, out of 2000
    assert chances[("busy", T0)] == pytest.approx(1000 * (1 / 30) / 2000)
    assert chances[("quiet", quiet.time)] == pytest.approx(10 * (1 / 30) / 2000)


def test_score_is_minus_log_of_expected_chance_matches():
    rules = ConvoyRules(k=2, dt=timedelta(minutes=1), rate_window=timedelta(minutes=30))
    passages = [TargetPassage("a", T0, 301), TargetPassage("b", T0 + timedelta(minutes=10), 31),
                TargetPassage("c", T0 + timedelta(minutes=20), 61)]
    co = [CoSighting("X", "a", T0, T0 + timedelta(seconds=30)),
          CoSighting("X", "b", passages[1].time, passages[1].time + timedelta(seconds=40)),
          CoSighting("Y", "a", T0, T0 - timedelta(seconds=5)),          # only one camera: below k
          CoSighting("X", "c", passages[2].time, passages[2].time + timedelta(minutes=5))]  # beyond dt: ignored
    (x,) = score_candidates(passages, co, population=1000, rules=rules)
    pa, pb = 300 / 30 / 1000, 30 / 30 / 1000
    expected = 1000 * math.comb(3, 2) * pa * pb
    assert x.plate == "X" and x.cameras == 2
    assert x.expected == pytest.approx(expected) and x.score == pytest.approx(-math.log10(expected))
    assert x.as_dict()["matches"][0]["offset_s"] == 30.0


def test_repeated_passages_at_one_camera_count_once():
    rules = ConvoyRules(k=2, dt=timedelta(minutes=1))
    passages = [TargetPassage("a", T0, 50), TargetPassage("a", T0 + timedelta(hours=2), 50)]
    co = [CoSighting("X", "a", T0, T0), CoSighting("X", "a", passages[1].time, passages[1].time)]
    assert score_candidates(passages, co, 100, rules) == []


def test_no_passages_no_candidates():
    assert score_candidates([], [], 0) == []
