"""Route reconstruction, pure (no database): trips, hops, plausibility, GeoJSON."""

import json
import math
import random
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from geo.geodesy import haversine_m
from geo.routes import (UNIX_EPOCH, Observation, RouteRules, Track, _number_width, _write_int, _write_iso,
                        _write_number, build_route, observations_from_track)
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
    doc = route.to_geojson("full", plate_norm="GV073KP")
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


# GeoJSON written as text ---------------------------------------------------------------------------

def reference_geojson(route) -> dict:
    """What the route's GeoJSON says, built the slow way (dicts from Trip objects, json round trip):
    what the text writer must reproduce with points="full"."""
    lines, points = [], []
    for trip in route.trips:
        coords = [[round(float(x), 6), round(float(y), 6)] for x, y in zip(trip.lon, trip.lat)]
        lines.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}
                      if len(coords) > 1 else None, "properties": {"feature": "trip", **trip.summary()}})
        hops = [None] + [h.as_dict() for h in trip.hops]
        for i, (o, hop) in enumerate(zip(trip.observations, hops)):
            props = {"feature": "observation", "trip": trip.number, "index": i, "time": o.time.isoformat(), "kind": o.kind}
            if o.kind == "sighting":
                props |= {"camera_id": o.source, "read_id": o.read_id}
            else:
                props |= {"beacon_id": o.source, "speed_kmh": None if o.speed_kmh is None else round(o.speed_kmh, 2)}
            points.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(o.lon, 6), round(o.lat, 6)]},
                           "properties": props | {"hop": hop}})
    return json.loads(json.dumps({"type": "FeatureCollection", "trips": len(route.trips),
                                  "observations": route.observations, "unlocated": route.unlocated,
                                  "features": lines + points}))


def messy_observations(seed: int, n: int) -> list[Observation]:
    """Fractions of seconds and whole ones, same-instant pairs, hour-long gaps, both hemispheres,
    camera reads and beacon fixes with and without a reported speed."""
    rng = random.Random(seed)
    t, out = T0, []
    for i in range(n):
        t += timedelta(seconds=rng.choice([0, 1e-6, 1, 5, 5.5, 30, 3600, 0.123456]))
        lat, lon = (50.7133, 2.1601) if rng.random() < 0.3 else (rng.uniform(-89, 89), rng.uniform(-179.9, 179.9))
        if rng.random() < 0.5:
            out.append(Observation(t, lat, lon, "sighting", rng.choice(["a16-calais-est", "cam.b:1", "x"]), None,
                                   rng.randint(1, 10**12)))
        else:
            out.append(Observation(t, lat, lon, "ping", rng.choice(["B1", "B-2"]),
                                   rng.choice([None, 0.0, 12.34, 99.95, 250.0, 17.125])))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_full_points_say_exactly_what_the_slow_reference_says(seed):
    obs = messy_observations(seed, 300)
    route = build_route(obs, RouteRules(gap=timedelta(minutes=30)), unlocated=2)
    doc = route.to_geojson("full")
    assert doc.pop("points") == "full"
    assert doc == reference_geojson(route)
    assert len(route.trips) > 1


def test_compact_points_drop_only_what_can_be_derived_and_none_keeps_the_trips():
    route = build_route(messy_observations(11, 200), RouteRules(gap=timedelta(minutes=30)))
    full, compact, bare = (route.to_geojson(p, plate_norm="GV073KP") for p in ("full", "compact", "none"))
    assert (full["points"], compact["points"], bare["points"]) == ("full", "compact", "none")
    trips = [f for f in full["features"] if f["properties"]["feature"] == "trip"]
    assert [f for f in compact["features"] if f["properties"]["feature"] == "trip"] == trips == bare["features"]
    full_points = [f for f in full["features"] if f["properties"]["feature"] == "observation"]
    compact_points = [f for f in compact["features"] if f["properties"]["feature"] == "observation"]
    assert len(compact_points) == len(full_points) == route.observations
    for f, c in zip(full_points, compact_points):
        assert f["geometry"] == c["geometry"]
        hop = f["properties"]["hop"]
        expect = {k: v for k, v in f["properties"].items() if k not in ("index", "kind", "hop")}
        expect["hop"] = None if hop is None else {"speed_kmh": hop["speed_kmh"], "plausible": hop["plausible"]}
        assert c["properties"] == expect
    # the derived fields can indeed be derived: seconds from the times, metres from the positions
    for a, b in zip(full_points, full_points[1:]):
        if b["properties"]["hop"] is not None:
            seconds = (datetime.fromisoformat(b["properties"]["time"]) -
                       datetime.fromisoformat(a["properties"]["time"])).total_seconds()
            assert b["properties"]["hop"]["seconds"] == pytest.approx(seconds, abs=1e-3)
            (x1, y1), (x2, y2) = a["geometry"]["coordinates"], b["geometry"]["coordinates"]
            assert b["properties"]["hop"]["distance_m"] == pytest.approx(haversine_m(y1, x1, y2, x2), abs=0.2)


