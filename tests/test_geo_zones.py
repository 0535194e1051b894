"""Departure zones: the shipped file, the loader's errors, the [geo] config section (no database)."""

import copy
import json
from pathlib import Path

import pytest
from shapely.geometry import Polygon

from geo.zones import ZoneError, load_zones, parse_zones
from lapi.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "configs" / "departure_zones.geojson"

EXPECTED_SECTORS = ["Dunkerque / Loon-Plage", "Gravelines", "Calais / Sangatte / Wissant", "Wimereux",
                    "Boulogne-sur-Mer / Le Portel / Équihen", "Hardelot", "Le Touquet / Stella", "Berck"]

# beaches and dunes (lon, lat) -> the sector they belong to
BEACHES = [
    ("Malo-les-Bains", 2.395, 51.054, "Dunkerque / Loon-Plage"),
    ("Zuydcoote", 2.490, 51.074, "Dunkerque / Loon-Plage"),
    ("Petit-Fort-Philippe", 2.109, 51.004, "Gravelines"),
    ("Oye-Plage", 2.040, 50.998, "Gravelines"),
    ("Calais beach", 1.840, 50.963, "Calais / Sangatte / Wissant"),
    ("Sangatte", 1.752, 50.944, "Calais / Sangatte / Wissant"),
    ("Wissant", 1.662, 50.886, "Calais / Sangatte / Wissant"),
    ("Audresselles", 1.593, 50.823, "Wimereux"),
    ("Wimereux", 1.607, 50.770, "Wimereux"),
    ("Boulogne beach", 1.597, 50.728, "Boulogne-sur-Mer / Le Portel / Équihen"),
    ("Équihen-Plage", 1.569, 50.677, "Boulogne-sur-Mer / Le Portel / Équihen"),
    ("Hardelot-Plage", 1.578, 50.634, "Hardelot"),
    ("Sainte-Cécile", 1.583, 50.575, "Hardelot"),
    ("Le Touquet", 1.580, 50.520, "Le Touquet / Stella"),
    ("Stella-Plage", 1.577, 50.475, "Le Touquet / Stella"),
    ("Berck-Plage", 1.560, 50.400, "Berck"),
]


@pytest.fixture(scope="module")
def shipped():
    return load_zones(SHIPPED)


def _doc():
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_file_has_the_eight_sectors_with_sources(shipped):
    assert shipped.names == EXPECTED_SECTORS
    for zone in shipped:
        assert zone.source and zone.projected.area > 5e6  # several km2 each


def test_shipped_file_is_rfc7946_counter_clockwise_lon_lat():
    for f in _doc()["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and Polygon(ring).exterior.is_ccw, f["properties"]["name"]
        assert all(1.4 < lon < 2.7 and 50.3 < lat < 51.2 for lon, lat in ring)


@pytest.mark.parametrize("place,lon,lat,sector", BEACHES, ids=[b[0] for b in BEACHES])
def test_each_beach_lies_in_its_sector_and_only_there(shipped, place, lon, lat, sector):
    assert [z.name for z in shipped.containing(lon, lat)] == [sector]
    nearest = shipped.nearest(lon, lat)
    assert nearest.zone.name == sector and nearest.distance_m == 0.0


def test_sectors_do_not_overlap(shipped):
    zones = list(shipped)
    for i, a in enumerate(zones):
        for b in zones[i + 1:]:
            assert a.projected.intersection(b.projected).area < 1.0, (a.name, b.name)


def test_inland_towns_are_outside_and_measured_in_metres(shipped):
    assert shipped.containing(2.2522, 50.7500) == []  # Saint-Omer, some 30 km inland
    d = shipped.nearest(2.2522, 50.7500)
    assert 20_000 < d.distance_m < 45_000
    assert shipped.containing(1.7081, 50.8128) == []  # Marquise, between Calais and Boulogne
    assert 3_000 < shipped.nearest(1.7081, 50.8128).distance_m < 10_000


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(type="Feature"), "must be a GeoJSON FeatureCollection"),
    (lambda d: d.update(features=[]), "features must be a non-empty array"),
    (lambda d: d["features"][2]["properties"].pop("name"), "feature 2: properties.name must be a non-empty string"),
    (lambda d: d["features"][3]["properties"].update(name="Gravelines"),
     "feature 3 ('Gravelines'): duplicate name (also feature 1)"),
    (lambda d: d["features"][1].update(geometry={"type": "Point", "coordinates": [2.1, 51.0]}),
     "feature 1 ('Gravelines'): geometry must be a Polygon or MultiPolygon"),
    (lambda d: d["features"][0]["geometry"].update(coordinates=[[[2.3, 51.0], [2.4, 51.1], [2.3, 51.0]]]),
     "feature 0 ('Dunkerque / Loon-Plage'): geometry: a linear ring needs at least 4 positions"),
    (lambda d: d["features"][4]["geometry"].update(
        coordinates=[[[1.55, 50.70], [1.60, 50.75], [1.60, 50.70], [1.55, 50.75], [1.55, 50.70]]]),
     "feature 4 ('Boulogne-sur-Mer / Le Portel / Équihen'): invalid polygon (Self-intersection"),
    (lambda d: d["features"][5]["geometry"].update(
        coordinates=[[[50.60, 1.55], [50.60, 1.60], [50.65, 1.60], [50.65, 1.55], [50.60, 1.55]]]),
     "feature 5 ('Hardelot'): extends outside metropolitan France"),
    (lambda d: d["features"][6]["geometry"].update(
        coordinates=[[[1.55, 50.5], [1.6, 50.5], [1.6, 95.0], [1.55, 50.5]]]),
     "feature 6 ('Le Touquet / Stella'): geometry: position [1.6, 95.0] is out of range"),
    (lambda d: d["features"][7]["geometry"].update(coordinates=[[["1.5", 50.4], [1.6, 50.4], [1.6, 50.5], ["1.5", 50.4]]]),
     "feature 7 ('Berck'): geometry: every position must be [lon, lat] numbers"),
])
def test_bad_files_name_the_feature(mutate, message):
    doc = copy.deepcopy(_doc())
    mutate(doc)
    with pytest.raises(ZoneError) as err:
        parse_zones(doc)
    assert message in str(err.value)


