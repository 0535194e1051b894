"""HTTP for ``geo``: departure zones, a vehicle's route, its approach to the coast, its convoys.

:func:`add_geo_routes` registers the handlers and the live watch (:mod:`lapi.geo_watch`) on the
application; :func:`configure_geo` hands it the ``[geo]`` settings before the app starts
(without it, the defaults and the shipped zone file are used).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from aiohttp import web

from geo.approach import assess, recent_of_latest_trip
from geo.convoys import score_candidates
from geo.routes import POINT_DETAIL, RouteRules, build_route, observations_from_track, route_from_track
from geo.zones import ZoneSet, load_zones
from lapi.api.access import ANALYSTS, allow
from lapi.api.audit import counted
from lapi.api.gating import hits_only, mark, restricted_fields
from lapi.api.jsonout import dumps
from lapi.api.limits import plate_search
from lapi.api.params import query_float, query_int, query_time
from lapi.config import GeoSettings
from lapi.geo_watch import GeoWatch, WatchlistCache, approach_rules, convoy_rules
from lapi.store.beacons import BeaconStore
from lapi.store.db import Store
from lapi.store.geo import MAX_TARGET_PASSAGES, GeoStore
from lapi.store.outbox import enqueue_alert

ROUTE_LIMIT = 100_000
MAX_WINDOW = timedelta(days=31)
GEOJSON = "application/geo+json"


@dataclass
class GeoService:
    """What the geo handlers share; filled in when the application starts."""

    settings: GeoSettings
    zones: ZoneSet | None = None
    store: Store | None = None
    beacons: BeaconStore | None = None
    geo: GeoStore | None = None
    watch: GeoWatch | None = None
    watchlist: WatchlistCache | None = None


GEO = web.AppKey("geo", GeoService)



def _plate(request: web.Request) -> str:
    plate = plate_search(request.match_info["plate"])
    if len(plate) < 2:
        raise web.HTTPBadRequest(text="plate: must have 2-10 letters/digits (separators ignored)")
    return plate


def _time(request: web.Request, names: tuple[str, ...], default: datetime) -> datetime:
    """The first of ``names`` (a parameter and its alias) that is given."""
    for name in names:
        if (at := query_time(request, name)) is not None:
            return at
    return default


def _window(request: web.Request, default: timedelta) -> tuple[datetime, datetime]:
    """``start``/``end`` (or ``from``/``to``), ISO 8601 with offset or Unix seconds; default: the last ``default``."""
    now = datetime.now(timezone.utc)
    end = _time(request, ("end", "to"), now + timedelta(minutes=5))
    try:
        start = _time(request, ("start", "from"), end - default)
    except OverflowError:  # an end in year 1 leaves no room for the default window before it
        raise web.HTTPBadRequest(text=f"end: too early to have the default window of {default} before it") from None
    if end <= start:
        raise web.HTTPBadRequest(text="end: must be after start")
    if end - start > MAX_WINDOW:
        raise web.HTTPBadRequest(text=f"start/end: the window may span at most {MAX_WINDOW.days} days")
    return start, end


async def _observations(svc: GeoService, plate: str, start: datetime, end: datetime, hits_only: bool = False):
    rows = await svc.beacons.track(plate, start, end, ROUTE_LIMIT + 1, hits_only=hits_only)
    truncated = len(rows) > ROUTE_LIMIT
    obs, unlocated = observations_from_track(rows[:ROUTE_LIMIT])
    return obs, unlocated, truncated


# handlers ------------------------------------------------------------------------------------------

@allow(*ANALYSTS)
async def departure_zones(request: web.Request) -> web.Response:
    svc = request.app[GEO]
    doc = svc.zones.feature_collection()
    doc["source_file"] = str(svc.zones.path) if svc.zones.path else None
    return web.json_response(doc, content_type=GEOJSON, dumps=dumps)


@allow(*ANALYSTS, audit="consultation")
async def vehicle_route(request: web.Request) -> web.Response:
    """Sightings and fitted-beacon pings as trips: GeoJSON LineString per trip, Point per observation
    (``points``: compact by default, full, or none).  The track comes as numpy columns and the body is
    written as text by :meth:`geo.routes.Route.geojson_text` (see ``lapi bench route``)."""
    svc = request.app[GEO]
    plate = _plate(request)
    start, end = _window(request, timedelta(days=1))
    s = svc.settings
    rules = RouteRules(gap=timedelta(seconds=query_float(request, "gap_s", 60, 7 * 86400, default=s.trip_gap_s)),
                       max_plausible_kmh=query_float(request, "max_kmh", 10, 1000, default=s.max_plausible_kmh))
    points = request.query.get("points") or POINT_DETAIL[0]
    if points not in POINT_DETAIL:
        raise web.HTTPBadRequest(text=f"points: must be one of {', '.join(POINT_DETAIL)}, got {points!r}")
    restricted = hits_only(request)
    track, truncated = await svc.geo.route_track(plate, start, end, ROUTE_LIMIT, hits_only=restricted)
    counted(request, len(track))
    body = route_from_track(track, rules).geojson_text(
        points, plate_norm=plate, start=start.isoformat(), end=end.isoformat(), gap_s=rules.gap.total_seconds(),
        max_plausible_kmh=rules.max_plausible_kmh, truncated=truncated, **restricted_fields(restricted))
    return mark(web.Response(body=body, content_type=GEOJSON, charset="utf-8"), restricted)


@allow(*ANALYSTS, audit="consultation")
async def vehicle_approach(request: web.Request) -> web.Response:
    """The latest trip's stance toward every departure zone: distance, closing rate, ETA, alert."""
    svc = request.app[GEO]
    plate = _plate(request)
    start, end = _window(request, timedelta(days=1))
    rules = approach_rules(svc.settings)
    restricted = hits_only(request)
    obs, unlocated, _ = await _observations(svc, plate, start, end, restricted)
    counted(request, len(obs))
    approach = assess(obs, svc.zones, rules)
    if approach is None:
        raise web.HTTPNotFound(text=f"no located sighting or fitted-beacon ping of {plate} between "
                                    f"{start.isoformat()} and {end.isoformat()}")
    trip = build_route(recent_of_latest_trip(obs, rules), RouteRules(gap=rules.trip_gap)).trips[-1]
    return mark(web.json_response({
        "plate_norm": plate, "start": start.isoformat(), "end": end.isoformat(),
        "rules": {"distance_m": rules.distance_m, "eta_s": rules.eta_s, "recent_s": rules.recent.total_seconds(),
                  "trip_gap_s": rules.trip_gap.total_seconds(), "min_closing_kmh": rules.min_closing_kmh},
        "recent": trip.summary(), **approach.as_dict(rules), **restricted_fields(restricted)}, dumps=dumps), restricted)


