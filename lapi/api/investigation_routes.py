"""HTTP routes of the investigation tools (issue 12), under ``/v1/investigations/...``.

Analysts and supervisors only; every call is audited; queries that can return reads that matched
nothing count only hit reads unless a ``procedure`` reference is given (lapi/api/gating.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from lapi import __version__
from lapi.api.access import ANALYSTS, allow, principal_of
from lapi.api.app import RETENTION, STORE, TRACKERS, _json_body, _plate_query, bounded_body
from lapi.api.audit import counted
from lapi.api.download import attachment
from lapi.api.gating import hits_only, mark, procedure_of, restricted_fields
from lapi.api.jsonout import dumps
from lapi.api.params import query_float, query_int, query_window
from lapi.console.search import plan as search_plan
from lapi.investigations.candidate_search import search_candidates
from lapi.investigations.case import verify
from lapi.investigations.case_store import MAX_ITEMS, CaseRequest, RouteRequest, gather, record_export
from lapi.investigations.locate import locate
from lapi.investigations.places import body_time, parse_places, place_cameras
from lapi.investigations.retroactive import check_entry
from lapi.investigations.sharing import export_document, parse_partners, parse_purpose, read_document
from lapi.investigations.settings import MAX_RETROACTIVE_DAYS, InvestigationSettings
from lapi.investigations.sharing_store import get_sharing, import_list, set_sharing
from lapi.investigations.stakeout import MAX_RESULTS, StakeoutQuery, stakeout

INVESTIGATIONS = web.AppKey("investigations", InvestigationSettings)  # set by the service from [investigations]
MAX_LIST_CHECK = 1000  # entries of a list checked retroactively in one call


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


async def _object(request: web.Request, known: tuple[str, ...]) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    for key in body:
        if key not in known:
            raise web.HTTPBadRequest(text=f"{key}: unknown field (known: {', '.join(known)})")
    return body


def _int(body: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = body.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise web.HTTPBadRequest(text=f"{key}: must be an integer between {lo} and {hi}, got {value!r}")
    return value


# retroactive hits --------------------------------------------------------------------------------

def retroactive_span(request: web.Request, days: int | None = None) -> tuple[datetime, datetime] | None:
    """[now - N days, now] for the retroactive check, N bounded by the non-hit retention (reads older
    than that are gone); None when the check is off (``investigations.retroactive_days = 0``)."""
    days = request.app[INVESTIGATIONS].retroactive_days if days is None else days
    if days <= 0:
        return None
    now = datetime.now(timezone.utc)
    lookback = min(timedelta(days=days), request.app[RETENTION].rules.non_hit)
    return now - lookback, now + timedelta(minutes=5)


async def retroactive_after_add(request: web.Request, entry_id: int) -> int:
    """Check a just-added entry against the stored reads (called by ``POST /v1/watchlist``); returns
    how many retroactive hits it raised."""
    span = retroactive_span(request)
    if span is None:
        return 0
    alerts = await check_entry(request.app[STORE], entry_id, *span, request.app[INVESTIGATIONS].max_retroactive_hits)
    return len(alerts)


@allow(*ANALYSTS, audit="alteration")
async def post_retroactive(request: web.Request) -> web.Response:
    """Check an entry, or every entry of a list (after a CSV import, which is not checked by itself),
    against the reads of the last ``days`` (default: investigations.retroactive_days)."""
    from lapi.watchlists import parse_list_name

    body = await _object(request, ("entry_id", "list", "days"))
    entry_id = _int(body, "entry_id", None, 1, 2 ** 63 - 1)
    if (entry_id is None) == ("list" not in body):
        raise web.HTTPBadRequest(text="entry_id or list: give one, the watchlist entry or list to check")
    days = _int(body, "days", request.app[INVESTIGATIONS].retroactive_days, 1, MAX_RETROACTIVE_DAYS)
    start, end = retroactive_span(request, days)
    store, settings = request.app[STORE], request.app[INVESTIGATIONS]
    if entry_id is not None:
        ids = [entry_id]
    else:
        try:
            name = parse_list_name(body["list"])
        except ValueError as err:
            raise web.HTTPBadRequest(text=str(err)) from None
        await store.watchlists.get_list(name)  # 404 for an unknown list
        ids = [e["id"] for e in await store.watchlists.entries(name)]
        if len(ids) > MAX_LIST_CHECK:
            raise web.HTTPBadRequest(text=f"list: {name!r} has {len(ids)} entries, at most {MAX_LIST_CHECK} are checked "
                                          "in one call: check its entries one by one (entry_id)")
    alerts = []
    for i in ids:
        alerts += await check_entry(store, i, start, end, settings.max_retroactive_hits)
    counted(request, len(alerts), entries=len(ids))
    return _json({"entry_id": entry_id, "list": body.get("list"), "entries": len(ids), "from": start.isoformat(),
                  "to": end.isoformat(), "hits": alerts})


# stakeout ----------------------------------------------------------------------------------------

@allow(*ANALYSTS, audit="consultation")
async def post_stakeout(request: web.Request) -> web.Response:
    """Vehicles seen at all (or ``min_places``) of 2-10 places, each with its own window."""
    body = await _object(request, ("places", "min_places", "limit"))
    try:
        places = parse_places(body.get("places"))
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    min_places = _int(body, "min_places", len(places), 1, len(places))
    limit = _int(body, "limit", 1000, 1, MAX_RESULTS)
    store = request.app[STORE]
    cameras = await store.list_cameras()
    known = {c.id for c in cameras}
    for i, place in enumerate(places):
        missing = [c for c in place.cameras if c not in known]
        if missing:
            raise web.HTTPBadRequest(text=f"places[{i}].cameras: unknown camera {missing[0]!r}")
    per_place = place_cameras(places, cameras)
    restricted = hits_only(request)
    rows = await stakeout(store, StakeoutQuery(places, per_place, min_places, limit, restricted))
    counted(request, len(rows))
    return mark(_json({"places": [{**p.describe(), "camera_ids": list(c)} for p, c in zip(places, per_place)],
                       "min_places": min_places, "vehicles": rows, **restricted_fields(restricted)}), restricted)


# candidate search --------------------------------------------------------------------------------

def _window(request: web.Request, default: timedelta, most: timedelta) -> tuple[datetime, datetime]:
    return query_window(request, default, most, default_end=timedelta(minutes=5))


@allow(*ANALYSTS, audit="consultation")
async def get_candidates(request: web.Request) -> web.Response:
    """Reads whose string or candidate strings match a plate, a pattern or its lookalikes, ranked."""
    raw = request.query.get("q", "")
    try:
        if not raw.strip() or len(raw) > 64 or not raw.isprintable():
            raise ValueError("required, a plate or a pattern ('?' one character, '*' any run), at most 64 "
                             "printable characters")
        plan = search_plan(raw, request.query.get("mode") or None)
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err) if str(err).startswith(("q:", "mode:")) else f"q: {err}") from None
    start, end = _window(request, timedelta(days=7), timedelta(days=31))
    max_cost = query_float(request, "max_cost", 0.05, 0.99, default=0.8)
    limit = query_int(request, "limit", 100, 1, 1000)
    restricted = hits_only(request)
    rows = await search_candidates(request.app[STORE], plan, start, end, limit, restricted, max_cost)
    counted(request, len(rows))
    return mark(_json({"q": plan.query, "mode": plan.mode, "from": start.isoformat(), "to": end.isoformat(),
                       "reads": rows, **restricted_fields(restricted)}), restricted)


# locate ------------------------------------------------------------------------------------------

MAX_TRACK = 100_000


@allow(*ANALYSTS, audit="consultation")
async def get_locate(request: web.Request) -> web.Response:
    """Where and when a vehicle is usually found: places of its sightings and beacon stops, scored."""
    from lapi.store.geo import GeoStore

    plate = _plate_query(request)
    start, end = _window(request, timedelta(days=30), timedelta(days=31))
    radius = query_float(request, "radius_m", 50, 5000, default=500.0)
    restricted = hits_only(request)
    track, truncated = await GeoStore(request.app[STORE]).route_track(plate, start, end, MAX_TRACK, restricted)
    ts = request.app[TRACKERS]
    found = locate(track, radius, ts.stop_radius_m, ts.stop_min_duration_s, query_int(request, "limit", 20, 1, 200))
    counted(request, len(found["places"]))
    return mark(_json({"plate_norm": plate, "from": start.isoformat(), "to": end.isoformat(), "truncated": truncated,
                       **found, **restricted_fields(restricted)}), restricted)


# case export -------------------------------------------------------------------------------------

def _ids(body: dict[str, Any], key: str) -> tuple[int, ...]:
    value = body.get(key, [])
    if (not isinstance(value, list) or len(value) > MAX_ITEMS
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2 ** 63 for v in value)):
        raise web.HTTPBadRequest(text=f"{key}: must be a list of at most {MAX_ITEMS} positive integer ids")
    return tuple(dict.fromkeys(value))


def _routes(body: dict[str, Any]) -> tuple[RouteRequest, ...]:
    from lapi.plates import KEY_MIN_CHARS, MAX_PLATE_CHARS, normalise_plate

    raw = body.get("routes", [])
    if not isinstance(raw, list) or len(raw) > 20:
        raise web.HTTPBadRequest(text="routes: must be a list of at most 20 {plate, from, to}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("plate"), str):
            raise web.HTTPBadRequest(text=f"routes[{i}]: must be an object {{plate, from, to}}")
        plate = normalise_plate(item["plate"])
        if not KEY_MIN_CHARS <= len(plate) <= MAX_PLATE_CHARS:
            raise web.HTTPBadRequest(text=f"routes[{i}].plate: 2-10 letters or digits (separators ignored)")
        try:
            start, end = body_time(item.get("from"), f"routes[{i}].from"), body_time(item.get("to"), f"routes[{i}].to")
        except ValueError as err:
            raise web.HTTPBadRequest(text=str(err)) from None
        if end <= start or end - start > timedelta(days=31):
            raise web.HTTPBadRequest(text=f"routes[{i}].to: must be after from, at most 31 days later")
        out.append(RouteRequest(plate, start, end))
    return tuple(out)


def _case_key(request: web.Request) -> bytes:
    settings = request.app[INVESTIGATIONS]
    key = settings.case_key()
    if key is None:
        raise web.HTTPConflict(text=f"case archives are signed: set the environment variable {settings.case_key_env} "
                                    "(investigations.case_key_env) to the key shared with the receiving services")
    return key


@allow(*ANALYSTS, audit="export")
async def post_case(request: web.Request) -> web.Response:
    """A signed zip of chosen reads, passes, hits, routes, crops and the procedure's audit trail."""
    procedure = procedure_of(request)
    if procedure is None:
        raise web.HTTPBadRequest(text="procedure: required, the reference of the procedure the case is exported for")
    body = await _object(request, ("read_ids", "pass_ids", "hit_ids", "routes", "crops", "note"))
    crops, note = body.get("crops", True), body.get("note", "")
    if not isinstance(crops, bool):
        raise web.HTTPBadRequest(text="crops: must be true or false")
    if not isinstance(note, str) or len(note) > 2000:
        raise web.HTTPBadRequest(text="note: must be a string of at most 2000 characters")
    req = CaseRequest(procedure, _ids(body, "read_ids"), _ids(body, "pass_ids"), _ids(body, "hit_ids"), _routes(body),
                      crops, note, body)
    if not (req.read_ids or req.pass_ids or req.hit_ids or req.routes):
        raise web.HTTPBadRequest(text="body names nothing to export: give read_ids, pass_ids, hit_ids or routes")
    key = _case_key(request)
    who = principal_of(request)
    now = datetime.now(timezone.utc)
    archive = await gather(request.app[STORE], req, {"created_at": now.isoformat(), "created_by": who.name,
                                                     "habilitation": who.habilitation, "service": f"LAPI {__version__}"})
    data, digest, signature = archive.pack(key)
    case_id = await record_export(request.app[STORE], procedure, who.name, who.habilitation, digest, signature,
                                  len(archive.files), len(data))
    counted(request, len(archive.files), case_id=case_id, manifest_sha256=digest)
    name = f"case-{case_id}-{now:%Y%m%d}.zip"
    return web.Response(body=data, content_type="application/zip", headers={
        "Content-Disposition": attachment(name), "X-LAPI-Case-Id": str(case_id),
        "X-LAPI-Manifest-SHA256": digest})


