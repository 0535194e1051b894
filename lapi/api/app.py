"""The HTTP API (aiohttp), versioned under ``/v1``.

Handlers validate input, hand frames to the reader in a worker thread (the event loop keeps serving
while a frame is read), store through :class:`~lapi.store.db.Store` and publish hits to the
:class:`~lapi.alerts.AlertHub`.  Every client error is a JSON ``{"error": {...}}`` with a 4xx
status and a message saying what to fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import psycopg
from aiohttp import web

from lapi import __version__
from lapi.alerts import AlertHub
from lapi.api.access import ANALYSTS, TOKENS, access_middleware, allow, public
from lapi.api.audit import AUDIT, audit_middleware, counted
from lapi.api.gating import hits_only, mark, refuse_non_hit, restricted_fields
from lapi.api.jsonout import dumps
from lapi.api.limits import Gate, Saturated, TooLarge, check_image_size, plate_search
from lapi.api.openapi import openapi_document
from lapi.api.params import query_float, query_time
from lapi.config import ConfigError, TrackerSettings, parse_cameras
from lapi.security_config import LimitSettings, RetentionSettings
from lapi.plates import names_a_vehicle
from lapi.reading.batcher import ReadBatcher
from lapi.reading.pipeline import ImageDecodeError, PlateReader, decode_image
from lapi.store.beacons import BeaconStore
from lapi.store.db import Conflict, FrameSeen, NotFound, Store
from lapi.store.audit import AuditLog
from lapi.store.tokens import TokenStore
from trackers.ingest import PingIngest
from trackers.osmand import OsmAndError, decode_osmand
from trackers.pings import BEACON_ID_RULE, PingError, PingRules, parse_time, valid_beacon_id, validate_ping_batch
from trackers.state import StopRules

log = logging.getLogger(__name__)

STORE = web.AppKey("store", Store)
READER = web.AppKey("reader", PlateReader)
HUB = web.AppKey("hub", AlertHub)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
BATCHER = web.AppKey("batcher", ReadBatcher)  # frames of every camera, read in micro-batches
MAX_FRAME_BYTES = web.AppKey("max_frame_bytes", int)
INGEST = web.AppKey("ingest", PingIngest)
BEACONS = web.AppKey("beacons", BeaconStore)
TRACKERS = web.AppKey("trackers", TrackerSettings)
LIMITS = web.AppKey("limits", LimitSettings)  # set by the service from [limits]
FRAME_GATE = web.AppKey("frame_gate", Gate)   # frames received and not yet stored (limits.pending_frames)
BODY_LIMIT = web.RequestKey("body_limit", tuple)  # (bytes, config key) of the limit a 413 names
RETENTION = web.AppKey("retention", RetentionSettings)  # set by the service from [retention]

_IMAGE_TYPES = {"image/jpeg", "image/png"}
CAMERA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")  # as the cameras table checks


MAX_MESSAGE = 500  # an error message quoting hostile input is cut here


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "... (cut)"
    return web.json_response({"error": {"status": status, "message": message, **extra}}, status=status)



@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Turn every failure into a JSON error; an unexpected one is logged and answered 500."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit, key = request.get(BODY_LIMIT, (request.app[MAX_FRAME_BYTES], "server.max_frame_bytes"))
        return json_error(413, f"request body too large: the limit is {limit} bytes ({key})")
    except TooLarge as err:
        return json_error(413, str(err))
    except Saturated as err:
        response = json_error(429, str(err))
        response.headers["Retry-After"] = str(err.retry_after_s)
        return response
    except web.HTTPException as err:
        if err.status < 400:
            raise
        return json_error(err.status, err.reason if not err.text or err.text.startswith(f"{err.status}:") else err.text)
    except NotFound as err:
        return json_error(404, str(err))
    except Conflict as err:
        return json_error(409, str(err))
    except psycopg.errors.UniqueViolation as err:
        return json_error(409, f"already exists: {err.diag.message_primary}")
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as err:
        # a value our checks let through and the schema refused: the caller's input, not a crash
        log.warning("database refused input on %s %s: %s", request.method, request.path, err.diag.message_primary)
        return json_error(400, f"invalid value: {err.diag.message_primary or err}")
    except Exception:  # noqa: BLE001 - the server must keep serving
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error (logged on the server)")


async def bounded_body(request: web.Request) -> bytes:
    """The request body, refused (413) beyond ``limits.max_json_bytes`` before more is read."""
    limit = request.app[LIMITS].max_json_bytes
    request[BODY_LIMIT] = (limit, "limits.max_json_bytes")
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return body


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text=f"Content-Type must be application/json, got {request.content_type[:100]!r}")
    raw = await bounded_body(request)
    try:
        return json.loads(raw.decode(request.charset or "utf-8"))
    except (ValueError, UnicodeDecodeError, LookupError) as err:  # JSONDecodeError, bad number, bad charset
        raise web.HTTPBadRequest(text=f"malformed JSON body: {str(err)[:200]}") from None
    except RecursionError:
        raise web.HTTPBadRequest(text="malformed JSON body: nested too deeply") from None


def _plate_query(request: web.Request) -> str:
    """The ``{plate}`` of a vehicle query (see :func:`lapi.api.limits.plate_search`)."""
    return plate_search(request.match_info["plate"])


# handlers ----------------------------------------------------------------------------------------

@public("health checks by load balancers and monitoring")
async def health(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
        db = "ok"
    except Exception as err:  # noqa: BLE001 - reported, not raised
        db = f"error: {err}"
    status = 200 if db == "ok" else 503
    return web.json_response({"status": "ok" if status == 200 else "degraded", "version": __version__,
                              "database": db, "alert_consumers": request.app[HUB].consumers,
                              "trackers": request.app[INGEST].stats.totals()}, status=status)


@public("the API description")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(__version__))


@allow(*ANALYSTS)
async def list_cameras(request: web.Request) -> web.Response:
    cams = await request.app[STORE].list_cameras()
    return web.json_response({"cameras": [c.__dict__ for c in cams]})


@allow("admin")
async def put_camera(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    try:
        (cam,) = parse_cameras([body])
    except ConfigError as err:
        raise web.HTTPBadRequest(text=str(err).replace("cameras[0].", "")) from None
    if not CAMERA_ID.fullmatch(cam.id) or len(cam.name) > 200 or len(cam.road) > 100:
        raise web.HTTPBadRequest(text="id: 1-64 letters, digits, '_', '.', ':' or '-' (starting with a letter or "
                                      "digit); name: at most 200 characters; road: at most 100")
    await request.app[STORE].upsert_camera(cam)
    return web.json_response(cam.__dict__, status=201)


@allow("camera")
async def post_frame(request: web.Request) -> web.Response:
    """Read plates in one camera frame, store the reads, raise hits."""
    if request.content_type not in _IMAGE_TYPES:
        raise web.HTTPUnsupportedMediaType(text=f"Content-Type must be image/jpeg or image/png, got {request.content_type!r}")
    limit = request.app[MAX_FRAME_BYTES]
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    camera_id = request.query.get("camera_id", "")
    if not camera_id:
        raise web.HTTPBadRequest(text="camera_id: query parameter is required")
    now = datetime.now(timezone.utc)
    captured_at = query_time(request, "captured_at", now)
    if captured_at > now + timedelta(minutes=5):
        raise web.HTTPBadRequest(text=f"captured_at: is in the future ({captured_at.isoformat()})")
    if captured_at < request.app[RETENTION].rules.oldest_storable(now):
        raise web.HTTPBadRequest(text=f"captured_at: {captured_at.isoformat()} is older than the retention "
                                      "period ([retention]): such a read may not be stored")
    position = (query_float(request, "lat", -90, 90), query_float(request, "lon", -180, 180),
                query_float(request, "heading", 0, 360))
    store = request.app[STORE]
    await store.get_camera(camera_id)  # 404 before the frame is read
    key = _frame_key(request)
    if key is not None and (seen := await store.frame_replay(camera_id, key)) is not None:
        return _replayed(seen)  # a retry of a frame already stored: its original reads, nothing stored
    gate = request.app[FRAME_GATE]
    gate.enter()  # 429 when limits.pending_frames frames are already held: the body is not read
    try:
        return await _read_and_store(request, camera_id, captured_at, position, key)
    finally:
        gate.leave()


def _frame_key(request: web.Request) -> str | None:
    """The camera's name for this frame (``Idempotency-Key`` header or ``frame_id``), if it gives one."""
    key = request.headers.get("Idempotency-Key") or request.query.get("frame_id") or None
    if key is not None and (len(key) > 200 or not key.isprintable()):
        raise web.HTTPBadRequest(text="Idempotency-Key / frame_id: at most 200 printable characters")
    return key


