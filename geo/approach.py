"""Approach to the coast: is a vehicle closing in on a departure zone, and when will it be there?

From a vehicle's recent observations (those of its latest trip within ``recent`` of the last
one) and the zones, :func:`assess` gives, per zone, the distance now, the rate at which that
distance shrinks (a least-squares slope over the recent observations, so one noisy fix does not
flip the trend), the heading compared with the bearing to the zone, and an ETA at the closing
rate.  The closing rate, not the speed, drives the ETA: a car driving along the coast is fast but
not approaching.

:class:`ZoneWatch` turns successive assessments of one vehicle into events: ``zone_enter`` /
``zone_exit``, and one ``approach`` alert per zone (the one it would reach first, while it is in
none) until the vehicle has turned away and is well clear again.
Pure: the live part feeds observations in and publishes the events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.ops import nearest_points

from geo.geodesy import angle_between_deg, bearing_deg, haversine_m_array
from geo.projection import from_lambert93, scale_factor, to_lambert93
from geo.routes import Observation
from geo.zones import ZoneSet


@dataclass(frozen=True)
class ApproachRules:
    distance_m: float = 10_000.0     # alert when closing in, this near ...
    eta_s: float = 1200.0            # ... and expected within this many seconds
    recent: timedelta = timedelta(minutes=15)
    trip_gap: timedelta = timedelta(minutes=30)
    min_closing_kmh: float = 5.0     # slower shrinking is not "closing in" (GPS drift, parking)
    rearm_factor: float = 1.5        # after an alert, the zone alerts again once no longer closing and farther than factor x distance_m


@dataclass(frozen=True)
class ZoneApproach:
    zone: str
    distance_m: float
    closing_kmh: float | None        # rate the distance shrinks; None with a single observation
    eta_s: float | None              # at the closing rate; None unless closing
    bearing_to_zone_deg: float | None
    heading_offset_deg: float | None  # heading vs bearing to the zone: 0 = straight at it

    @property
    def inside(self) -> bool:
        return self.distance_m == 0.0

    def closing(self, rules: ApproachRules) -> bool:
        return self.closing_kmh is not None and self.closing_kmh >= rules.min_closing_kmh

    def alerting(self, rules: ApproachRules) -> bool:
        """Closing in, not yet inside, within the alert distance and expected within the alert ETA."""
        return (not self.inside and self.closing(rules) and self.distance_m <= rules.distance_m
                and self.eta_s is not None and self.eta_s <= rules.eta_s)

    def as_dict(self, rules: ApproachRules) -> dict[str, Any]:
        r1 = (lambda v: None if v is None else round(v, 1))
        return {"zone": self.zone, "distance_m": round(self.distance_m, 1), "closing": self.closing(rules),
                "closing_kmh": r1(self.closing_kmh), "eta_s": None if self.eta_s is None else round(self.eta_s),
                "bearing_to_zone_deg": r1(self.bearing_to_zone_deg), "heading_offset_deg": r1(self.heading_offset_deg)}


@dataclass(frozen=True)
class Approach:
    time: datetime
    lat: float
    lon: float
    observations: int                # recent observations the trend is taken from
    speed_kmh: float | None          # along the recent path
    heading_deg: float | None        # from the first recent position to the last
    zones: list[ZoneApproach]        # nearest first

    @property
    def nearest(self) -> ZoneApproach:
        return self.zones[0]

    @property
    def inside(self) -> list[str]:
        return [z.zone for z in self.zones if z.inside]

    def soonest(self, rules: ApproachRules) -> ZoneApproach | None:
        """The alerting zone the vehicle would reach first."""
        alerting = [z for z in self.zones if z.alerting(rules)]
        return min(alerting, key=lambda z: (z.eta_s if z.eta_s is not None else math.inf, z.distance_m), default=None)

    def as_dict(self, rules: ApproachRules) -> dict[str, Any]:
        soonest = self.soonest(rules)
        return {"time": self.time.isoformat(), "position": [round(self.lon, 6), round(self.lat, 6)],
                "observations": self.observations,
                "speed_kmh": None if self.speed_kmh is None else round(self.speed_kmh, 1),
                "heading_deg": None if self.heading_deg is None else round(self.heading_deg, 1),
                "inside": self.inside, "nearest": self.nearest.as_dict(rules),
                "alert": None if soonest is None else soonest.as_dict(rules),
                "zones": [z.as_dict(rules) for z in self.zones]}


def recent_of_latest_trip(observations: list[Observation], rules: ApproachRules) -> list[Observation]:
    """The latest trip's observations no older than ``rules.recent`` before its last one."""
    obs = sorted(observations, key=lambda o: o.time)
    if not obs:
        return []
    start = len(obs) - 1
    while start > 0 and obs[start].time - obs[start - 1].time <= rules.trip_gap:
        start -= 1
    last = obs[-1].time
    return [o for o in obs[start:] if last - o.time <= rules.recent]


