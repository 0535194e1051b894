"""Lambert-93 (EPSG:2154): the French official metric projection, implemented here so that
nothing beyond numpy ships for it.

Lambert conformal conic with two standard parallels (44°N, 49°N) on the GRS80 ellipsoid, origin
3°E 46.5°N at (700 000 m, 6 600 000 m) — the formulas of IGN's note NT/G 71 (also Snyder,
*Map Projections — A Working Manual*, §15).  Lambert-93 is defined on RGF93, which coincides
with WGS84 to well under a metre, so GPS coordinates go in unchanged.

Distances measured on the projected plane are stretched by the scale factor (about +1 to +3 mm
per metre along the northern coast); :func:`scale_factor` gives it so callers can correct.
Every function takes scalars or numpy arrays.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

# GRS80 ellipsoid
A = 6_378_137.0
F = 1 / 298.257222101
E = math.sqrt(2 * F - F * F)

# Lambert-93 parameters
LON0 = math.radians(3.0)
LAT0 = math.radians(46.5)
LAT1 = math.radians(49.0)
LAT2 = math.radians(44.0)
X0 = 700_000.0
Y0 = 6_600_000.0

Num = TypeVar("Num", float, np.ndarray)


def _m(phi):
    return np.cos(phi) / np.sqrt(1 - (E * np.sin(phi)) ** 2)


def _t(phi):
    es = E * np.sin(phi)
    return np.tan(math.pi / 4 - phi / 2) / ((1 - es) / (1 + es)) ** (E / 2)


_M1, _M2 = float(_m(LAT1)), float(_m(LAT2))
_T0, _T1, _T2 = float(_t(LAT0)), float(_t(LAT1)), float(_t(LAT2))
N = (math.log(_M1) - math.log(_M2)) / (math.log(_T1) - math.log(_T2))
_AF = A * _M1 / (N * _T1 ** N)
RHO0 = _AF * _T0 ** N


def to_lambert93(lon: Num, lat: Num) -> tuple[Num, Num]:
    """Degrees (lon, lat) on RGF93/WGS84 -> Lambert-93 metres (x easting, y northing)."""
    phi = np.radians(lat)
    rho = _AF * _t(phi) ** N
    theta = N * (np.radians(lon) - LON0)
    x = X0 + rho * np.sin(theta)
    y = Y0 + RHO0 - rho * np.cos(theta)
    if np.ndim(x) == 0:
        return float(x), float(y)
    return x, y


def from_lambert93(x: Num, y: Num, iterations: int = 8) -> tuple[Num, Num]:
    """Lambert-93 metres -> degrees (lon, lat).  The latitude fixed point converges to < 1e-11
    rad in a handful of iterations over France."""
    dx = np.asarray(x, dtype=float) - X0
    dy = RHO0 - (np.asarray(y, dtype=float) - Y0)
    rho = np.hypot(dx, dy)
    t = (rho / _AF) ** (1 / N)
    lon = np.degrees(np.arctan2(dx, dy) / N + LON0)
    phi = math.pi / 2 - 2 * np.arctan(t)
    for _ in range(iterations):
        es = E * np.sin(phi)
        phi = math.pi / 2 - 2 * np.arctan(t * ((1 - es) / (1 + es)) ** (E / 2))
    lat = np.degrees(phi)
    if np.ndim(lon) == 0:
        return float(lon), float(lat)
    return lon, lat


def scale_factor(lat: Num) -> Num:
    """Point scale of Lambert-93 at latitude ``lat``: projected metres per metre on the ellipsoid
    (exactly 1 on the standard parallels 44°N and 49°N)."""
    phi = np.radians(lat)
    k = N * _AF * _t(phi) ** N / (A * _m(phi))
    return float(k) if np.ndim(k) == 0 else k
