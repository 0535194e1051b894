"""Pure geometry: Lambert-93 against PROJ, haversine, bearings (no database)."""

import math

import numpy as np
import pytest

from geo.geodesy import angle_between_deg, bearing_deg, haversine_m, haversine_m_array
from geo.projection import from_lambert93, scale_factor, to_lambert93

# Reference coordinates computed with PROJ 9.5.1 (pyproj 3.7.2, EPSG:4326 -> EPSG:2154,
# always_xy), rounded to the millimetre: an independent implementation of the same definition.
PROJ_REFERENCE = [
    ("projection origin", 3.0, 46.5, 700000.000, 6600000.000),
    ("Calais port", 1.863, 50.969, 619963.064, 7097584.651),
    ("Dunkerque town hall", 2.3768, 51.0343, 656187.429, 7104461.774),
    ("Berck-Plage", 1.5631, 50.4005, 597701.481, 7034586.338),
    ("Paris Notre-Dame", 2.3499, 48.853, 652296.973, 6861636.359),
    ("Strasbourg cathedral", 7.7508, 48.5818, 1050210.815, 6841826.005),
    ("Brest", -4.4861, 48.3904, 146632.979, 6836262.327),
    ("Perpignan", 2.8948, 42.6986, 691369.574, 6177671.694),
    ("Ajaccio", 8.7369, 41.9192, 1176526.602, 6108263.023),
]


@pytest.mark.parametrize("name,lon,lat,x,y", PROJ_REFERENCE, ids=[r[0] for r in PROJ_REFERENCE])
def test_lambert93_matches_proj_to_a_centimetre(name, lon, lat, x, y):
    px, py = to_lambert93(lon, lat)
    assert abs(px - x) < 0.01 and abs(py - y) < 0.01, (name, px - x, py - y)


@pytest.mark.parametrize("name,lon,lat,x,y", PROJ_REFERENCE, ids=[r[0] for r in PROJ_REFERENCE])
def test_lambert93_inverse_returns_the_point(name, lon, lat, x, y):
    qlon, qlat = from_lambert93(x, y)
    # 1e-7 degree is about a centimetre
    assert abs(qlon - lon) < 1e-7 and abs(qlat - lat) < 1e-7, name


def test_lambert93_on_arrays_equals_scalars():
    lons = np.array([r[1] for r in PROJ_REFERENCE])
    lats = np.array([r[2] for r in PROJ_REFERENCE])
    xs, ys = to_lambert93(lons, lats)
    for (name, lon, lat, _, _), x, y in zip(PROJ_REFERENCE, xs, ys):
        assert (x, y) == pytest.approx(to_lambert93(lon, lat), abs=1e-6), name
    back_lon, back_lat = from_lambert93(xs, ys)
    assert np.allclose(back_lon, lons, atol=1e-9) and np.allclose(back_lat, lats, atol=1e-9)


def test_scale_factor_is_one_on_the_standard_parallels_and_above_one_on_the_coast():
    assert scale_factor(44.0) == pytest.approx(1.0, abs=1e-12)
    assert scale_factor(49.0) == pytest.approx(1.0, abs=1e-12)
    assert scale_factor(46.5) < 1.0
    assert 1.001 < scale_factor(50.95) < 1.003  # Calais: about +2 mm per metre


def test_projected_distance_divided_by_scale_is_the_ground_distance():
    # 10 km east-west near Calais: the plane distance over the local scale equals the haversine
    a, b = (1.80, 50.95), (1.80 + 10_000 / (111_320 * math.cos(math.radians(50.95))), 50.95)
    xa, ya = to_lambert93(*a)
    xb, yb = to_lambert93(*b)
    plane = math.hypot(xb - xa, yb - ya) / scale_factor(50.95)
    assert plane == pytest.approx(haversine_m(a[1], a[0], b[1], b[0]), rel=0.005)


# Ellipsoidal (WGS84) geodesics from PROJ's Geod.inv: (lon1, lat1, lon2, lat2, metres, initial azimuth)
PROJ_GEODESICS = [
    (1.8587, 50.9513, 2.3768, 51.0343, 37528.6, 75.555),   # Calais -> Dunkerque town halls
    (2.1601, 50.7133, 1.9057, 50.9436, 31267.2, 325.121),  # A26 Setques -> A16 Calais est
    (1.5631, 50.4005, 2.3768, 51.0343, 90957.1, 38.868),   # Berck-Plage -> Dunkerque
]


@pytest.mark.parametrize("lon1,lat1,lon2,lat2,metres,azimuth", PROJ_GEODESICS)
def test_haversine_and_bearing_agree_with_the_ellipsoid(lon1, lat1, lon2, lat2, metres, azimuth):
    assert haversine_m(lat1, lon1, lat2, lon2) == pytest.approx(metres, rel=0.005)
    assert angle_between_deg(bearing_deg(lat1, lon1, lat2, lon2), azimuth) < 0.3


def test_haversine_known_distances():
    # one degree of latitude on the mean sphere
    assert haversine_m(50.0, 2.0, 51.0, 2.0) == pytest.approx(111_195, abs=5)
    assert haversine_m(50.0, 2.0, 50.0, 2.0) == 0.0
    # antipodes: half the circumference, no domain error
    assert haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * 6_371_008.8, rel=1e-9)


def test_haversine_array_equals_scalar():
    lat1 = np.array([50.0, 50.95, 51.03])
    lon1 = np.array([2.0, 1.85, 2.37])
    lat2 = np.array([51.0, 50.70, 50.40])
    lon2 = np.array([2.0, 2.16, 1.56])
    out = haversine_m_array(lat1, lon1, lat2, lon2)
    for i in range(3):
        assert out[i] == pytest.approx(haversine_m(lat1[i], lon1[i], lat2[i], lon2[i]), rel=1e-12)


@pytest.mark.parametrize("to,expected", [((51.0, 2.0), 0.0), ((50.0, 3.0), 90.0), ((49.0, 2.0), 180.0),
                                         ((50.0, 1.0), 270.0)])
def test_bearing_cardinal_directions(to, expected):
    b = bearing_deg(50.0, 2.0, *to)
    assert angle_between_deg(b, expected) < 0.5


def test_angle_between_wraps_around_north():
    assert angle_between_deg(350.0, 10.0) == pytest.approx(20.0)
    assert angle_between_deg(10.0, 350.0) == pytest.approx(20.0)
    assert angle_between_deg(0.0, 180.0) == pytest.approx(180.0)
    assert angle_between_deg(90.0, 90.0) == 0.0