def test_clockwise_rings_are_accepted_and_oriented():
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "cw"}, "geometry": {
        "type": "Polygon", "coordinates": [[[1.6, 50.4], [1.6, 50.5], [1.7, 50.5], [1.7, 50.4], [1.6, 50.4]]]}}]}
    (zone,) = parse_zones(doc)
    assert zone.geometry.exterior.is_ccw and zone.contains(1.65, 50.45)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ZoneError, match="cannot be read"):
        load_zones(tmp_path / "missing.geojson")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(ZoneError, match=r"bad.geojson: is not valid JSON"):
        load_zones(bad)


# [geo] in the service config ------------------------------------------------------------------

def _config(tmp_path: Path, geo: str) -> Path:
    cfg = tmp_path / "configs" / "lapi.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(geo)
    (tmp_path / "models").symlink_to(ROOT / "models")
    return cfg


def test_shipped_config_loads_the_shipped_zones():
    s = load_settings(ROOT / "configs" / "lapi.toml", env={})
    assert s.geo.departure_zones == SHIPPED and s.geo.zones.names == EXPECTED_SECTORS


def test_config_takes_the_users_own_zone_file(tmp_path):
    own = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Plage test"},
           "geometry": {"type": "Polygon", "coordinates": [[[1.6, 50.4], [1.7, 50.4], [1.7, 50.5], [1.6, 50.4]]]}}]}
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.geojson").write_text(json.dumps(own))
    s = load_settings(_config(tmp_path, '[geo]\ndeparture_zones = "configs/mine.geojson"\ncotravel_k = 4\n'), env={})
    assert s.geo.zones.names == ["Plage test"] and s.geo.cotravel_k == 4


@pytest.mark.parametrize("text,message", [
    ('[geo]\ndeparture_zones = "configs/none.geojson"\n', "geo.departure_zones: "),
    ('[geo]\ndeparture_zones = ""\n', "geo.departure_zones: must be a path"),
    ("[geo]\ncotravel_k = 1\n", "geo.cotravel_k: must be between 2 and 50"),
    ('[geo]\ntrip_gap_s = "1h"\n', "geo.trip_gap_s: must be int"),
    ("[geo]\napproach_alert = true\n", "geo.approach_alert: unknown key"),
])
def test_bad_geo_config_names_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_settings(_config(tmp_path, text), env={})
    assert str(err.value).startswith(message)


def test_broken_zone_file_fails_start_up_naming_the_feature(tmp_path):
    doc = _doc()
    doc["features"][3]["properties"]["name"] = "Berck"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "z.geojson").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=r"^geo.departure_zones: .*z.geojson: feature 7 \('Berck'\): duplicate name"):
        load_settings(_config(tmp_path, '[geo]\ndeparture_zones = "configs/z.geojson"\n'), env={})