def test_geojson_text_is_plain_json_padded_only_with_whitespace():
    route = build_route(messy_observations(3, 100))
    for points in ("full", "compact", "none"):
        text = bytes(route.geojson_text(points, plate_norm="GV073KP", note="é"))
        doc = json.loads(text)
        assert doc["note"] == "é" and text.decode("utf-8")
        assert set(text) <= set(range(32, 127)) | set("é".encode())   # no control byte
        squeezed = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(text) - text.count(b" ") <= len(squeezed)   # only spaces added (strings here have none)
        for f in doc["features"]:
            g = f["geometry"]
            if g is not None:
                coords = [g["coordinates"]] if g["type"] == "Point" else g["coordinates"]
                assert all(len(c) == 2 and -180 <= c[0] <= 180 and -90 <= c[1] <= 90 for c in coords)
    with pytest.raises(ValueError, match="points: must be one of"):
        route.geojson_text("everything")


def written(values, decimals: int | None) -> list[str]:
    """Each value as the slot writers write it (decimals None: integers)."""
    v = np.asarray(values, float if decimals is not None else np.int64)
    width = _number_width(v, decimals) if decimals is not None else len(str(np.abs(v).max())) + 1
    cols = np.full((len(v), width), 32, np.uint8)
    _write_number(cols, v, decimals) if decimals is not None else _write_int(cols, v)
    return [bytes(row).decode().strip() for row in cols]


def test_numbers_are_written_as_json_would_write_them_rounded():
    assert written([0.0, -0.04, -1.25, 12345.678, math.nan, 100.0, 0.5, -250.05, 3e20, -7.0], 1) == \
        ["0.0", "0.0", "-1.2", "12345.7", "null", "100.0", "0.5", "-250.0", "300000000000000000000.0", "-7.0"]
    assert written([2.1601, 50.7133, -0.000001, 179.9999996], 6) == ["2.1601", "50.7133", "-0.000001", "180.0"]
    assert written([0, 7, -12, 10**12, 2**31 + 5], None) == ["0", "7", "-12", "1000000000000", "2147483653"]
    rng = np.random.default_rng(7)
    for decimals in (1, 2, 3, 6):
        values = np.concatenate([rng.normal(0, 10.0 ** rng.integers(0, 8), 2000), [9.95, 99.95, 0.05, -0.05]])
        for text, value in zip(written(values, decimals), values):
            parsed = json.loads(text)
            assert abs(parsed - value) <= 0.5 * 10.0 ** -decimals * (1 + 1e-9) + abs(value) * 1e-15
            whole, _, fraction = text.lstrip("-").partition(".")
            assert len(fraction) >= 1 and (len(fraction) == 1 or not fraction.endswith("0"))   # as json.dumps
            assert whole == "0" or not whole.startswith("0")


@pytest.mark.parametrize("fraction", [True, False])
def test_times_are_written_as_isoformat_writes_them(fraction):
    rng = np.random.default_rng(3)
    edges = [datetime(y, m, d, tzinfo=timezone.utc) for y, m, d in
             [(1970, 1, 1), (1969, 12, 31), (1900, 3, 1), (2000, 2, 29), (2100, 2, 28), (2100, 3, 1), (2400, 2, 29),
              (9999, 12, 31), (1, 1, 1)]]
    us = np.concatenate([[(e - UNIX_EPOCH) // timedelta(microseconds=1) for e in edges],
                         rng.integers(-2 * 10**15, 4 * 10**15, 5000)])
    if not fraction:
        us = us // 1_000_000 * 1_000_000
    else:
        us[::3] = us[::3] // 1_000_000 * 1_000_000   # whole seconds among the others
    template = b'0000-00-00T00:00:00.000000+00:00"' if fraction else b'0000-00-00T00:00:00+00:00"'
    cols = np.empty((len(us), len(template)), np.uint8)
    cols[:] = np.frombuffer(template, np.uint8)
    _write_iso(cols, us, fraction)
    for row, t in zip(cols, us.tolist()):
        assert bytes(row).decode().rstrip(" ") == (UNIX_EPOCH + timedelta(microseconds=t)).isoformat() + '"'


def test_tracks_merge_and_sort_as_the_store_orders_them():
    """A beacon fix comes before a camera read of the same instant (ORDER BY time, kind)."""
    read = Observation(T0, 50.9, 1.8, "sighting", "c1", None, 5)
    fix = Observation(T0, 50.9001, 1.8, "ping", "B1", 60.0)
    later = Observation(T0 + timedelta(seconds=1), 50.91, 1.8, "ping", "B1", None)
    merged = Track.concat([Track.from_observations([later, read]), Track.from_observations([fix])]).in_time_order()
    assert [merged.observation(i) for i in range(3)] == [fix, read, later]
    assert merged.sources == ("B1", "c1", "B1") and len(Track.concat([])) == 0
