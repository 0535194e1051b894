"""Route reconstruction: one vehicle's camera sightings and beacon fixes as trips.

Observations are merged in time order and cut into trips wherever the vehicle went unobserved for
longer than ``gap``.  Within a trip every hop (consecutive pair) gets its implied speed: the
great-circle distance over the time between them.  Roads are never shorter than the straight
line, so an implied speed above what a car can do means one of the two observations is not this
vehicle (a misread or a cloned plate) — the hop is flagged, not dropped, so an investigator sees
it.  Pure: the caller fetches the observations (``GeoStore.route_track``) and serves the GeoJSON.

Everything is kept as numpy columns (:class:`Track`), and the GeoJSON is written as text by
vectorised formatting (:class:`_TextRows`) rather than built as 10,000 dicts for ``json.dumps``,
which alone took half a second for a 10,000-observation route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from geo.geodesy import haversine_m_array

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
POINT_DETAIL = ("compact", "full", "none")   # per-observation detail in the GeoJSON; the first is the default


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


def _us_to_datetime(us: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, eq=False)
class Track:
    """Observations as columns, one row each: what the store hands over and the route keeps.

    Columns rather than objects because a route can hold 100,000 of them and everything done
    with them (sorting, hops, GeoJSON) is vectorised."""

    time_us: np.ndarray        # int64 microseconds since 1970-01-01 UTC
    lat: np.ndarray            # float64; NaN: no position (a camera never placed)
    lon: np.ndarray
    sighting: np.ndarray       # bool: a camera read, else a beacon fix
    source: np.ndarray         # intp index into ``sources`` (camera or beacon id)
    sources: tuple[str, ...]
    read_id: np.ndarray        # int64; -1 for beacon fixes
    speed_kmh: np.ndarray      # float64, as reported by the beacon; NaN: none (and for sightings)

    def __len__(self) -> int:
        return len(self.time_us)

    @classmethod
    def empty(cls) -> Track:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, bool), np.zeros(0, np.intp), (),
                   np.zeros(0, np.int64), np.zeros(0))

    @classmethod
    def from_observations(cls, observations: Sequence[Observation]) -> Track:
        n = len(observations)
        codes: dict[str, int] = {}
        source = np.fromiter((codes.setdefault(o.source, len(codes)) for o in observations), np.intp, n)
        return cls(
            np.fromiter(((o.time - UNIX_EPOCH) // timedelta(microseconds=1) for o in observations), np.int64, n),
            np.fromiter((o.lat for o in observations), float, n), np.fromiter((o.lon for o in observations), float, n),
            np.fromiter((o.kind == "sighting" for o in observations), bool, n), source, tuple(codes),
            np.fromiter((-1 if o.read_id is None else o.read_id for o in observations), np.int64, n),
            np.fromiter((np.nan if o.speed_kmh is None else o.speed_kmh for o in observations), float, n))

    @classmethod
    def concat(cls, parts: Sequence[Track]) -> Track:
        """One track of several (sightings and pings fetched apart); source codes renumbered."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        offsets = np.cumsum([0] + [len(p.sources) for p in parts])
        return cls(*(np.concatenate([getattr(p, c) for p in parts]) for c in ("time_us", "lat", "lon", "sighting")),
                   np.concatenate([p.source + o for p, o in zip(parts, offsets)]),
                   tuple(s for p in parts for s in p.sources),
                   np.concatenate([p.read_id for p in parts]), np.concatenate([p.speed_kmh for p in parts]))

    def take(self, index: np.ndarray | slice) -> Track:
        return Track(self.time_us[index], self.lat[index], self.lon[index], self.sighting[index], self.source[index],
                     self.sources, self.read_id[index], self.speed_kmh[index])

    def in_time_order(self) -> Track:
        """Sorted by time, a beacon fix before a camera read of the same instant (as ``ORDER BY time, kind``)."""
        key = self.time_us * 2 + self.sighting
        if len(key) < 2 or bool((key[1:] >= key[:-1]).all()):
            return self
        return self.take(np.argsort(key, kind="stable"))

    def observation(self, i: int) -> Observation:
        if self.sighting[i]:
            return Observation(_us_to_datetime(self.time_us[i]), float(self.lat[i]), float(self.lon[i]), "sighting",
                               self.sources[self.source[i]], None, int(self.read_id[i]))
        speed = float(self.speed_kmh[i])
        return Observation(_us_to_datetime(self.time_us[i]), float(self.lat[i]), float(self.lon[i]), "ping",
                           self.sources[self.source[i]], None if speed != speed else speed)


