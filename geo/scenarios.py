"""Synthetic but realistic movement on the Calais corridor, for tests and benches (no shared data).

* :data:`A26_A16_TO_SANGATTE`: the A26 from Saint-Omer (Setques) to the A16 at Calais, the A16
  west past Coquelles, then the D940 to the beach at Sangatte, with the cameras on it.
* :func:`drive`: a vehicle on a polyline at a steady speed — its beacon fixes every few seconds
  and the times it passes each camera.
* :func:`corridor_traffic`: a convoy (target + companion) in a stream of background traffic:
  Poisson arrivals at every camera at that camera's own rate, a share of it through traffic
  that passes the motorway cameras one after another (the realistic source of chance
  co-occurrences), plus planted decoys.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from geo.geodesy import bearing_deg, haversine_m


@dataclass(frozen=True)
class Waypoint:
    lat: float
    lon: float
    camera: str | None = None      # a camera stands here
    camera_name: str = ""
    road: str = ""


@dataclass(frozen=True)
class Fix:
    time: datetime
    lat: float
    lon: float
    speed_kmh: float
    heading: float


@dataclass(frozen=True)
class Sighting:
    plate: str
    camera_id: str
    time: datetime


A26_A16_TO_SANGATTE: tuple[Waypoint, ...] = (
    Waypoint(50.7133, 2.1601, "a26-setques", "A26 Setques", "A26"),
    Waypoint(50.7600, 2.1200),
    Waypoint(50.8150, 2.0750, "a26-nordausques", "A26 Nordausques", "A26"),
    Waypoint(50.8600, 2.0200),
    Waypoint(50.8800, 1.9900, "a26-ardres", "A26 Ardres", "A26"),
    Waypoint(50.9200, 1.9450),
    Waypoint(50.9436, 1.9057, "a16-calais-est", "A16 Calais est, sortie 47", "A16"),
    Waypoint(50.9400, 1.8600),
    Waypoint(50.9300, 1.8100, "a16-coquelles", "A16 Coquelles", "A16"),
    Waypoint(50.9350, 1.7800),
    Waypoint(50.9420, 1.7580, "d940-sangatte", "D940 Sangatte", "D940"),
    Waypoint(50.9455, 1.7500),  # the beach at Sangatte
)

# vehicles per hour past each camera (both directions read): busy motorway, quieter A26, a village road
CAMERA_RATES_PER_H: dict[str, float] = {
    "a26-setques": 900.0, "a26-nordausques": 300.0, "a26-ardres": 200.0,
    "a16-calais-est": 1200.0, "a16-coquelles": 1500.0, "d940-sangatte": 40.0,
}
MOTORWAY_SEQUENCE = ("a26-setques", "a26-nordausques", "a26-ardres", "a16-calais-est", "a16-coquelles")


def cameras(route: tuple[Waypoint, ...] = A26_A16_TO_SANGATTE) -> list[dict]:
    """The route's cameras as ``POST /v1/cameras`` bodies, heading along the route."""
    out = []
    for i, w in enumerate(route):
        if w.camera is None:
            continue
        nxt = route[min(i + 1, len(route) - 1)] if i + 1 < len(route) else route[i - 1]
        heading = bearing_deg(w.lat, w.lon, nxt.lat, nxt.lon)
        out.append({"id": w.camera, "name": w.camera_name, "lat": w.lat, "lon": w.lon,
                    "heading": round(heading % 360, 1) % 360, "road": w.road})
    return out


def drive(start: datetime, speed_kmh: float = 110.0, fix_every_s: float = 30.0,
          route: tuple[Waypoint, ...] = A26_A16_TO_SANGATTE) -> tuple[list[Fix], dict[str, datetime]]:
    """A vehicle leaving the first waypoint at ``start``: its fixes every ``fix_every_s`` (and one at
    the end) and the time it passes each camera."""
    speed = speed_kmh / 3.6
    fixes: list[Fix] = []
    passes: dict[str, datetime] = {}
    elapsed = 0.0
    next_fix = 0.0
    for a, b in zip(route[:-1], route[1:]):
        if a.camera:
            passes[a.camera] = start + timedelta(seconds=elapsed)
        leg = haversine_m(a.lat, a.lon, b.lat, b.lon)
        leg_s = leg / speed
        heading = bearing_deg(a.lat, a.lon, b.lat, b.lon)
        while next_fix <= elapsed + leg_s:
            f = (next_fix - elapsed) / leg_s if leg_s else 0.0
            fixes.append(Fix(start + timedelta(seconds=next_fix), a.lat + f * (b.lat - a.lat),
                             a.lon + f * (b.lon - a.lon), speed_kmh, heading))
            next_fix += fix_every_s
        elapsed += leg_s
    last = route[-1]
    if last.camera:
        passes[last.camera] = start + timedelta(seconds=elapsed)
    if not fixes or fixes[-1].time < start + timedelta(seconds=elapsed):
        fixes.append(Fix(start + timedelta(seconds=elapsed), last.lat, last.lon, 0.0, fixes[-1].heading if fixes else 0.0))
    return fixes, passes


