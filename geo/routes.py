"""Route reconstruction: one vehicle's camera sightings and beacon fixes as trips.

Observations are merged in time order and cut into trips wherever the vehicle went unobserved for
longer than ``gap``.  Within a trip every hop (consecutive pair) gets its implied speed: the
great-circle distance over the time between them.  Roads are never shorter than the straight
line, so an implied speed above what a car can do means one of the two observations is not this
vehicle (a misread or a cloned plate) — the hop is flagged, not dropped, so an investigator sees
it.  Pure: the caller fetches the observations (``BeaconStore.track``) and serves the GeoJSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

import numpy as np

from geo.geodesy import haversine_m_array


@dataclass(frozen=True)
class Observation:
    """Where the vehicle was seen: a camera read (at the camera's position) or a beacon fix."""

    time: datetime
    lat: float
    lon: float
    kind: str                      # "sighting" or "ping"
    source: str                    # camera id or beacon id
    speed_kmh: float | None = None  # reported by the beacon
    read_id: int | None = None


@dataclass(frozen=True)
class RouteRules:
    gap: timedelta = timedelta(minutes=30)   # unobserved longer than this: a new trip
    max_plausible_kmh: float = 200.0
    position_noise_m: float = 100.0          # hops shorter than this are plausible at any speed (same place)


@dataclass(frozen=True)
class Hop:
    """From observation ``index - 1`` to ``index`` of a trip."""

    index: int
    seconds: float
    distance_m: float
    speed_kmh: float | None   # None: both at the same instant
    plausible: bool

    def as_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "distance_m": round(self.distance_m, 1),
                "speed_kmh": None if self.speed_kmh is None else round(self.speed_kmh, 1), "plausible": self.plausible}


@dataclass(frozen=True, eq=False)
class Trip:
    """Observations ``observations`` and, as arrays, the hops between consecutive ones (hop ``i``
    leads to observation ``i + 1``): kept vectorised so a 10,000-point route costs milliseconds."""

    number: int
    observations: list[Observation]
    lon: np.ndarray = field(repr=False)
    lat: np.ndarray = field(repr=False)
    hop_seconds: np.ndarray = field(repr=False)
    hop_metres: np.ndarray = field(repr=False)
    hop_kmh: np.ndarray = field(repr=False)      # NaN: both at the same instant
    hop_plausible: np.ndarray = field(repr=False)

    @property
    def hops(self) -> list[Hop]:
        return [Hop(i + 1, s, d, None if v != v else v, ok) for i, (s, d, v, ok) in enumerate(zip(
            self.hop_seconds.tolist(), self.hop_metres.tolist(), self.hop_kmh.tolist(), self.hop_plausible.tolist()))]

    @property
    def start(self) -> datetime:
        return self.observations[0].time

    @property
    def end(self) -> datetime:
        return self.observations[-1].time

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def distance_m(self) -> float:
        return float(self.hop_metres.sum())

    @property
    def mean_speed_kmh(self) -> float | None:
        return self.distance_m / self.duration_s * 3.6 if self.duration_s > 0 else None

    @property
    def implausible_hops(self) -> int:
        return int((~self.hop_plausible).sum())

    def summary(self) -> dict[str, Any]:
        mean = self.mean_speed_kmh
        sightings = sum(o.kind == "sighting" for o in self.observations)
        return {"trip": self.number, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "start_position": [round(float(self.lon[0]), 6), round(float(self.lat[0]), 6)],
                "end_position": [round(float(self.lon[-1]), 6), round(float(self.lat[-1]), 6)],
                "observations": len(self.observations), "sightings": sightings,
                "pings": len(self.observations) - sightings,
                "duration_s": round(self.duration_s, 1), "distance_m": round(self.distance_m, 1),
                "mean_speed_kmh": None if mean is None else round(mean, 1),
                "implausible_hops": self.implausible_hops}

    def point_features(self) -> list[dict[str, Any]]:
        """A GeoJSON Point per observation with the hop that led to it (rounded in bulk)."""
        coords = np.round(np.column_stack([self.lon, self.lat]), 6).tolist()
        seconds = np.round(self.hop_seconds, 3).tolist()
        metres = np.round(self.hop_metres, 1).tolist()
        kmh = np.round(self.hop_kmh, 1).tolist()
        ok = self.hop_plausible.tolist()
        hops: list[dict[str, Any] | None] = [None]
        hops += [{"seconds": s, "distance_m": d, "speed_kmh": None if v != v else v, "plausible": p}
                 for s, d, v, p in zip(seconds, metres, kmh, ok)]
        out = []
        number = self.number
        for i, (o, pos, hop) in enumerate(zip(self.observations, coords, hops)):
            if o.kind == "sighting":
                props = {"feature": "observation", "trip": number, "index": i, "time": o.time.isoformat(),
                         "kind": "sighting", "camera_id": o.source, "read_id": o.read_id, "hop": hop}
            else:
                props = {"feature": "observation", "trip": number, "index": i, "time": o.time.isoformat(),
                         "kind": o.kind, "beacon_id": o.source, "speed_kmh": o.speed_kmh, "hop": hop}
            out.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": pos}, "properties": props})
        return out