@allow(*ANALYSTS, audit="consultation")
async def vehicle_convoys(request: web.Request) -> web.Response:
    """Vehicles seen within ``dt`` of the target at ``k`` or more cameras, ranked by surprise."""
    svc = request.app[GEO]
    plate = _plate(request)
    start, end = _window(request, timedelta(days=1))
    s = svc.settings
    rules = convoy_rules(s, query_int(request, "k", s.cotravel_k, 2, 50),
                         query_float(request, "dt", 1, 3600, default=s.cotravel_dt_s))
    limit = query_int(request, "limit", 50, 1, 1000)
    min_score = query_float(request, "min_score", -1000, 1000)
    restricted = hits_only(request)
    data = await svc.geo.convoy_data(plate, start, end, rules, hits_only=restricted)
    ranked = score_candidates(data.passages, data.co_sightings, data.population, rules)
    if min_score is not None:
        ranked = [c for c in ranked if c.score >= min_score]
    listed = await svc.watchlist.watched([c.plate for c in ranked[:limit]]) if ranked else set()
    counted(request, min(limit, len(ranked)))
    return mark(web.json_response({
        "plate_norm": plate, "start": start.isoformat(), "end": end.isoformat(), "k": rules.k,
        "dt_s": rules.dt.total_seconds(), "rate_window_s": rules.rate_window.total_seconds(),
        "passages": len(data.passages), "cameras": len({p.camera_id for p in data.passages}),
        "population": data.population, "passages_truncated_at": MAX_TARGET_PASSAGES if data.truncated else None,
        "candidates_total": len(ranked),
        "candidates": [{**c.as_dict(), "listed": c.plate in listed} for c in ranked[:limit]],
        **restricted_fields(restricted)}, dumps=dumps), restricted)


# wiring --------------------------------------------------------------------------------------------

def configure_geo(app: web.Application, settings: GeoSettings) -> None:
    """Use these ``[geo]`` settings (zones already loaded by the config) instead of the defaults."""
    app[GEO].settings = settings


def add_geo_routes(app: web.Application) -> None:
    """Register the geo endpoints and start/stop the live watch with the application."""
    from lapi.api.app import BEACONS, HUB, INGEST, STORE

    app[GEO] = GeoService(GeoSettings())

    async def on_startup(app: web.Application) -> None:
        svc = app[GEO]
        svc.zones = svc.settings.zones or load_zones(svc.settings.departure_zones)
        svc.store, svc.beacons = app[STORE], app[BEACONS]
        svc.geo = GeoStore(svc.store)
        svc.watchlist = WatchlistCache(svc.store)
        store = svc.store

        async def publish(alert: dict) -> None:  # through the outbox: feeds, webhooks and MQTT, durably
            await enqueue_alert(store, alert)

        svc.watch = GeoWatch(svc.settings, svc.zones, svc.store, svc.beacons, publish, svc.watchlist.watched)
        await svc.watch.start(app[HUB])
        app[INGEST].listeners.append(svc.watch.on_pings)

    async def on_cleanup(app: web.Application) -> None:
        svc = app[GEO]
        if svc.watch is not None:
            if svc.watch.on_pings in app[INGEST].listeners:
                app[INGEST].listeners.remove(svc.watch.on_pings)
            await svc.watch.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    r = app.router
    r.add_get("/v1/geo/zones", departure_zones)
    r.add_get("/v1/vehicles/{plate}/route", vehicle_route)
    r.add_get("/v1/vehicles/{plate}/approach", vehicle_approach)
    r.add_get("/v1/vehicles/{plate}/convoys", vehicle_convoys)
