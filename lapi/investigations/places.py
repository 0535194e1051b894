"""Places of a stakeout, as an analyst draws them: cameras named, a polygon, or a radius around a
point, each with its own time window.  Pure: parsing (errors name the field) and resolving a place
to the cameras that stand in it.

A read is placed where its camera stands: a polygon or a circle selects the cameras inside it, and
the query then reads those cameras' reads over the window through the (camera, time) index,
whatever the size of the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geo.geodesy import haversine_m
from geo.zones import DepartureZone, ZoneError, parse_zone
from lapi.cameras import Camera
from trackers.pings import PingError, parse_time

MAX_PLACES = 10
MAX_WINDOW = timedelta(days=31)
MAX_RADIUS_M = 50_000.0
MAX_CAMERAS = 500
_KEYS = ("name", "cameras", "polygon", "center", "radius_m", "from", "to")


@dataclass(frozen=True)
class Place:
    name: str
    start: datetime
    end: datetime
    cameras: tuple[str, ...] = ()             # named cameras
    area: DepartureZone | None = None         # a drawn polygon (lon/lat, validated like a zone)
    center: tuple[float, float] | None = None  # (lat, lon) of a circle ...
    radius_m: float | None = None              # ... and its radius

    def holds(self, camera: Camera) -> bool:
        """Whether a camera reads inside this place (named, or standing in its polygon or circle)."""
        if camera.id in self.cameras:
            return True
        if camera.lat is None or camera.lon is None:
            return False
        if self.area is not None and self.area.contains(camera.lon, camera.lat):
            return True
        return (self.center is not None and self.radius_m is not None
                and haversine_m(self.center[0], self.center[1], camera.lat, camera.lon) <= self.radius_m)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.cameras:
            out["cameras"] = list(self.cameras)
        if self.area is not None:
            out["polygon"] = self.area.feature()["geometry"]
        if self.center is not None:
            out["center"] = {"lat": self.center[0], "lon": self.center[1]}
            out["radius_m"] = self.radius_m
        return out


def _number(value: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{where}: must be a number between {lo:g} and {hi:g}, got {value!r}")
    return float(value)


def body_time(value: Any, where: str) -> datetime:
    """A required time field of a JSON body (ISO 8601 with offset, or epoch seconds as pings take it)."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: required, an ISO 8601 time with offset")
    try:
        return parse_time(value, where)
    except PingError as err:
        raise ValueError(str(err)) from None


def parse_place(raw: Any, index: int) -> Place:
    """One place object (``name``; ``cameras`` and/or ``polygon`` (GeoJSON Polygon, lon/lat) and/or
    ``center`` {lat, lon} with ``radius_m``; ``from``/``to``) -> :class:`Place`."""
    where = f"places[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object")
    unknown = [k for k in raw if k not in _KEYS]
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(_KEYS)})")
    name = raw.get("name", f"place {index + 1}")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ValueError(f"{where}.name: must be a string of 1-100 characters")
    start, end = body_time(raw.get("from"), f"{where}.from"), body_time(raw.get("to"), f"{where}.to")
    if end <= start or end - start > MAX_WINDOW:
        raise ValueError(f"{where}.to: must be after from, at most {MAX_WINDOW.days} days later")
    cameras = raw.get("cameras", [])
    if not isinstance(cameras, list) or len(cameras) > MAX_CAMERAS or not all(
            isinstance(c, str) and 0 < len(c) <= 64 for c in cameras):
        raise ValueError(f"{where}.cameras: must be a list of at most {MAX_CAMERAS} camera ids")
    area = None
    if raw.get("polygon") is not None:
        try:
            area = parse_zone({"type": "Feature", "properties": {"name": name},
                               "geometry": raw["polygon"]}, index, "places: ")
        except ZoneError as err:
            raise ValueError(f"{where}.polygon: {str(err).split(': ', 2)[-1]}") from None
    center = radius = None
    if raw.get("center") is not None or raw.get("radius_m") is not None:
        c = raw.get("center")
        if not isinstance(c, Mapping) or "lat" not in c or "lon" not in c:
            raise ValueError(f"{where}.center: must be an object {{lat, lon}} given with radius_m")
        center = (_number(c["lat"], f"{where}.center.lat", -90, 90), _number(c["lon"], f"{where}.center.lon", -180, 180))
        radius = _number(raw.get("radius_m"), f"{where}.radius_m", 1, MAX_RADIUS_M)
    if not cameras and area is None and center is None:
        raise ValueError(f"{where}: give cameras, a polygon, or a center with radius_m")
    return Place(name.strip(), start, end, tuple(dict.fromkeys(cameras)), area, center, radius)


def parse_places(raw: Any) -> list[Place]:
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_PLACES:
        raise ValueError(f"places: must be a list of 2-{MAX_PLACES} places")
    places = [parse_place(p, i) for i, p in enumerate(raw)]
    names = [p.name.casefold() for p in places]
    if len(set(names)) != len(names):
        raise ValueError("places: names must be unique")
    return places


def place_cameras(places: Iterable[Place], cameras: Iterable[Camera]) -> list[tuple[str, ...]]:
    """For each place, the ids of the cameras in it (sorted)."""
    cameras = list(cameras)
    return [tuple(sorted(c.id for c in cameras if p.holds(c))) for p in places]