def random_plate(rng: random.Random) -> str:
    """A French SIV plate (AA123AA), normalised."""
    letters = string.ascii_uppercase
    return (rng.choice(letters) + rng.choice(letters) + f"{rng.randrange(1000):03d}"
            + rng.choice(letters) + rng.choice(letters))


@dataclass(frozen=True)
class CorridorScenario:
    start: datetime
    end: datetime
    target: str
    companion: str          # follows the target the whole way, ~1 minute behind
    quiet_scout: str        # with the target at three quiet cameras only
    busy_decoy: str         # with the target at three busy motorway cameras only
    target_passes: dict[str, datetime]
    sightings: list[Sighting]


def corridor_traffic(start: datetime, hours: float = 1.0, seed: int = 6, rate_scale: float = 1.0,
                     target_departure: timedelta = timedelta(minutes=15), dt: timedelta = timedelta(minutes=2),
                     through_share: float = 0.3) -> CorridorScenario:
    """Background traffic on the corridor's cameras for ``hours`` with a convoy and decoys in it.

    ``rate_scale`` multiplies every camera's rate (the bench uses it to reach a million sightings).
    """
    rng = random.Random(seed)
    end = start + timedelta(hours=hours)
    span = (end - start).total_seconds()
    _, target_passes = drive(start + target_departure, 110.0)
    target, companion, scout, decoy = "GV073KP", "FZ512QX", "EQ834LM", "CB227RT"
    sightings = [Sighting(target, cam, t) for cam, t in target_passes.items()]
    sightings += [Sighting(companion, cam, t + timedelta(seconds=55 + rng.uniform(-10, 10)))
                  for cam, t in target_passes.items()]
    for cam in ("a26-nordausques", "a26-ardres", "d940-sangatte"):
        sightings.append(Sighting(scout, cam, target_passes[cam] - timedelta(seconds=rng.uniform(20, 0.9 * dt.total_seconds()))))
    for cam in ("a26-setques", "a16-calais-est", "a16-coquelles"):
        sightings.append(Sighting(decoy, cam, target_passes[cam] + timedelta(seconds=rng.uniform(-0.9, 0.9) * dt.total_seconds())))
    # through traffic: drives the motorway cameras in sequence at its own speed
    _, ref_passes = drive(start, 110.0)
    offsets = {cam: (ref_passes[cam] - start).total_seconds() for cam in MOTORWAY_SEQUENCE}
    through_rate = through_share * min(CAMERA_RATES_PER_H[c] for c in MOTORWAY_SEQUENCE) * rate_scale / 3600
    t = rng.expovariate(through_rate) if through_rate > 0 else span
    while t < span:
        plate, speed = random_plate(rng), rng.gauss(115, 12)
        factor = 110.0 / max(speed, 60.0)
        for cam in MOTORWAY_SEQUENCE:
            at = t + offsets[cam] * factor
            if at < span:
                sightings.append(Sighting(plate, cam, start + timedelta(seconds=at)))
        t += rng.expovariate(through_rate)
    # local traffic: the rest of each camera's rate, plates that are seen there once
    for cam, rate in CAMERA_RATES_PER_H.items():
        local = (rate * rate_scale / 3600) - (through_rate if cam in MOTORWAY_SEQUENCE else 0.0)
        t = rng.expovariate(local) if local > 0 else span
        while t < span:
            sightings.append(Sighting(random_plate(rng), cam, start + timedelta(seconds=t)))
            t += rng.expovariate(local)
    sightings.sort(key=lambda s: s.time)
    return CorridorScenario(start, end, target, companion, scout, decoy, target_passes, sightings)
