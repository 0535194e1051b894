"""Departure zones: named coastal sectors from a GeoJSON file, checked before the service starts.

A zone file is an RFC 7946 FeatureCollection of Polygon / MultiPolygon features in lon/lat
(WGS84), each with a unique ``name`` property (``source`` is an optional note on where the shape
comes from).  Every defect is reported as a :class:`ZoneError` naming the feature, so an operator
replacing the shipped file learns at start-up which sector to fix.

Zones are kept in Lambert-93 as well, because "how far is this car from the beach" is a question
in metres, not degrees.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

from geo.projection import scale_factor, to_lambert93

# Area of use of EPSG:2154 (metropolitan France and its waters): zones must lie in it, which also
# catches files written in lat/lon order.
LAMBERT93_AREA = (-9.86, 41.15, 10.38, 51.56)  # lon min, lat min, lon max, lat max


class ZoneError(ValueError):
    """A departure-zone file that cannot be used; the message names the file and feature."""


@dataclass(frozen=True)
class DepartureZone:
    name: str
    source: str
    geometry: BaseGeometry                 # lon/lat, exterior rings counter-clockwise
    projected: BaseGeometry = field(repr=False)  # the same in Lambert-93 metres
    properties: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def contains(self, lon: float, lat: float) -> bool:
        return bool(self.projected.covers(Point(to_lambert93(lon, lat))))

    def distance_m(self, lon: float, lat: float) -> float:
        """Ground distance from the point to the zone (0 inside), corrected for the projection's scale."""
        x, y = to_lambert93(lon, lat)
        return float(self.projected.distance(Point(x, y))) / scale_factor(lat)

    def feature(self) -> dict[str, Any]:
        return {"type": "Feature", "properties": {**self.properties, "name": self.name, "source": self.source},
                "geometry": mapping(self.geometry)}


@dataclass(frozen=True)
class ZoneDistance:
    zone: DepartureZone
    distance_m: float


class ZoneSet:
    """The loaded zones, with nearest-zone and containment look-ups."""

    def __init__(self, zones: list[DepartureZone], path: Path | None = None) -> None:
        self.zones = list(zones)
        self.path = path

    def __len__(self) -> int:
        return len(self.zones)

    def __iter__(self):
        return iter(self.zones)

    @property
    def names(self) -> list[str]:
        return [z.name for z in self.zones]

    def distances(self, lon: float, lat: float) -> list[ZoneDistance]:
        """Every zone with its distance from the point, nearest first."""
        point = Point(to_lambert93(lon, lat))
        k = scale_factor(lat)
        out = [ZoneDistance(z, float(z.projected.distance(point)) / k) for z in self.zones]
        return sorted(out, key=lambda d: d.distance_m)

    def nearest(self, lon: float, lat: float) -> ZoneDistance | None:
        found = self.distances(lon, lat)
        return found[0] if found else None

    def containing(self, lon: float, lat: float) -> list[DepartureZone]:
        point = Point(to_lambert93(lon, lat))
        return [z for z in self.zones if z.projected.covers(point)]

    def feature_collection(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": [z.feature() for z in self.zones]}


def _check_positions(coords: Any, where: str, depth: int) -> None:
    """Nested coordinate arrays of ``depth`` levels above positions: numbers, in lon/lat range."""
    if not isinstance(coords, list) or not coords:
        raise ZoneError(f"{where}: coordinates must be a non-empty array")
    if depth == 0:
        for pos in coords:
            if (not isinstance(pos, list) or len(pos) not in (2, 3)
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pos)):
                raise ZoneError(f"{where}: every position must be [lon, lat] numbers, got {pos!r}")
            lon, lat = pos[0], pos[1]
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ZoneError(f"{where}: position {pos!r} is out of range (lon -180..180, lat -90..90)")
        if len(coords) < 4 or coords[0][:2] != coords[-1][:2]:
            raise ZoneError(f"{where}: a linear ring needs at least 4 positions, the last equal to the first")
        return
    for item in coords:
        _check_positions(item, where, depth - 1)


def parse_zone(feature: Any, index: int, label: str = "") -> DepartureZone:
    """One GeoJSON Feature -> :class:`DepartureZone`; raises ZoneError naming the feature."""
    where = f"{label}feature {index}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ZoneError(f"{where}: must be a GeoJSON Feature object")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise ZoneError(f"{where}: properties must be an object with a 'name'")
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ZoneError(f"{where}: properties.name must be a non-empty string")
    where = f"{label}feature {index} ({name!r})"
    source = props.get("source", "")
    if not isinstance(source, str):
        raise ZoneError(f"{where}: properties.source must be a string")
    geom = feature.get("geometry")
    if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
        got = geom.get("type") if isinstance(geom, dict) else geom
        raise ZoneError(f"{where}: geometry must be a Polygon or MultiPolygon, got {got!r}")
    _check_positions(geom.get("coordinates"), f"{where}: geometry", 1 if geom["type"] == "Polygon" else 2)
    try:
        shp = shape(geom)
    except (ValueError, TypeError, GEOSException) as err:
        raise ZoneError(f"{where}: geometry cannot be built: {err}") from None
    if not shp.is_empty and not shp.is_valid:
        raise ZoneError(f"{where}: invalid polygon ({explain_validity(shp)})")
    if shp.is_empty or shp.area == 0:
        raise ZoneError(f"{where}: polygon is empty or has no area")
    lon0, lat0, lon1, lat1 = shp.bounds
    a = LAMBERT93_AREA
    if lon0 < a[0] or lat0 < a[1] or lon1 > a[2] or lat1 > a[3]:
        raise ZoneError(f"{where}: extends outside metropolitan France (lon {a[0]}..{a[2]}, lat {a[1]}..{a[3]}), "
                        "the area these zones are measured in; are the coordinates in lat/lon order instead of lon/lat?")
    shp = orient(shp, 1.0) if isinstance(shp, Polygon) else MultiPolygon([orient(p, 1.0) for p in shp.geoms])
    projected = shapely.transform(shp, lambda xy: np.column_stack(to_lambert93(xy[:, 0], xy[:, 1])))
    extra = {k: v for k, v in props.items() if k not in ("name", "source")}
    return DepartureZone(name.strip(), source, shp, projected, extra)


def parse_zones(doc: Any, label: str = "") -> ZoneSet:
    """A decoded GeoJSON FeatureCollection -> :class:`ZoneSet` (names unique, case-insensitive)."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ZoneError(f"{label}must be a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise ZoneError(f"{label}features must be a non-empty array")
    zones: list[DepartureZone] = []
    seen: dict[str, int] = {}
    for i, feature in enumerate(features):
        zone = parse_zone(feature, i, label)
        key = zone.name.casefold()
        if key in seen:
            raise ZoneError(f"{label}feature {i} ({zone.name!r}): duplicate name (also feature {seen[key]})")
        seen[key] = i
        zones.append(zone)
    return ZoneSet(zones)


def load_zones(path: Path) -> ZoneSet:
    """Read and validate a departure-zone file."""
    label = f"{path}: "
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ZoneError(f"{label}cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ZoneError(f"{label}is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ZoneError(f"{label}is not valid JSON: {err}") from None
    zones = parse_zones(doc, label)
    zones.path = Path(path)
    return zones