@dataclass(frozen=True, eq=False)
class Trip:
    """Observations ``a:b`` of the route's track and, as arrays, the hops between consecutive ones
    (hop ``i`` leads to observation ``i + 1``): kept vectorised so a 10,000-point route costs milliseconds."""

    number: int
    track: Track = field(repr=False)
    a: int
    b: int
    hop_seconds: np.ndarray = field(repr=False)
    hop_metres: np.ndarray = field(repr=False)
    hop_kmh: np.ndarray = field(repr=False)      # NaN: both at the same instant
    hop_plausible: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return self.b - self.a

    @property
    def lon(self) -> np.ndarray:
        return self.track.lon[self.a:self.b]

    @property
    def lat(self) -> np.ndarray:
        return self.track.lat[self.a:self.b]

    @property
    def observations(self) -> list[Observation]:
        return [self.track.observation(i) for i in range(self.a, self.b)]

    @property
    def hops(self) -> list[Hop]:
        return [Hop(i + 1, s, d, None if v != v else v, ok) for i, (s, d, v, ok) in enumerate(zip(
            self.hop_seconds.tolist(), self.hop_metres.tolist(), self.hop_kmh.tolist(), self.hop_plausible.tolist()))]

    @property
    def start(self) -> datetime:
        return _us_to_datetime(self.track.time_us[self.a])

    @property
    def end(self) -> datetime:
        return _us_to_datetime(self.track.time_us[self.b - 1])

    @property
    def duration_s(self) -> float:
        return (int(self.track.time_us[self.b - 1]) - int(self.track.time_us[self.a])) / 1e6

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
        sightings = int(self.track.sighting[self.a:self.b].sum())
        return {"trip": self.number, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "start_position": [round(float(self.lon[0]), 6), round(float(self.lat[0]), 6)],
                "end_position": [round(float(self.lon[-1]), 6), round(float(self.lat[-1]), 6)],
                "observations": len(self), "sightings": sightings, "pings": len(self) - sightings,
                "duration_s": round(self.duration_s, 1), "distance_m": round(self.distance_m, 1),
                "mean_speed_kmh": None if mean is None else round(mean, 1),
                "implausible_hops": self.implausible_hops}