@allow(*ANALYSTS, audit="consultation")
async def post_case_verify(request: web.Request) -> web.Response:
    """Check an archive (the body) against this service's case key."""
    if request.content_type not in ("application/zip", "application/octet-stream"):
        raise web.HTTPUnsupportedMediaType(text="Content-Type must be application/zip (or application/octet-stream), "
                                                f"got {request.content_type[:100]!r}")
    key = _case_key(request)
    result = verify(await bounded_body(request), key)
    counted(request, 1, ok=result.ok)
    return _json(result.as_dict())


# shared watchlists -------------------------------------------------------------------------------

@allow(*ANALYSTS, audit="consultation")
async def get_list_sharing(request: web.Request) -> web.Response:
    row = await get_sharing(request.app[STORE], request.match_info["name"])
    counted(request, 1)
    return _json(row)


@allow("supervisor", audit="alteration")
async def put_list_sharing(request: web.Request) -> web.Response:
    """Which partner services a list is shared with, and its purpose (a supervisor's decision)."""
    body = await _object(request, ("shared_with", "purpose"))
    try:
        partners = parse_partners(body["shared_with"]) if "shared_with" in body else None
        purpose = parse_purpose(body["purpose"]) if "purpose" in body else None
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    if partners is None and purpose is None:
        raise web.HTTPBadRequest(text="body names nothing to change: give shared_with and/or purpose")
    row = await set_sharing(request.app[STORE], request.match_info["name"], partners, purpose,
                            principal_of(request).name)
    return _json(row)


