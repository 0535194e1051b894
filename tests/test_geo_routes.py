"""Route reconstruction, pure (no database): trips, hops, plausibility, GeoJSON."""

from datetime import datetime, timedelta, timezone

import pytest

from geo.geodesy import haversine_m
from geo.routes import Observation, RouteRules, build_route, observations_from_track
from geo.scenarios import A26_A16_TO_SANGATTE, drive

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)
CAMERAS = {w.camera: w for w in A26_A16_TO_SANGATTE if w.camera}


def journey(start: datetime, fix_every_s: float = 30.0) -> list[Observation]:
    """Beacon fixes and camera sightings of one vehicle driving the A26/A16 to Sangatte."""
    fixes, passes = drive(start, 110.0, fix_every_s)
    obs = [Observation(f.time, f.lat, f.lon, "ping", "B1", f.speed_kmh) for f in fixes]
    obs += [Observation(t, CAMERAS[c].lat, CAMERAS[c].lon, "sighting", c, None, i) for i, (c, t) in enumerate(passes.items())]
    return obs


def path_length(route=A26_A16_TO_SANGATTE) -> float:
    return sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in zip(route[:-1], route[1:]))


def test_one_journey_is_one_trip_with_its_length_and_speed():
    route = build_route(journey(T0))
    (trip,) = route.trips
    assert trip.start == T0 and trip.observations[-1].kind in ("ping", "sighting")
    assert trip.distance_m == pytest.approx(path_length(), rel=0.01)
    assert trip.mean_speed_kmh == pytest.approx(110.0, rel=0.01)
    assert trip.implausible_hops == 0
    assert {o.kind for o in trip.observations} == {"ping", "sighting"}
    assert [o.time for o in trip.observations] == sorted(o.time for o in trip.observations)


def test_gaps_longer_than_the_rule_split_trips():
    obs = journey(T0) + journey(T0 + timedelta(hours=3))
    route = build_route(obs, RouteRules(gap=timedelta(minutes=30)))
    assert len(route.trips) == 2
    first, second = route.trips
    assert first.end < second.start and second.start == T0 + timedelta(hours=3)
    assert [t.number for t in route.trips] == [1, 2]
    # a gap rule longer than the pause joins them, and the hop across the pause is slow, not implausible
    joined = build_route(obs, RouteRules(gap=timedelta(hours=4)))
    assert len(joined.trips) == 1 and joined.trips[0].implausible_hops == 0


def test_a_read_far_away_minutes_later_is_flagged_implausible():
    obs = [o for o in journey(T0) if o.kind == "sighting"]
    calais = next(o for o in obs if o.source == "a16-calais-est")
    # the same plate "read" at Berck three minutes after Calais: ~70 km in 3 min
    obs.append(Observation(calais.time + timedelta(minutes=3), 50.4005, 1.5631, "sighting", "berck", None, 99))
    (trip,) = build_route(obs).trips
    bad = [h for h in trip.hops if not h.plausible]
    assert len(bad) == 2  # into Berck and back out of it
    into = bad[0]
    assert trip.observations[into.index].source == "berck"
    assert into.speed_kmh > 1000 and into.seconds == pytest.approx(180.0)


def test_same_instant_reads_at_one_camera_are_plausible_far_ones_are_not():
    obs = [Observation(T0, 50.95, 1.85, "sighting", "c1", None, 1),
           Observation(T0, 50.95, 1.85, "sighting", "c1", None, 2),
           Observation(T0, 50.40, 1.56, "sighting", "c2", None, 3)]
    (trip,) = build_route(obs).trips
    assert [h.plausible for h in trip.hops] == [True, False]
    assert trip.hops[0].speed_kmh is None and trip.mean_speed_kmh is None


def test_noise_between_a_ping_and_a_camera_read_at_the_same_moment_is_tolerated():
    obs = [Observation(T0, 50.9436, 1.9057, "sighting", "a16-calais-est", None, 1),
           Observation(T0 + timedelta(seconds=1), 50.9440, 1.9060, "ping", "B1", 110.0)]  # ~50 m in 1 s
    (trip,) = build_route(obs, RouteRules(position_noise_m=100)).trips
    assert trip.hops[0].plausible


def test_geojson_has_a_linestring_per_trip_and_a_point_per_observation():
    obs = journey(T0, fix_every_s=60) + [Observation(T0 + timedelta(hours=5), 50.40, 1.56, "sighting", "berck", None, 7)]
    route = build_route(obs)
    doc = route.to_geojson(plate_norm="GV073KP")
    assert doc["type"] == "FeatureCollection" and doc["plate_norm"] == "GV073KP" and doc["trips"] == 2
    lines = [f for f in doc["features"] if f["properties"]["feature"] == "trip"]
    points = [f for f in doc["features"] if f["properties"]["feature"] == "observation"]
    assert len(points) == len(obs) == doc["observations"]
    assert lines[0]["geometry"]["type"] == "LineString"
    assert lines[1]["geometry"] is None  # a trip of one observation has no line
    lon, lat = lines[0]["geometry"]["coordinates"][0]
    assert (lon, lat) == (2.1601, 50.7133)  # lon/lat order (RFC 7946)
    assert lines[0]["properties"]["distance_m"] == pytest.approx(path_length(), rel=0.01)
    assert points[0]["properties"]["hop"] is None and points[1]["properties"]["hop"]["plausible"] is True
    cams = [p["properties"] for p in points if p["properties"]["kind"] == "sighting"]
    assert cams[0]["camera_id"] == "a26-setques" and "read_id" in cams[0]


def test_no_observations_is_an_empty_route():
    route = build_route([], unlocated=2)
    assert route.trips == [] and route.to_geojson()["features"] == [] and route.unlocated == 2


def test_track_rows_without_a_position_are_counted_not_routed():
    rows = [{"kind": "sighting", "time": T0, "lat": None, "lon": None, "camera_id": "x", "beacon_id": None,
             "read_id": 1, "speed_kmh": None},
            {"kind": "ping", "time": T0, "lat": 50.9, "lon": 1.8, "camera_id": None, "beacon_id": "B1",
             "read_id": None, "speed_kmh": 42.0}]
    obs, unlocated = observations_from_track(rows)
    assert unlocated == 1 and obs == [Observation(T0, 50.9, 1.8, "ping", "B1", 42.0)]