@dataclass(frozen=True)
class Route:
    trips: list[Trip]
    unlocated: int = 0          # observations without a position (camera never placed), left out

    @property
    def observations(self) -> int:
        return sum(len(t.observations) for t in self.trips)

    def to_geojson(self, **members: Any) -> dict[str, Any]:
        """RFC 7946 FeatureCollection: a LineString per trip (a null geometry for a trip of one
        observation) and a Point per observation carrying the hop that led to it.  ``members`` are
        added as foreign members (plate, window...)."""
        features: list[dict[str, Any]] = []
        for trip in self.trips:
            coords = np.round(np.column_stack([trip.lon, trip.lat]), 6).tolist()
            features.append({"type": "Feature",
                             "geometry": {"type": "LineString", "coordinates": coords} if len(coords) > 1 else None,
                             "properties": {"feature": "trip", **trip.summary()}})
            features += trip.point_features()
        return {"type": "FeatureCollection", **members, "trips": len(self.trips), "observations": self.observations,
                "unlocated": self.unlocated, "features": features}


def observations_from_track(rows: Iterable[Mapping[str, Any]]) -> tuple[list[Observation], int]:
    """Rows of ``BeaconStore.track`` -> observations, and how many rows had no position."""
    out: list[Observation] = []
    unlocated = 0
    for r in rows:
        lat, lon = r["lat"], r["lon"]
        if lat is None or lon is None:
            unlocated += 1
            continue
        if r["kind"] == "sighting":
            out.append(Observation(r["time"], lat, lon, "sighting", r["camera_id"], None, r["read_id"]))
        else:
            out.append(Observation(r["time"], lat, lon, "ping", r["beacon_id"], r["speed_kmh"]))
    return out, unlocated


def build_route(observations: list[Observation], rules: RouteRules = RouteRules(), unlocated: int = 0) -> Route:
    """Sort, split into trips at gaps, and measure every hop (vectorised: 10k observations in a few ms)."""
    obs = sorted(observations, key=lambda o: o.time)
    n = len(obs)
    if n == 0:
        return Route([], unlocated)
    t = np.fromiter((o.time.timestamp() for o in obs), float, n)
    lat = np.fromiter((o.lat for o in obs), float, n)
    lon = np.fromiter((o.lon for o in obs), float, n)
    dt = np.diff(t)
    dist = haversine_m_array(lat[:-1], lon[:-1], lat[1:], lon[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dt > 0, dist / dt * 3.6, np.nan)
    plausible = (dist <= rules.position_noise_m) | (np.nan_to_num(speed, nan=np.inf) <= rules.max_plausible_kmh)
    breaks = np.flatnonzero(dt > rules.gap.total_seconds()) + 1
    bounds = [0, *breaks.tolist(), n]
    trips = [Trip(number, obs[a:b], lon[a:b], lat[a:b], dt[a:b - 1], dist[a:b - 1], speed[a:b - 1], plausible[a:b - 1])
             for number, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), start=1)]
    return Route(trips, unlocated)