def _replayed(seen: dict[str, Any]) -> web.Response:
    return web.json_response({**seen, "reading_ms": 0.0, "replayed": True}, dumps=dumps)


async def _read_and_store(request: web.Request, camera_id: str, captured_at: datetime,
                          position: tuple[float | None, float | None, float | None], key: str | None) -> web.Response:
    store = request.app[STORE]
    body = await request.read()
    check_image_size(body, request.app[LIMITS])
    loop = asyncio.get_running_loop()
    try:
        frame = await loop.run_in_executor(request.app[EXECUTOR], decode_image, body)
    except ImageDecodeError as err:
        raise web.HTTPBadRequest(text=f"image: {err}") from None
    result = await request.app[BATCHER].read(frame)
    reads, ms = result.reads, result.reading_ms
    from lapi.api.video_routes import is_tracked, tracked_frame

    if is_tracked(request, camera_id):  # its reads are stored under vehicle passes; the pass is alerted
        return await tracked_frame(request, camera_id, captured_at, reads, ms, position, key)
    try:
        stored = await store.store_reads(camera_id, captured_at, reads, position, key)
    except FrameSeen:  # the same frame sent twice at once: the other request stored it
        return _replayed(await store.frame_replay(camera_id, key or ""))
    alerts = [hit.alert for s in stored for hit in s.hits]  # the outbox feed publishes them, in id order
    return web.json_response({
        "camera_id": camera_id, "captured_at": captured_at.isoformat(), "reading_ms": round(ms, 1),
        "reads": [{"id": s.id, **s.read.as_dict(), "hits": [h.id for h in s.hits]} for s in stored],
        "hits": alerts,
    })