def assess(observations: list[Observation], zones: ZoneSet, rules: ApproachRules = ApproachRules()) -> Approach | None:
    """How the vehicle stands toward every zone, judged on its latest trip's recent observations."""
    recent = recent_of_latest_trip(observations, rules)
    if not recent or not len(zones):
        return None
    n = len(recent)
    lat = np.array([o.lat for o in recent])
    lon = np.array([o.lon for o in recent])
    t = np.array([(o.time - recent[0].time).total_seconds() for o in recent])
    x, y = to_lambert93(lon, lat)
    points = shapely.points(np.column_stack([x, y]))
    k = scale_factor(lat)
    last = recent[-1]
    span = t[-1] - t[0]
    path_m = float(haversine_m_array(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum()) if n > 1 else 0.0
    speed = path_m / span * 3.6 if span > 0 else None
    moved = n > 1 and float(haversine_m_array(lat[:1], lon[:1], lat[-1:], lon[-1:])[0]) > 50.0
    heading = bearing_deg(recent[0].lat, recent[0].lon, last.lat, last.lon) if moved else None
    out = []
    for zone in zones:
        d = shapely.distance(zone.projected, points) / k
        closing = None
        if n > 1 and span > 0:
            slope = np.polyfit(t, d, 1)[0] if n > 2 else (d[-1] - d[0]) / span  # metres per second
            closing = -float(slope) * 3.6
        now_d = float(d[-1])
        bearing = offset = None
        if now_d > 0:
            near = nearest_points(zone.projected, Point(x[-1], y[-1]))[0]
            zlon, zlat = from_lambert93(near.x, near.y)
            bearing = bearing_deg(last.lat, last.lon, zlat, zlon)
            offset = angle_between_deg(heading, bearing) if heading is not None else None
        eta = now_d / (closing / 3.6) if closing is not None and closing >= rules.min_closing_kmh else None
        out.append(ZoneApproach(zone.name, now_d, closing, eta, bearing, offset))
    out.sort(key=lambda z: z.distance_m)
    return Approach(last.time, last.lat, last.lon, n, speed, heading, out)


@dataclass
class ZoneWatch:
    """One vehicle's zone state across assessments: which zones it is in, which it was alerted for."""

    inside: set[str] = field(default_factory=set)
    alerted: set[str] = field(default_factory=set)
    last_time: datetime | None = None

    def update(self, approach: Approach, rules: ApproachRules) -> list[tuple[str, ZoneApproach]]:
        """Events since the previous assessment: ("zone_enter" | "zone_exit" | "approach", zone)."""
        if self.last_time is not None and approach.time - self.last_time > rules.trip_gap:
            self.alerted.clear()  # a new trip: its approaches are news again
        if self.last_time is not None and approach.time < self.last_time:
            return []  # an older observation arrived late: the state already moved past it
        self.last_time = approach.time
        by_name = {z.zone: z for z in approach.zones}
        events: list[tuple[str, ZoneApproach]] = []
        now_inside = {z.zone for z in approach.zones if z.inside}
        for name in sorted(now_inside - self.inside):
            events.append(("zone_enter", by_name[name]))
        for name in sorted(self.inside - now_inside):
            if name in by_name:
                events.append(("zone_exit", by_name[name]))
        self.inside = now_inside
        for name in list(self.alerted):  # re-armed once it has turned away and is well clear
            z = by_name.get(name)
            if z is None or (not z.closing(rules) and z.distance_m > rules.distance_m * rules.rearm_factor):
                self.alerted.discard(name)
        soonest = approach.soonest(rules) if not now_inside else None  # on a beach already: no approach news
        if soonest is not None and soonest.zone not in self.alerted:
            self.alerted.add(soonest.zone)
            events.append(("approach", soonest))
        return events