@dataclass(frozen=True, eq=False)
class Route:
    """Trips over one located, time-ordered track; hop arrays span the whole track (hop ``i`` leads
    to observation ``i + 1``; those leading into a trip's first observation belong to no trip)."""

    track: Track
    bounds: np.ndarray            # trip k is track[bounds[k]:bounds[k + 1]]
    hop_seconds: np.ndarray
    hop_metres: np.ndarray
    hop_kmh: np.ndarray
    hop_plausible: np.ndarray
    unlocated: int = 0            # observations without a position (camera never placed), left out
    trips: list[Trip] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        b = self.bounds.tolist()
        object.__setattr__(self, "trips", [
            Trip(k + 1, self.track, s, e, self.hop_seconds[s:e - 1], self.hop_metres[s:e - 1], self.hop_kmh[s:e - 1],
                 self.hop_plausible[s:e - 1]) for k, (s, e) in enumerate(zip(b[:-1], b[1:]))])

    @property
    def observations(self) -> int:
        return len(self.track)

    def trip_summaries(self) -> list[dict[str, Any]]:
        """:meth:`Trip.summary` of every trip, the per-observation parts computed for all trips at once."""
        if not self.trips:
            return []
        a, b = self.bounds[:-1], self.bounds[1:]
        t = self.track
        distance = [trip.distance_m for trip in self.trips]
        implausible = [trip.implausible_hops for trip in self.trips]
        sightings = np.add.reduceat(t.sighting.astype(np.int64), a).tolist()
        start_us, end_us = t.time_us[a].tolist(), t.time_us[b - 1].tolist()
        lon, lat = np.round(t.lon, 6), np.round(t.lat, 6)
        out = []
        for k, (s, e) in enumerate(zip(a.tolist(), b.tolist())):
            duration = (end_us[k] - start_us[k]) / 1e6
            out.append({"trip": k + 1, "start": _us_to_datetime(start_us[k]).isoformat(),
                        "end": _us_to_datetime(end_us[k]).isoformat(),
                        "start_position": [float(lon[s]), float(lat[s])],
                        "end_position": [float(lon[e - 1]), float(lat[e - 1])],
                        "observations": e - s, "sightings": sightings[k], "pings": e - s - sightings[k],
                        "duration_s": round(duration, 1), "distance_m": round(distance[k], 1),
                        "mean_speed_kmh": round(distance[k] / duration * 3.6, 1) if duration > 0 else None,
                        "implausible_hops": implausible[k]})
        return out

    def geojson_text(self, points: str = "compact", **members: Any) -> bytearray:
        """RFC 7946 FeatureCollection as UTF-8 JSON: a LineString per trip (a null geometry for a trip
        of one observation), then a Point per observation in time order with the detail ``points``
        asks for (see :func:`_point_rows`).  ``members`` are added as foreign members (plate, window...).

        The per-observation text is written in fixed-width rows (:class:`_TextRows`), so numbers
        and ids are padded with spaces, which JSON ignores; the points are written straight into
        the buffer that is returned (joining 3 MB of pieces would cost as much as writing them)."""
        if points not in POINT_DETAIL:
            raise ValueError(f"points: must be one of {', '.join(POINT_DETAIL)}, got {points!r}")
        head = json.dumps({"type": "FeatureCollection", **members, "trips": len(self.trips),
                           "observations": self.observations, "unlocated": self.unlocated, "points": points},
                          ensure_ascii=False, separators=(",", ":"),
                          default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o))
        features: list[bytes] = []
        if len(self.track):
            lon, lat = _coordinate_text(self.track.lon, self.track.lat)
            coords = _TextRows(len(self.track), [b"[", ("lon", lon.shape[1]), b",", ("lat", lat.shape[1]), b"],"])
            coords.view("lon")[:] = lon
            coords.view("lat")[:] = lat
            line_text, width = memoryview(coords.buffer), coords.out.shape[1]
            for trip, summary in zip(self.trips, self.trip_summaries()):
                coordinates = line_text[trip.a * width:trip.b * width - 1]   # less the last comma
                geometry = b'{"type":"LineString","coordinates":[' + coordinates + b"]}" if len(trip) > 1 else b"null"
                properties = json.dumps({"feature": "trip", **summary}, separators=(",", ":")).encode()
                features.append(b'{"type":"Feature","geometry":' + geometry + b',"properties":' + properties + b"}")
        prefix = b"".join([head[:-1].encode(), b',"features":[', b",".join(features)])
        if points == "none" or not len(self.track):
            return bytearray(prefix + b"]}")
        rows = _point_rows(self, points, lon, lat, prefix + b",", b"]}")
        rows.out[-1, -1] = _SPACE   # the last point's comma
        return rows.buffer

    def to_geojson(self, points: str = "compact", **members: Any) -> dict[str, Any]:
        """:meth:`geojson_text` parsed: for tests and small uses."""
        return json.loads(self.geojson_text(points, **members))


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