@allow("beacon")
async def post_pings(request: web.Request) -> web.Response:
    """LAPI's own JSON batch: all-or-nothing, validated like every other protocol's fixes."""
    body = await _json_body(request)
    ingest = request.app[INGEST]
    most = request.app[LIMITS].max_ping_batch
    if isinstance(body, list) and len(body) > most:
        raise TooLarge(f"batch of {len(body)} pings: at most {most} per request (limits.max_ping_batch)")
    admit_pings(request, len(body) if isinstance(body, list) else 1)
    try:
        pings = validate_ping_batch(body, datetime.now(timezone.utc), rules=ingest.rules)
        for i, ping in enumerate(pings):
            if not ingest.allowed(ping.beacon_id):
                raise PingError("unknown_beacon", f"beacon {ping.beacon_id} is not registered "
                                "(trackers.accept_unknown_beacons = false)", i if isinstance(body, list) else None)
    except PingError as err:
        item = body[err.index] if isinstance(body, list) and err.index is not None else body
        ingest.reject("json", item.get("beacon_id") if isinstance(item, dict) else None, [err])
        raise web.HTTPBadRequest(text=str(err)) from None
    result = await ingest.submit(pings, "json")
    return web.json_response({"received": result.received, "stored": result.stored,
                              "duplicates": result.duplicates}, status=201)


def admit_pings(request: web.Request, n: int) -> None:
    """429 when the ping writer already holds limits.pending_pings pings (it is behind: the database
    is slow or down); the sender retries after Retry-After instead of the service queueing without end."""
    limits, ingest = request.app[LIMITS], request.app[INGEST]
    if ingest.pending + n > limits.pending_pings:
        raise Saturated(f"busy: {ingest.pending} pings waiting to be written, the limit is {limits.pending_pings} "
                        f"(limits.pending_pings); retry in {limits.retry_after_s} s", limits.retry_after_s)


@public("OsmAnd/Traccar devices cannot send tokens: beacons are admitted by id (trackers.accept_unknown_beacons)")
async def osmand(request: web.Request) -> web.Response:
    """OsmAnd / Traccar Client: one fix per request, in the query string or a form body."""
    params = dict(request.query)
    if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError, AssertionError) as err:  # no multipart boundary, bad encoding
            raise web.HTTPBadRequest(text=f"malformed form body: {str(err)[:200]}") from None
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    ingest = request.app[INGEST]
    now = datetime.now(timezone.utc)
    try:
        ping = decode_osmand(params, now, request.app[TRACKERS].osmand_speed_unit)
    except OsmAndError as err:
        ingest.reject("osmand", params.get("id") or params.get("deviceid"), [PingError(err.reason, err.message)])
        raise web.HTTPBadRequest(text=str(err)) from None
    try:
        ping = ingest.validate("osmand", ping, now)
    except PingError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    admit_pings(request, 1)
    result = await ingest.submit([ping], "osmand")
    return web.json_response({"received": 1, "stored": result.stored, "duplicates": result.duplicates})


