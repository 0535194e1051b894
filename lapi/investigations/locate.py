"""Locate: where and when a vehicle is usually found, to find its bases and hand-over points.

Pure code over a vehicle's track (camera sightings and the fixes of beacons fitted on it,
:class:`geo.routes.Track`):

* a beacon *stop* is a run of fixes that stay within ``stop_radius_m`` of the run's first fix for
  at least ``stop_min_s`` (the same rule as the live stop detection, ``[trackers]``);
* sightings and stops are grouped into places: each joins the nearest place whose centre is within
  ``radius_m``, else starts one (centres are running means);
* a place's ``score`` says how habitual it is: the share of the vehicle's observed days on which
  it was there, times log2(1 + visits + hours stopped there).  Its ``usual_hours`` are the local
  hours (Europe/Paris) holding at least a fifth of its visits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from geo.geodesy import haversine_m
from geo.routes import Track

LOCAL = ZoneInfo("Europe/Paris")
USUAL_SHARE = 0.2


@dataclass(frozen=True)
class Visit:
    start: datetime
    end: datetime
    lat: float
    lon: float
    kind: str     # sighting | stop
    source: str   # camera id or beacon id


@dataclass
class Place:
    lat: float
    lon: float
    visits: list[Visit] = field(default_factory=list)

    def add(self, v: Visit) -> None:
        n = len(self.visits)
        self.lat = (self.lat * n + v.lat) / (n + 1)
        self.lon = (self.lon * n + v.lon) / (n + 1)
        self.visits.append(v)


def _time(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=int(us))


def stops(track: Track, radius_m: float = 50.0, min_s: float = 300.0) -> list[Visit]:
    """Beacon stops of a track in time order (fixes only; each beacon on its own)."""
    out = []
    fixes = track.take(~track.sighting & ~np.isnan(track.lat)).in_time_order()
    for code in np.unique(fixes.source):
        own = fixes.take(fixes.source == code)
        i, n = 0, len(own)
        while i < n:
            j = i + 1
            while j < n and haversine_m(own.lat[i], own.lon[i], own.lat[j], own.lon[j]) <= radius_m:
                j += 1
            seconds = (own.time_us[j - 1] - own.time_us[i]) / 1e6
            if seconds >= min_s:
                out.append(Visit(_time(own.time_us[i]), _time(own.time_us[j - 1]), float(own.lat[i:j].mean()),
                                 float(own.lon[i:j].mean()), "stop", own.sources[code]))
            i = j
    return sorted(out, key=lambda v: v.start)


def sightings(track: Track) -> list[Visit]:
    """Camera sightings with a position, as visits of no duration."""
    out = []
    for i in np.flatnonzero(track.sighting & ~np.isnan(track.lat)):
        t = _time(track.time_us[i])
        out.append(Visit(t, t, float(track.lat[i]), float(track.lon[i]), "sighting", track.sources[track.source[i]]))
    return out


def group(visits: list[Visit], radius_m: float) -> list[Place]:
    """Visits gathered into places (nearest centre within ``radius_m``, else a new place)."""
    places: list[Place] = []
    for v in sorted(visits, key=lambda v: v.start):
        best, best_d = None, radius_m
        for p in places:
            d = haversine_m(p.lat, p.lon, v.lat, v.lon)
            if d <= best_d:
                best, best_d = p, d
        if best is None:
            places.append(Place(v.lat, v.lon, [v]))
        else:
            best.add(v)
    return places


def _local_days(v: Visit) -> set[date]:
    first, last = v.start.astimezone(LOCAL).date(), v.end.astimezone(LOCAL).date()
    return {first + timedelta(days=i) for i in range((last - first).days + 1)}


def describe(place: Place, observed_days: int) -> dict:
    """A place as the API gives it, with its score."""
    days = set().union(*(_local_days(v) for v in place.visits))
    hours = [0] * 24
    for v in place.visits:
        hours[v.start.astimezone(LOCAL).hour] += 1
    stopped = [v for v in place.visits if v.kind == "stop"]
    dwell_h = sum((v.end - v.start).total_seconds() for v in stopped) / 3600
    visits = len(place.visits)
    score = len(days) / max(observed_days, 1) * math.log2(1 + visits + dwell_h)
    return {
        "lat": round(place.lat, 6), "lon": round(place.lon, 6), "visits": visits,
        "sightings": visits - len(stopped), "stops": len(stopped), "stopped_h": round(dwell_h, 2),
        "days": len(days), "first_seen": min(v.start for v in place.visits),
        "last_seen": max(v.end for v in place.visits),
        "usual_hours": [h for h in range(24) if hours[h] and hours[h] >= USUAL_SHARE * visits],
        "hours": hours, "sources": sorted({v.source for v in place.visits}), "score": round(score, 3)}


def locate(track: Track, radius_m: float = 500.0, stop_radius_m: float = 50.0, stop_min_s: float = 300.0,
           limit: int = 20) -> dict:
    """The vehicle's usual places, most habitual first, and the days it was observed on."""
    visits = sightings(track) + stops(track, stop_radius_m, stop_min_s)
    observed = set().union(*(_local_days(v) for v in visits)) if visits else set()
    places = sorted((describe(p, len(observed)) for p in group(visits, radius_m)),
                    key=lambda p: (-p["score"], -p["visits"]))
    return {"observed_days": len(observed), "visits": len(visits), "places": places[:limit]}