def route_from_track(track: Track, rules: RouteRules = RouteRules(), unlocated: int = 0) -> Route:
    """Sort, split into trips at gaps, and measure every hop, all vectorised.  Observations without a
    position are left out and counted in ``unlocated``."""
    located = np.isfinite(track.lat) & np.isfinite(track.lon)
    if not located.all():
        unlocated += int((~located).sum())
        track = track.take(located)
    track = track.in_time_order()
    n = len(track)
    t = track.time_us / 1e6
    dt = np.diff(t)
    dist = haversine_m_array(track.lat[:-1], track.lon[:-1], track.lat[1:], track.lon[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(dt > 0, dist / dt * 3.6, np.nan)
    plausible = (dist <= rules.position_noise_m) | (np.nan_to_num(speed, nan=np.inf) <= rules.max_plausible_kmh)
    breaks = np.flatnonzero(dt > rules.gap.total_seconds()) + 1
    bounds = np.concatenate([[0], breaks, [n]]) if n else np.zeros(1, np.intp)
    return Route(track, bounds.astype(np.intp), dt, dist, speed, plausible, unlocated)


def build_route(observations: Sequence[Observation], rules: RouteRules = RouteRules(), unlocated: int = 0) -> Route:
    """:func:`route_from_track` for observation objects (the approach watch, tests)."""
    return route_from_track(Track.from_observations(observations), rules, unlocated)


# GeoJSON points as text -----------------------------------------------------------------------------
#
# Formatting 10,000 rows of numbers with Python's str() or json.dumps costs tens of milliseconds;
# here each column is written digit by digit with numpy integer arithmetic into a fixed-width
# slot of every row at once.  Values are right-aligned and padded with spaces (JSON whitespace);
# squeezing the padding out would cost as much again as writing the rows.

_SPACE, _MINUS, _POINT, _ZERO = 32, 45, 46, 48


def _coordinate_text(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes at 6 decimals (~0.1 m) as text columns."""
    out = []
    for v in (lon, lat):
        cols = np.full((_number_width(v, 6), len(v)), _SPACE, np.uint8)   # column-major, see _TextRows.put
        _write_number(cols.T, v, 6)
        out.append(cols.T)
    return out[0], out[1]


def _point_rows(route: Route, detail: str, lon: np.ndarray, lat: np.ndarray, prefix: bytes = b"",
                suffix: bytes = b"") -> _TextRows:
    """A Point feature per observation, each followed by a comma, between ``prefix`` and ``suffix``.

    ``full``: trip, index in the trip, time, kind, camera id and read id or beacon id and reported
    speed, and the hop that led to it (seconds, metres, implied km/h, plausible) — null for a
    trip's first observation.  ``compact`` leaves out what a client can derive: the index (order
    within the trip), the kind (which id is present) and the hop's seconds and metres (from the
    times and positions); it keeps the hop's implied speed and plausibility."""
    track, n = route.track, len(route.track)
    full = detail == "full"
    lengths = np.diff(route.bounds)
    trip_no = np.repeat(np.arange(1, len(lengths) + 1), lengths)
    first = route.bounds[:-1]
    # the hop into observation i is hop i - 1; a trip's first observation has none (set to null below)
    hop_s, hop_m, hop_v, hop_ok = (np.concatenate([[fill], h]) for h, fill in (
        (route.hop_seconds, 0.0), (route.hop_metres, 0.0), (route.hop_kmh, np.nan), (route.hop_plausible, True)))
    # what goes before the read id or the reported speed, per (source, kind)
    labels = []
    for name in track.sources:
        name_json = json.dumps(name, ensure_ascii=False)
        labels.append((('"kind":"ping",' if full else "") + f'"beacon_id":{name_json},"speed_kmh":').encode())
        labels.append((('"kind":"sighting",' if full else "") + f'"camera_id":{name_json},"read_id":').encode())
    reads = np.where(track.sighting, track.read_id, 0)
    speeds = np.where(track.sighting, np.nan, track.speed_kmh)
    value_width = max(_int_width(reads), _number_width(speeds, 2))
    parts: list[bytes | tuple[str, int | bytes]] = [
        b'{"type":"Feature","geometry":{"type":"Point","coordinates":[', ("lon", lon.shape[1]), b",",
        ("lat", lat.shape[1]), b']},"properties":{"feature":"observation","trip":', ("trip", _int_width(trip_no))]
    if full:
        index = np.arange(n) - np.repeat(first, lengths)
        parts += [b',"index":', ("index", _int_width(index))]
    fraction = bool((track.time_us % 1_000_000).any())
    parts += [b',"time":"', ("time", _ISO_TEMPLATE if fraction else _ISO_SECONDS_TEMPLATE), b",",
              ("label", max(map(len, labels))), ("value", value_width), b',"hop":', ("hop", 0)]
    if full:
        parts += [b'{"seconds":', ("s", _number_width(hop_s, 3)), b',"distance_m":', ("m", _number_width(hop_m, 1)),
                  b',"speed_kmh":']
    else:
        parts.append(b'{"speed_kmh":')
    parts += [("v", _number_width(hop_v, 1)), b',"plausible":', ("ok", 5), b"}", ("hop_end", 0), b"}},"]
    rows = _TextRows(n, parts, prefix, suffix)
    rows.view("lon")[:] = lon
    rows.view("lat")[:] = lat
    rows.put("trip", _write_int, trip_no)
    if full:
        rows.put("index", _write_int, index)
        rows.put("s", _write_number, hop_s, 3)
        rows.put("m", _write_number, hop_m, 1)
    rows.put("time", _write_iso, track.time_us, fraction)
    table = np.full((len(labels), rows.width("label")), _SPACE, np.uint8)
    for i, label in enumerate(labels):
        table[i, :len(label)] = np.frombuffer(label, np.uint8)
    rows.view("label")[:] = np.take(table, track.source * 2 + track.sighting, axis=0)
    rows.put("value", _write_read_or_speed, track.sighting, reads, speeds)
    rows.put("v", _write_number, hop_v, 1)
    rows.view("ok")[:] = np.take(np.frombuffer(b"falsetrue ", np.uint8).reshape(2, 5), hop_ok.astype(np.intp), axis=0)
    hop_from, hop_to = rows.offset("hop"), rows.offset("hop_end")
    rows.out[first, hop_from:hop_to] = _SPACE
    rows.out[first, hop_from:hop_from + 4] = np.frombuffer(b"null", np.uint8)
    return rows


class _TextRows:
    """``n`` rows of text of one fixed layout, between ``prefix`` and ``suffix`` in :attr:`buffer`:
    constant bytes and named fixed-width slots, which the writers below fill column by column.
    Parts: ``bytes`` (constant), ``(name, width)`` (a slot of spaces) or ``(name, bytes)`` (a slot
    holding a template)."""

    def __init__(self, n: int, parts: Sequence[bytes | tuple[str, int | bytes]], prefix: bytes = b"",
                 suffix: bytes = b"") -> None:
        template = bytearray()
        self._slots: dict[str, tuple[int, bytes]] = {}
        for part in parts:
            if isinstance(part, bytes):
                template += part
            else:
                name, fill = part
                fill = fill if isinstance(fill, bytes) else b" " * fill
                self._slots[name] = (len(template), fill)
                template += fill
        size = n * len(template)
        self.buffer = bytearray(len(prefix) + size + len(suffix))
        self.buffer[:len(prefix)] = prefix
        self.buffer[len(prefix) + size:] = suffix
        self.out = np.frombuffer(self.buffer, np.uint8, size, len(prefix)).reshape(n, len(template))
        self.out[:] = np.frombuffer(bytes(template), np.uint8)

    def offset(self, name: str) -> int:
        return self._slots[name][0]

    def width(self, name: str) -> int:
        return len(self._slots[name][1])

    def view(self, name: str) -> np.ndarray:
        a, fill = self._slots[name]
        return self.out[:, a:a + len(fill)]

    def put(self, name: str, write: Any, *args: Any) -> None:
        """``write(columns, *args)`` into the slot.  The writers go column by column, so they work
        on a column-major copy (each column contiguous, not one byte per row across megabytes),
        copied into the rows at the end."""
        a, fill = self._slots[name]
        scratch = np.empty((len(fill), len(self.out)), np.uint8)
        scratch[:] = np.frombuffer(fill, np.uint8)[:, None]
        write(scratch.T, *args)
        self.out[:, a:a + len(fill)] = scratch.T


_EXACT = 10.0 ** 12   # scaled values from here on are written one by one: beyond, x * 10**d in floating
                      # point is too coarse to round as round(x, d) does


def _number_width(v: np.ndarray, decimals: int) -> int:
    """Slot width for ``v`` at ``decimals``: sign, integer digits, point, decimals; at least "null"."""
    finite = v[np.isfinite(v)]
    top = float(np.abs(finite).max()) if len(finite) else 0.0
    if top * 10.0 ** decimals >= _EXACT:
        digits = len(f"{top:.{decimals}f}") - (decimals + 1 if decimals else 0)
    else:  # as _write_number rounds (a tie can carry into a new digit)
        digits = max(len(str(int(np.rint(top * 10.0 ** decimals)))) - decimals, 1)
    return max(1 + digits + (1 + decimals if decimals else 0), 4)


def _write_number(cols: np.ndarray, v: np.ndarray, decimals: int) -> None:
    """``v`` rounded to ``decimals`` into the (n, width) slot of spaces, right-aligned, as JSON numbers:
    trailing zeros of the fraction left out (one kept, as ``json.dumps`` writes 100.0), NaN as null."""
    n, w = cols.shape
    finite = np.isfinite(v)
    magnitude = np.abs(np.where(finite, v, 0.0)) * 10.0 ** decimals
    huge = magnitude >= _EXACT
    x = _narrow(np.rint(np.where(huge, 0.0, magnitude)).astype(np.int64))
    negative = (v < 0) & (x > 0)
    c = w - 1
    if decimals:
        shown = np.zeros(n, bool)   # a non-zero digit at or right of this one
        for k in range(decimals):
            q = x // 10
            digit = x - q * 10
            if k < decimals - 1:
                shown |= digit != 0
                cols[:, c] = (digit + _ZERO - _SPACE) * shown + _SPACE
            else:
                cols[:, c] = digit + _ZERO
            x, c = q, c - 1
        cols[:, c] = _POINT
        c -= 1
    _write_integer_digits(cols[:, :c + 1], x)
    _write_signs(cols, negative)
    if not finite.all():
        cols[~finite] = _SPACE
        cols[~finite, w - 4:] = np.frombuffer(b"null", np.uint8)
    for i in np.flatnonzero(huge & finite):
        text = f"{v[i]:.{decimals}f}".encode()
        cols[i] = _SPACE
        cols[i, w - len(text):] = np.frombuffer(text, np.uint8)


def _narrow(x: np.ndarray) -> np.ndarray:
    """int32 where the values allow: numpy divides them twice as fast as int64."""
    return x.astype(np.int32) if len(x) and -2**31 < x.min() and x.max() < 2**31 else x


def _write_integer_digits(cols: np.ndarray, x: np.ndarray) -> None:
    """Non-negative integers right-aligned in spaces (0 as "0"); the slot's first column stays
    free for a sign when sized by :func:`_int_width` or :func:`_number_width`."""
    q = x // 10
    c = cols.shape[1] - 1
    cols[:, c] = x - q * 10 + _ZERO
    x, c = q, c - 1
    while c >= 0:
        if not x.any():   # every value has been written: the rest is padding
            cols[:, :c + 1] = _SPACE
            break
        q = x // 10
        cols[:, c] = (x - q * 10 + _ZERO - _SPACE) * (x > 0) + _SPACE
        x, c = q, c - 1


def _write_signs(cols: np.ndarray, negative: np.ndarray) -> None:
    """A minus just left of each negative number's first digit."""
    if negative.any():
        rows = np.flatnonzero(negative)
        first_digit = np.argmax(cols[rows] != _SPACE, axis=1)
        cols[rows, first_digit - 1] = _MINUS


def _write_read_or_speed(cols: np.ndarray, sighting: np.ndarray, read_id: np.ndarray, speed_kmh: np.ndarray) -> None:
    """A sighting's read id, a beacon fix's reported speed (to 0.01 km/h, or null)."""
    _write_number(cols, speed_kmh, 2)
    if sighting.any():
        read_text = np.full((int(sighting.sum()), cols.shape[1]), _SPACE, np.uint8)
        _write_int(read_text, read_id[sighting])
        cols[sighting] = read_text


def _int_width(v: np.ndarray) -> int:
    return len(str(int(np.abs(v).max()))) + 1 if len(v) else 2


def _write_int(cols: np.ndarray, v: np.ndarray) -> None:
    """Integers into the (n, width) slot of spaces, right-aligned."""
    _write_integer_digits(cols, _narrow(np.abs(v.astype(np.int64))))
    _write_signs(cols, v < 0)


_ISO_TEMPLATE = b'0000-00-00T00:00:00.000000+00:00"'
_ISO_SECONDS_TEMPLATE = b'0000-00-00T00:00:00+00:00"'
_WHOLE_SECOND_END = np.frombuffer(b'+00:00"       ', np.uint8)


def _write_digits(cols: np.ndarray, x: np.ndarray, positions: Sequence[int]) -> None:
    for c in reversed(positions):
        q = x // 10
        cols[:, c] = x - q * 10 + _ZERO
        x = q


def _write_iso(cols: np.ndarray, time_us: np.ndarray, fraction: bool = True) -> None:
    """UTC times and the closing quote, as ``datetime.isoformat()`` writes them (no fraction for a
    whole second), into a slot holding :data:`_ISO_TEMPLATE` (or, where no time has a fraction,
    :data:`_ISO_SECONDS_TEMPLATE`); civil dates from day numbers (Howard Hinnant's days-to-civil
    algorithm)."""
    days, rest = np.divmod(time_us, 86_400_000_000)
    seconds, micro = np.divmod(rest, 1_000_000)
    z = days.astype(np.int32) + 719_468   # int32 from here: years 1-9999 fit, and numpy divides it faster
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    _write_digits(cols, year * 10_000 + month * 100 + day, (0, 1, 2, 3, 5, 6, 8, 9))
    seconds = seconds.astype(np.int32)
    _write_digits(cols, seconds // 3600 * 10_000 + seconds // 60 % 60 * 100 + seconds % 60, (11, 12, 14, 15, 17, 18))
    if fraction:
        _write_digits(cols, micro.astype(np.int32), (20, 21, 22, 23, 24, 25))
        cols[micro == 0, 19:] = _WHOLE_SECOND_END