@allow("supervisor")
async def tracker_stats(request: web.Request) -> web.Response:
    ts = request.app[TRACKERS]
    return web.json_response({**request.app[INGEST].stats.snapshot(), "beacons_known": len(request.app[INGEST].known),
                              "rules": {"max_future_skew_s": ts.max_future_skew_s, "max_speed_kmh": ts.max_speed_kmh,
                                        "accept_unknown_beacons": ts.accept_unknown_beacons}})


def _beacon_id(request: web.Request) -> str:
    beacon_id = request.match_info["beacon_id"]
    if not valid_beacon_id(beacon_id):
        raise web.HTTPBadRequest(text=f"beacon id: {BEACON_ID_RULE}")
    return beacon_id


def _body_time(body: dict, key: str) -> datetime | None:
    if body.get(key) is None:
        return None
    try:
        return parse_time(body[key], key)
    except PingError as err:
        raise web.HTTPBadRequest(text=str(err)) from None


@allow(*ANALYSTS, audit="consultation")
async def list_beacons(request: web.Request) -> web.Response:
    rows = await request.app[BEACONS].list_beacons(datetime.now(timezone.utc))
    counted(request, len(rows))
    return web.json_response({"beacons": rows}, dumps=dumps)


@allow(*ANALYSTS, audit="consultation")
async def get_beacon(request: web.Request) -> web.Response:
    row = await request.app[BEACONS].get_beacon(_beacon_id(request), datetime.now(timezone.utc))
    counted(request, 1)
    return web.json_response(row, dumps=dumps)


@allow(*ANALYSTS, audit="alteration")
async def patch_beacon(request: web.Request) -> web.Response:
    """Register a beacon or change its label / watched flag / silence threshold."""
    beacon_id = _beacon_id(request)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    for key in body:
        if key not in ("label", "watched", "silence_after_s"):
            raise web.HTTPBadRequest(text=f"{key}: unknown field (known: label, watched, silence_after_s)")
    label, watched, silence = body.get("label"), body.get("watched"), body.get("silence_after_s")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        raise web.HTTPBadRequest(text="label: must be a string of at most 200 characters")
    if watched is not None and not isinstance(watched, bool):
        raise web.HTTPBadRequest(text="watched: must be true or false")
    if silence is not None and (isinstance(silence, bool) or not isinstance(silence, int) or not 10 <= silence <= 30 * 86400):
        raise web.HTTPBadRequest(text="silence_after_s: must be an integer number of seconds, 10 to 2592000")
    await request.app[BEACONS].register(beacon_id, label, watched, silence)
    request.app[INGEST].known.add(beacon_id)
    return web.json_response(await request.app[BEACONS].get_beacon(beacon_id, datetime.now(timezone.utc)), dumps=dumps)


@allow(*ANALYSTS, audit="alteration")
async def add_fitting(request: web.Request) -> web.Response:
    """Beacon X fitted on vehicle Y from ``from`` (default now) until ``to`` (default: still fitted)."""
    beacon_id = _beacon_id(request)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    plate = body.get("plate")
    if not isinstance(plate, str) or not names_a_vehicle(plate):
        raise web.HTTPBadRequest(text="plate: required, 2-10 letters/digits (separators ignored)")
    start = _body_time(body, "from") or datetime.now(timezone.utc)
    end = _body_time(body, "to")
    if end is not None and end <= start:
        raise web.HTTPBadRequest(text="to: must be after from")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 500:
        raise web.HTTPBadRequest(text="note: must be a string of at most 500 characters")
    row = await request.app[BEACONS].add_fitting(beacon_id, plate, start, end, note)
    request.app[INGEST].known.add(beacon_id)
    return web.json_response(row, status=201, dumps=dumps)


@allow(*ANALYSTS, audit="consultation")
async def list_fittings(request: web.Request) -> web.Response:
    beacon_id = request.query.get("beacon_id") or None
    plate = request.query.get("plate") or None
    if beacon_id is not None and not valid_beacon_id(beacon_id):
        raise web.HTTPBadRequest(text=f"beacon_id: {BEACON_ID_RULE}")
    if plate is not None and not names_a_vehicle(plate):
        raise web.HTTPBadRequest(text="plate: 2-10 letters/digits (separators ignored)")
    rows = await request.app[BEACONS].list_fittings(beacon_id, plate)
    counted(request, len(rows))
    return web.json_response({"fittings": rows}, dumps=dumps)