@allow(*ANALYSTS, audit="export")
async def export_list(request: web.Request) -> web.Response:
    """The list for one of its partners (``partner``), with metadata, purpose and provenance."""
    store = request.app[STORE]
    listing = await get_sharing(store, request.match_info["name"])
    partner = request.query.get("partner", "")
    if not partner:
        raise web.HTTPBadRequest(text="partner: required, the partner service the export is for")
    if partner not in listing["shared_with"]:
        shared = ", ".join(listing["shared_with"]) or "nobody"
        raise web.HTTPForbidden(text=f"list {listing['name']!r} is not shared with {partner[:64]!r} (shared with: "
                                     f"{shared}); a supervisor shares it with PUT .../sharing")
    if not listing["purpose"]:
        raise web.HTTPConflict(text=f"list {listing['name']!r} has no purpose: a shared list must say what it may be "
                                    "used for (PUT .../sharing with purpose)")
    entries = await store.watchlists.entries(listing["name"])
    doc = export_document(listing, entries, partner, f"LAPI {__version__}", principal_of(request).name,
                          datetime.now(timezone.utc))
    counted(request, len(entries), partner=partner)
    return _json(doc)


@allow("supervisor", audit="alteration")
async def import_shared_list(request: web.Request) -> web.Response:
    """A partner's exported list as a new list here (``as``: its name here), provenance kept."""
    from lapi.watchlists import parse_max_cost

    body = await _json_body(request)
    who = principal_of(request).name
    try:
        listing, rows = read_document(body, request.query.get("as") or None, who, datetime.now(timezone.utc))
        if listing["max_cost"] is not None:
            listing["max_cost"] = parse_max_cost(listing["max_cost"], "list.max_cost")
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    row = await import_list(request.app[STORE], listing, rows, who)
    counted(request, row["inserted"], list=listing["name"])
    return _json(row, 201)


def add_investigation_routes(app: web.Application) -> None:
    if INVESTIGATIONS not in app:
        app[INVESTIGATIONS] = InvestigationSettings()
    r = app.router
    r.add_post("/v1/investigations/retroactive", post_retroactive)
    r.add_post("/v1/investigations/stakeout", post_stakeout)
    r.add_get("/v1/investigations/candidates", get_candidates)
    r.add_get("/v1/investigations/locate/{plate}", get_locate)
    r.add_post("/v1/investigations/cases", post_case)
    r.add_post("/v1/investigations/cases/verify", post_case_verify)
    r.add_get("/v1/investigations/watchlists/{name}/sharing", get_list_sharing)
    r.add_put("/v1/investigations/watchlists/{name}/sharing", put_list_sharing)
    r.add_get("/v1/investigations/watchlists/{name}/export", export_list)
    r.add_post("/v1/investigations/watchlists/import", import_shared_list)
