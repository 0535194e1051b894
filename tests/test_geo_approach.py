"""Approach to the coast, pure (no database): trend, ETA, alerts, zone enter/exit."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from geo.approach import ApproachRules, ZoneWatch, assess, recent_of_latest_trip
from geo.routes import Observation
from geo.scenarios import A26_A16_TO_SANGATTE, drive
from geo.zones import load_zones

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
CALAIS = "Calais / Sangatte / Wissant"


@pytest.fixture(scope="module")
def zones():
    return load_zones(ROOT / "configs" / "departure_zones.geojson")


def fixes_as_observations(fixes):
    return [Observation(f.time, f.lat, f.lon, "ping", "B1", f.speed_kmh) for f in fixes]


def replay(observations, zones, rules):
    """Feed observations one at a time, as the live watch does; collect (time, event, zone approach)."""
    watch, seen, events = ZoneWatch(), [], []
    for o in observations:
        seen.append(o)
        approach = assess(seen, zones, rules)
        events += [(o.time, kind, z) for kind, z in watch.update(approach, rules)]
    return events


def test_driving_to_sangatte_alerts_before_entering_the_calais_sector(zones):
    fixes, _ = drive(T0, 110.0, 30.0)
    rules = ApproachRules(distance_m=10_000, eta_s=1200)
    events = replay(fixes_as_observations(fixes), zones, rules)
    kinds = [(k, z.zone) for _, k, z in events]
    assert ("zone_enter", CALAIS) in kinds
    enter_at = next(t for t, k, z in events if k == "zone_enter" and z.zone == CALAIS)
    approach = [(t, z) for t, k, z in events if k == "approach" and z.zone == CALAIS]
    assert len(approach) == 1, kinds
    alert_at, z = approach[0]
    assert alert_at < enter_at
    assert z.distance_m <= 10_000 or z.eta_s <= 1200
    assert z.closing_kmh > 50 and z.heading_offset_deg < 90
    # the ETA (straight-line distance over closing rate) is the right order of magnitude
    actual = (enter_at - alert_at).total_seconds()
    assert 0.4 * actual < z.eta_s < 2.5 * actual
    assert not any(k == "zone_exit" for k, _ in kinds)


def test_driving_away_from_the_beach_raises_no_approach_to_it(zones):
    fixes, _ = drive(T0, 110.0, 30.0, route=tuple(reversed(A26_A16_TO_SANGATTE)))
    events = replay(fixes_as_observations(fixes), zones, ApproachRules())
    kinds = [(k, z.zone) for _, k, z in events]
    assert kinds[:2] == [("zone_enter", CALAIS), ("zone_exit", CALAIS)]  # starts on the beach, leaves it
    assert ("approach", CALAIS) not in kinds
    # east on the A16 it does close in on the Gravelines sector ahead, and that is reported
    others = [z for _, k, z in events if k == "approach"]
    assert all(z.heading_offset_deg < 90 and z.distance_m <= 10_000 for z in others)


def test_a_parked_vehicle_near_the_coast_is_not_closing_in(zones):
    obs = [Observation(T0 + timedelta(minutes=i), 50.90 + 1e-5 * (i % 2), 1.80, "ping", "B1", 0.0) for i in range(10)]
    a = assess(obs, zones, ApproachRules())
    assert 0 < a.nearest.distance_m < 10_000
    assert not a.nearest.closing(ApproachRules()) and a.nearest.eta_s is None and a.soonest(ApproachRules()) is None


def test_one_observation_gives_distance_but_no_trend(zones):
    a = assess([Observation(T0, 50.7133, 2.1601, "sighting", "a26-setques")], zones)
    assert a.nearest.closing_kmh is None and a.speed_kmh is None and a.heading_deg is None
    assert a.nearest.distance_m > 20_000 and a.nearest.bearing_to_zone_deg is not None
    assert assess([], zones) is None


def test_only_the_latest_trip_and_its_recent_part_count():
    rules = ApproachRules(recent=timedelta(minutes=15), trip_gap=timedelta(minutes=30))
    old_trip = [Observation(T0 + timedelta(minutes=i), 50.9, 1.8, "ping", "B1") for i in range(5)]
    new_trip = [Observation(T0 + timedelta(hours=2, minutes=i), 50.7, 2.1, "ping", "B1") for i in range(0, 40, 2)]
    recent = recent_of_latest_trip(old_trip + new_trip, rules)
    assert recent[0].time == T0 + timedelta(hours=2, minutes=24) and recent[-1] == new_trip[-1]


def test_eta_is_distance_over_closing_rate(zones):
    # straight north at 90 km/h toward Oye-Plage: the distance to the Gravelines sector shrinks at ~90 km/h
    obs = [Observation(T0 + timedelta(seconds=60 * i), 50.85 + i * 0.0225 / 1.5 / 10, 2.04, "ping", "B1") for i in range(6)]
    a = assess(obs, zones, ApproachRules())
    grav = next(z for z in a.zones if z.zone == "Gravelines")
    assert grav.closing_kmh == pytest.approx(a.speed_kmh, rel=0.05)
    assert grav.eta_s == pytest.approx(grav.distance_m / (grav.closing_kmh / 3.6), rel=1e-6)
    assert grav.heading_offset_deg < 20


def test_zone_watch_rearms_on_a_new_trip_and_ignores_late_fixes(zones):
    rules = ApproachRules()
    fixes, _ = drive(T0, 110.0, 30.0)
    obs = fixes_as_observations(fixes)
    watch = ZoneWatch()
    seen = []
    for o in obs:
        seen.append(o)
        watch.update(assess(seen, zones, rules), rules)
    assert CALAIS in watch.inside and CALAIS in watch.alerted
    # a fix from the start of the trip arriving late changes nothing
    assert watch.update(assess(seen[:3], zones, rules), rules) == []
    # next day, same vehicle far inland and driving back: a new trip, approach alerts are news again
    back, _ = drive(T0 + timedelta(days=1), 110.0, 30.0)
    events = []
    seen = []
    for o in fixes_as_observations(back):
        seen.append(o)
        events += watch.update(assess(seen, zones, rules), rules)
    assert ("approach", CALAIS) in [(k, z.zone) for k, z in events]