@allow(*ANALYSTS, audit="alteration")
async def end_fitting(request: web.Request) -> web.Response:
    try:
        fitting_id = int(request.match_info["fitting_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="fitting id must be an integer") from None
    body = await _json_body(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    at = _body_time(body, "at") or datetime.now(timezone.utc)
    row = await request.app[BEACONS].end_fitting(fitting_id, at)
    return web.json_response(row, dumps=dumps)


@allow(*ANALYSTS, audit="consultation")
async def vehicle_track(request: web.Request) -> web.Response:
    """Camera sightings and fitted-beacon pings of one vehicle, merged in time order."""
    plate = _plate_query(request)
    now = datetime.now(timezone.utc)
    start = query_time(request, "from", now - timedelta(days=1))
    end = query_time(request, "to", now + timedelta(minutes=5))
    if end <= start:
        raise web.HTTPBadRequest(text="to: must be after from")
    try:
        limit = int(request.query.get("limit", "10000"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit: must be an integer") from None
    if not 1 <= limit <= 100000:
        raise web.HTTPBadRequest(text="limit: must be between 1 and 100000")
    restricted = hits_only(request)
    rows = await request.app[BEACONS].track(plate, start, end, limit, hits_only=restricted)
    counted(request, len(rows))
    return mark(web.json_response({"plate_norm": plate, "from": start.isoformat(), "to": end.isoformat(),
                                   "points": rows, **restricted_fields(restricted)}, dumps=dumps), restricted)


@allow(*ANALYSTS, audit="consultation")
async def sightings(request: web.Request) -> web.Response:
    plate = _plate_query(request)
    now = datetime.now(timezone.utc)
    start = query_time(request, "from", now - timedelta(days=30))
    end = query_time(request, "to", now + timedelta(minutes=5))
    if end <= start:
        raise web.HTTPBadRequest(text="to: must be after from")
    try:
        limit = int(request.query.get("limit", "1000"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit: must be an integer") from None
    if not 1 <= limit <= 10000:
        raise web.HTTPBadRequest(text="limit: must be between 1 and 10000")
    restricted = hits_only(request)
    rows = await request.app[STORE].sightings(plate, start, end, limit, hits_only=restricted)
    counted(request, len(rows))
    return mark(web.json_response({"plate_norm": plate, "from": start.isoformat(), "to": end.isoformat(),
                                   "sightings": rows, **restricted_fields(restricted)}, dumps=dumps), restricted)


@allow(*ANALYSTS, audit="consultation")
async def read_crop(request: web.Request) -> web.Response:
    try:
        read_id = int(request.match_info["read_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="read id must be an integer") from None
    restricted = hits_only(request)
    crop, hit = await request.app[STORE].read_crop_and_class(read_id)
    if restricted and not hit:
        raise refuse_non_hit(f"read {read_id}")
    if not crop:
        raise web.HTTPNotFound(text=f"read {read_id} has no stored crop")
    counted(request, 1)
    return web.Response(body=crop, content_type="image/jpeg")


# application -------------------------------------------------------------------------------------

def make_ingest(store: Store, hub: AlertHub, ts: TrackerSettings) -> PingIngest:
    """The ping ingest configured from ``[trackers]``."""
    return PingIngest(BeaconStore(store), PingRules(timedelta(seconds=ts.max_future_skew_s), ts.max_speed_kmh),
                      StopRules(ts.stop_radius_m, timedelta(seconds=ts.stop_min_duration_s)), hub.publish,
                      ts.accept_unknown_beacons, ts.silence_alert_after_s)


def create_osmand_app(ingest: PingIngest, trackers: TrackerSettings) -> web.Application:
    """OsmAnd/Traccar Client on its own port, at ``/`` as Traccar serves it (the ingest runs in the main app)."""
    app = web.Application(middlewares=[error_middleware, access_middleware], client_max_size=64 * 1024)
    app[INGEST] = ingest
    app[TRACKERS] = trackers
    app[MAX_FRAME_BYTES] = 64 * 1024
    app[LIMITS] = LimitSettings(max_json_bytes=64 * 1024)
    app.router.add_route("GET", "/", osmand)
    app.router.add_route("POST", "/", osmand)
    return app


def create_app(store: Store, reader: PlateReader, max_frame_bytes: int = 20 * 1024 * 1024,
               reading_threads: int = 1, trackers: TrackerSettings | None = None, tracking: Any = None,
               streams: Any = (), batch_max_frames: int = 8, batch_max_wait_ms: float = 2.0) -> web.Application:
    """The aiohttp application; the store must already be open.  The ping ingest (and its silence
    watch) runs with the app; protocol servers on other ports are started by the service."""
    trackers = trackers or TrackerSettings()
    app = web.Application(middlewares=[error_middleware, access_middleware, audit_middleware],
                          client_max_size=max_frame_bytes)
    app[STORE] = store
    app[TOKENS] = TokenStore(store)
    app[AUDIT] = AuditLog(store)
    app[RETENTION] = RetentionSettings()
    app[LIMITS] = LimitSettings()
    app[READER] = reader
    app[HUB] = AlertHub()
    app[EXECUTOR] = ThreadPoolExecutor(max_workers=reading_threads, thread_name_prefix="lapi-read")
    app[BATCHER] = ReadBatcher(reader, app[EXECUTOR], batch_max_frames, batch_max_wait_ms, concurrency=reading_threads)
    app[MAX_FRAME_BYTES] = max_frame_bytes
    app[TRACKERS] = trackers
    app[BEACONS] = BeaconStore(store)
    app[INGEST] = make_ingest(store, app[HUB], trackers)
    silence_task: list[asyncio.Task] = []

    async def on_startup(app: web.Application) -> None:
        limits = app[LIMITS]  # the service may have set its own after create_app
        app[FRAME_GATE] = Gate(limits.pending_frames, "frames", "limits.pending_frames", limits.retry_after_s)
        app[BATCHER].start()
        await app[INGEST].start()
        silence_task.append(asyncio.create_task(app[INGEST].watch_silence(trackers.silence_check_interval_s),
                                                name="beacon-silence"))

    async def on_shutdown(app: web.Application) -> None:
        app[HUB].close()

    async def on_cleanup(app: web.Application) -> None:
        for task in silence_task:
            task.cancel()
        await app[INGEST].stop()
        await app[BATCHER].stop()
        app[EXECUTOR].shutdown(wait=True)

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    r = app.router
    r.add_get("/v1/health", health)
    r.add_get("/v1/openapi.json", openapi)
    r.add_get("/v1/cameras", list_cameras)
    r.add_post("/v1/cameras", put_camera)
    r.add_post("/v1/frames", post_frame)
    r.add_post("/v1/pings", post_pings)
    r.add_get("/v1/vehicles/{plate}/sightings", sightings)
    r.add_get("/v1/vehicles/{plate}/track", vehicle_track)
    if trackers.osmand_enabled:
        r.add_route("GET", "/v1/osmand", osmand)
        r.add_route("POST", "/v1/osmand", osmand)
    r.add_get("/v1/trackers/stats", tracker_stats)
    r.add_get("/v1/beacons", list_beacons)
    r.add_get("/v1/beacons/{beacon_id}", get_beacon)
    r.add_patch("/v1/beacons/{beacon_id}", patch_beacon)
    r.add_post("/v1/beacons/{beacon_id}/fittings", add_fitting)
    r.add_get("/v1/fittings", list_fittings)
    r.add_post("/v1/fittings/{fitting_id}/end", end_fitting)
    r.add_get("/v1/reads/{read_id}/crop", read_crop)
    from lapi.api.watchlist_routes import add_routes as add_watchlist_routes

    add_watchlist_routes(app)  # watchlists, entries, hits, alert feeds (lapi/api/watchlist_routes.py)
    from lapi.api.geo_routes import add_geo_routes

    add_geo_routes(app)  # zones, routes, approach, convoys, live geo alerts (lapi/api/geo_routes.py)
    from lapi.api.video_routes import add_video_routes

    add_video_routes(app, tracking, streams)  # passes, video sources, camera health (lapi/api/video_routes.py)
    from lapi.api.security_routes import add_security_routes

    add_security_routes(app)  # audit log, whoami (lapi/api/security_routes.py)
    from lapi.api.traffic_routes import add_traffic_routes

    add_traffic_routes(app)  # reads per camera per hour (lapi/api/traffic_routes.py)
    from lapi.api.investigation_routes import add_investigation_routes

    add_investigation_routes(app)  # retroactive hits, stakeout, ... (lapi/api/investigation_routes.py)
    from lapi.api.console_routes import add_console_routes

    add_console_routes(app)  # the analyst console at /console/, plate search, base layer (lapi/api/console_routes.py)
    return app
