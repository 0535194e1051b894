"""The OpenAPI 3.1 description of ``/v1``, served at ``/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from lapi.api.openapi_schemas import RESPONSES, complete

_ERROR = {"description": "client error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _op(summary: str, ok: str = "200", params: list[dict] | None = None, body: dict | None = None,
        errors: tuple[str, ...] = ("400",), public: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {ok: {"description": "success"}}}
    op["responses"].update({code: _ERROR for code in errors})
    if public:
        op["security"] = []
    else:  # every other operation needs a token (lapi/api/access.py)
        op["responses"].update({"401": _ERROR, "403": _ERROR})
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": body}
    return op


def _q(name: str, desc: str, required: bool = False, schema: dict | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema or {"type": "string"}}


def _p(name: str, desc: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": desc, "schema": {"type": "string"}}


# queries that can return reads that matched no watchlist (lapi/api/gating.py)
GATED_PATHS = ("/v1/vehicles/{plate}/sightings", "/v1/vehicles/{plate}/track", "/v1/vehicles/{plate}/route",
               "/v1/vehicles/{plate}/approach", "/v1/vehicles/{plate}/convoys", "/v1/reads/{read_id}/crop",
               "/v1/passes", "/v1/passes/{pass_id}", "/v1/plates")


def _feed_params() -> list[dict[str, Any]]:
    return [_q("list", "only these lists (comma-separated or repeated)"), _q("category", "only these categories"),
            _q("camera", "only these cameras"), _q("min_priority", "1-5", schema={"type": "integer"}),
            _q("after", "resume: every alert with a larger id first", schema={"type": "integer"})]


def openapi_document(version: str) -> dict[str, Any]:
    time = {"type": "string", "format": "date-time"}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "LAPI", "version": version,
                 "description": "Licence-plate reading and vehicle-tracking event processor."},
        "paths": {
            "/v1/health": {"get": _op("Service and database health", errors=("503",), public=True)},
            "/v1/openapi.json": {"get": _op("This document", errors=(), public=True)},
            "/v1/cameras": {
                "get": _op("List cameras", errors=()),
                "post": _op("Register or update a camera", "201",
                            body={"application/json": {"schema": {"$ref": "#/components/schemas/Camera"}}},
                            errors=("400", "415")),
            },
            "/v1/frames": {"post": _op(
                "Push a camera frame; answers with the plates read and any watchlist hits", params=[
                    _q("camera_id", "registered camera id", True),
                    _q("captured_at", "capture time, ISO 8601 with offset (default: now)", schema=time),
                    _q("lat", "camera latitude if mobile", schema={"type": "number"}),
                    _q("lon", "camera longitude if mobile", schema={"type": "number"}),
                    _q("heading", "camera heading, degrees", schema={"type": "number"}),
                    _q("frame_id", "the camera's name for this frame (or the Idempotency-Key header): a retry "
                       "with the same one stores nothing and gets the original reads back (replayed: true)"),
                    {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                     "description": "same as frame_id"},
                ], body={"image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                         "image/png": {"schema": {"type": "string", "format": "binary"}}},
                errors=("400", "404", "413", "415"))},
            "/v1/pings": {"post": _op(
                "Push one beacon ping or a batch (array)", "201",
                body={"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Ping"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Ping"}}]}}},
                errors=("400", "415"))},
            "/v1/watchlists": {
                "get": _op("Watchlists with their match threshold and entry count", errors=()),
                "post": _op("Create a watchlist (recorded under the token's principal)", "201",
                            body={"application/json": {"schema": {"$ref": "#/components/schemas/WatchlistIn"}}},
                            errors=("400", "409", "415")),
            },
            "/v1/watchlists/{name}": {
                "get": _op("One watchlist", params=[_p("name", "list name")], errors=("404",)),
                "patch": _op("Change a watchlist's threshold (max_cost) or description", params=[
                    _p("name", "list name")],
                    body={"application/json": {"schema": {"$ref": "#/components/schemas/WatchlistIn"}}},
                    errors=("400", "404", "415")),
                "delete": _op("Delete an empty watchlist", "204", params=[_p("name", "list name")],
                              errors=("404", "409")),
            },
            "/v1/watchlist": {
                "get": _op("List watchlist entries", params=[_q("list", "only this list")], errors=("400",)),
                "post": _op("Add a watchlist entry (plate or pattern: '?' one character, '*' any run)", "201",
                            body={"application/json": {"schema": {"$ref": "#/components/schemas/WatchEntryIn"}}},
                            errors=("400", "409", "415")),
            },
            "/v1/watchlist/import": {"post": _op(
                "Import entries from CSV (header: plate[,list,category,legal_purpose,reason,priority,valid_from,"
                "valid_until,note,source]); (list, pattern) already listed are left as they are", "201",
                params=[_q("list", "default list for rows without one")],
                body={"text/csv": {"schema": {"type": "string"}}}, errors=("400", "415"))},
            "/v1/watchlist/export": {"get": _op("Entries as CSV (the import format)",
                                                params=[_q("list", "only this list")], errors=("400",))},
            "/v1/watchlist/changes": {"get": _op(
                "Change history of lists and entries, newest first: who, when, action, before/after", params=[
                    _q("list", "only this list"), _q("entry_id", "only this entry", schema={"type": "integer"}),
                    _q("limit", "max rows (1-10000, default 100)", schema={"type": "integer"}),
                    _q("before", "only changes with a smaller id (paging)", schema={"type": "integer"})])},
            "/v1/watchlist/{entry_id}": {
                "get": _op("One watchlist entry", params=[_p("entry_id", "entry id")], errors=("400", "404")),
                "patch": _op("Change some fields of an entry", params=[_p("entry_id", "entry id")],
                             body={"application/json": {"schema": {"$ref": "#/components/schemas/WatchEntryIn"}}},
                             errors=("400", "404", "409", "415")),
                "delete": _op("Remove a watchlist entry (kept in the change history)", "204",
                              params=[_p("entry_id", "entry id")], errors=("400", "404")),
            },
            "/v1/hits": {"get": _op("Hits, newest first, with match type, cost, read confidence, status and "
                                    "crop_url", params=[
                                        _q("status", "new, confirmed or rejected"), _q("list", "only this list"),
                                        _q("limit", "max rows (1-10000, default 100)", schema={"type": "integer"}),
                                        _q("before", "only hits with a smaller id (paging)",
                                           schema={"type": "integer"})])},
            "/v1/hits/{hit_id}": {"get": _op("One hit", params=[_p("hit_id", "hit id")], errors=("400", "404"))},
            **{f"/v1/hits/{{hit_id}}/{verb}": {"post": _op(
                f"{verb.capitalize()} a new hit after looking at the crop; who is the token's principal, why "
                "is required; a decided hit answers 409", params=[_p("hit_id", "hit id")],
                body={"application/json": {"schema": {"$ref": "#/components/schemas/DecisionIn"}}},
                errors=("400", "404", "409", "415"))} for verb in ("confirm", "reject")},
            "/v1/alerts": {"get": _op("Outbox alerts after an alert id, oldest first (polling)",
                                      params=[*_feed_params(), _q("limit", "max alerts (1-1000)",
                                                                  schema={"type": "integer"})])},
            "/v1/vehicles/{plate}/sightings": {"get": _op(
                "A vehicle's reads in a time range, newest first", params=[
                    _p("plate", "plate, any separators"), _q("from", "start (default: 30 days ago)", schema=time),
                    _q("to", "end (default: now)", schema=time),
                    _q("limit", "max rows (1-10000)", schema={"type": "integer"})])},
            "/v1/vehicles/{plate}/track": {"get": _op(
                "A vehicle's camera sightings and the pings of beacons fitted on it (only while fitted), "
                "merged in time order", params=[
                    _p("plate", "plate, any separators"), _q("from", "start (default: 24 hours ago)", schema=time),
                    _q("to", "end (default: now)", schema=time),
                    _q("limit", "max points (1-100000)", schema={"type": "integer"})])},
            "/v1/vehicles/{plate}/route": {"get": _op(
                "GeoJSON FeatureCollection (application/geo+json) of a vehicle's trips (sightings and "
                "fitted-beacon pings split at gaps): a LineString per trip with start, end, distance, mean speed, "
                "implausible hops; then a Point per observation in time order with its trip, time, camera_id and "
                "read_id or beacon_id and reported speed_kmh, and the hop to it (implied speed_kmh, plausible; "
                "null for a trip's first observation). Numbers may be padded with JSON whitespace", params=[
                    _p("plate", "plate, any separators"),
                    _q("start", "window start (alias from; default: end - 24 h)", schema=time),
                    _q("end", "window end (alias to; default: now)", schema=time),
                    _q("gap_s", "unobserved longer than this starts a new trip (default geo.trip_gap_s)",
                       schema={"type": "integer"}),
                    _q("max_kmh", "hops implying more are implausible (default geo.max_plausible_kmh)",
                       schema={"type": "number"}),
                    _q("points", "per-observation detail: compact (default); full adds each point's index in its "
                       "trip, kind, and the hop's seconds and distance_m (derivable from the times and positions); "
                       "none leaves the Points out (the LineStrings still carry the whole track)",
                       schema={"type": "string", "enum": ["compact", "full", "none"]})])},
            "/v1/vehicles/{plate}/approach": {"get": _op(
                "The latest trip's approach to each departure zone: distance, closing rate, bearing, ETA, and "
                "whether it meets the approach-alert rule", params=[
                    _p("plate", "plate, any separators"),
                    _q("start", "window start (alias from; default: end - 24 h)", schema=time),
                    _q("end", "window end (alias to; default: now)", schema=time)], errors=("400", "404"))},
            "/v1/vehicles/{plate}/convoys": {"get": _op(
                "Vehicles seen within dt of the target at k or more distinct cameras, ranked by how unlikely that "
                "is given each camera's background traffic (score = -log10 expected chance matches)", params=[
                    _p("plate", "plate, any separators"),
                    _q("start", "window start (alias from; default: end - 24 h)", schema=time),
                    _q("end", "window end (alias to; default: now)", schema=time),
                    _q("k", "distinct cameras shared, at least (2-50, default geo.cotravel_k)",
                       schema={"type": "integer"}),
                    _q("dt", "seconds from the target's passage (1-3600, default geo.cotravel_dt_s)",
                       schema={"type": "number"}),
                    _q("min_score", "only candidates scoring at least this", schema={"type": "number"}),
                    _q("limit", "max candidates (1-1000, default 50)", schema={"type": "integer"})])},
            "/v1/geo/zones": {"get": _op("The departure zones in force (GeoJSON FeatureCollection)", errors=())},
            "/v1/geo/base-layer": {"get": _op("The analysts' own map layer ([geo] base_layer, GeoJSON "
                                              "FeatureCollection) the console draws under routes", errors=("404",))},
            "/v1/geo/coastline": {"get": _op("The coastline the console draws under zones and routes ([geo] "
                                             "coastline, default: the shipped approximate line, GeoJSON "
                                             "FeatureCollection of LineStrings)", errors=("404",))},
            "/v1/plates": {"get": _op(
                "Plates read in a window matching a plate (exact), a pattern (wildcard: ? one character, * any "
                "run) or its OCR lookalikes (priced by the watchlists' weighted edit distance), most recent first "
                "(lookalikes: cheapest first)", params=[
                    _q("q", "plate or pattern, any separators", True),
                    _q("mode", "exact, wildcard or lookalike (default: wildcard when q has ? or *, else exact)",
                       schema={"type": "string", "enum": ["exact", "wildcard", "lookalike"]}),
                    _q("max_cost", "lookalike: highest weighted distance (0.05-0.99, default 0.8)",
                       schema={"type": "number"}),
                    _q("start", "window start (alias from; default: end - 7 days)", schema=time),
                    _q("end", "window end (alias to; default: now); at most 31 days", schema=time),
                    _q("limit", "max plates (1-500, default 50)", schema={"type": "integer"})])},
            "/v1/osmand": {m: _op(
                "OsmAnd / Traccar Client: one fix as query or form parameters (speed in knots by default)", params=[
                    _q("id", "beacon id", True), _q("lat", "latitude", schema={"type": "number"}),
                    _q("lon", "longitude", schema={"type": "number"}),
                    _q("timestamp", "Unix seconds/milliseconds or ISO 8601 (default: now)"),
                    _q("speed", "knots (trackers.osmand_speed_unit)", schema={"type": "number"}),
                    _q("bearing", "degrees", schema={"type": "number"}),
                    _q("altitude", "metres", schema={"type": "number"}),
                    _q("accuracy", "metres", schema={"type": "number"}),
                    _q("batt", "battery percent", schema={"type": "number"})], public=True) for m in ("get", "post")},
            "/v1/trackers/stats": {"get": _op("Ping counters per protocol: accepted, duplicates, rejected per "
                                              "reason, decode errors", errors=())},
            "/v1/beacons": {"get": _op("Beacons with their state (last fix, motion, battery, last seen) and "
                                       "current fitting", errors=())},
            "/v1/beacons/{beacon_id}": {
                "get": _op("One beacon's state and its fittings", params=[_p("beacon_id", "beacon id")],
                           errors=("400", "404")),
                "patch": _op("Register a beacon or set its label, watched flag, silence threshold",
                             params=[_p("beacon_id", "beacon id")],
                             body={"application/json": {"schema": {"$ref": "#/components/schemas/BeaconIn"}}},
                             errors=("400", "415")),
            },
            "/v1/beacons/{beacon_id}/fittings": {"post": _op(
                "Beacon fitted on a vehicle over [from, to); 409 if it overlaps another fitting", "201",
                params=[_p("beacon_id", "beacon id")],
                body={"application/json": {"schema": {"$ref": "#/components/schemas/FittingIn"}}},
                errors=("400", "409", "415"))},
            "/v1/fittings": {"get": _op("List fittings", params=[_q("beacon_id", "only this beacon"),
                                                                 _q("plate", "only this vehicle")])},
            "/v1/fittings/{fitting_id}/end": {"post": _op(
                "End a fitting (beacon removed) at ``at`` (default now)", params=[_p("fitting_id", "fitting id")],
                body={"application/json": {"schema": {"type": "object", "properties": {"at": time}}}},
                errors=("400", "404", "409"))},
            "/v1/reads/{read_id}/crop": {"get": _op("JPEG crop of a read's plate", params=[_p("read_id", "read id")],
                                                    errors=("400", "404"))},
            "/v1/alerts/ws": {"get": _op(
                "WebSocket: live alerts, one JSON message each (alert_id: stable, to de-duplicate); with "
                "after=<alert id> every alert missed since, then live ones, no gap or duplicate", "101",
                params=_feed_params())},
            "/v1/alerts/sse": {"get": _op(
                "Server-Sent Events: the same feed; each event's id is its alert id, so a reconnecting "
                "EventSource resumes with Last-Event-ID", params=_feed_params())},
            "/v1/alerts/deliveries": {"get": _op(
                "Webhook and MQTT delivery state per alert: attempts, next attempt, delivered, dead-lettered, "
                "last error", params=[_q("destination", "e.g. webhook:ops or mqtt:broker"),
                                      _q("state", "pending, delivered or dead"),
                                      _q("limit", "max rows (1-10000)", schema={"type": "integer"})])},
            "/v1/passes": {"get": _op(
                "Vehicle passes of tracked cameras, newest first: one per vehicle, plate voted over its frames, "
                "with confidence, frames, first/last seen, direction, best read, open/closed",
                params=[_q("camera_id", "only this camera"), _q("plate", "only this plate (separators ignored)"),
                        _q("from", "first seen at or after", schema=time), _q("to", "first seen before", schema=time),
                        _q("limit", "max rows (1-10000)", schema={"type": "integer"})])},
            "/v1/passes/{pass_id}": {"get": _op(
                "One pass with its frame reads (audit) and its hits, each with its alert ids (first alert, then "
                "revisions when the consensus changed)", params=[_p("pass_id", "pass id")], errors=("400", "404"))},
            "/v1/audit": {"get": _op(
                "Audit log, newest first (supervisors): who (principal, role, habilitation), when, action "
                "(consultation, export, alteration, disclosure, erasure), operation, justification (the procedure "
                "reference given), parameters and result count, never the data", params=[
                    _q("principal", "only this principal"),
                    _q("action", "consultation, export, alteration, disclosure or erasure"),
                    _q("operation", "operation containing this text, e.g. sightings"),
                    _q("justification", "only calls made under this procedure reference"),
                    _q("from", "at or after", schema=time), _q("to", "before", schema=time),
                    _q("before", "only entries with a smaller id (paging: next_before)", schema={"type": "integer"}),
                    _q("limit", "max rows (1-10000, default 100)", schema={"type": "integer"})])},
            "/v1/whoami": {"get": _op("The principal, role and habilitation of the token sent", errors=())},
            "/v1/procedures/holds": {
                "post": _op("Keep reads beyond their retention for a procedure (analysts, supervisors): read_ids, "
                            "or a plate over [from, to); expires_at is the hold's own end", "201",
                            body={"application/json": {"schema": {"$ref": "#/components/schemas/HoldIn"}}},
                            errors=("400", "404", "413", "415")),
                "get": _op("Procedure holds, newest first", params=[
                    _q("procedure_ref", "only this procedure reference"),
                    _q("active", "true: in force; false: expired or released",
                       schema={"type": "string", "enum": ["true", "false"]}),
                    _q("limit", "max rows (1-10000, default 100)", schema={"type": "integer"})])},
            "/v1/procedures/holds/{hold_id}/release": {"post": _op(
                "Release a hold (supervisors): its reads fall back under their class's retention",
                params=[_p("hold_id", "hold id")], errors=("400", "404", "409"))},
            "/v1/traffic/hourly": {"get": _op(
                "Reads per camera per hour (counts, no plates): the TimescaleDB continuous aggregate or the "
                "refreshed summary table on plain PostgreSQL, the newest hours counted live", params=[
                    _q("from", "first hour (default: to - 24 h)", schema=time),
                    _q("to", "end of the window, exclusive (default: now; at most 366 days after from)", schema=time),
                    _q("camera", "only these cameras (comma-separated or repeated, at most 1000)"),
                    _q("limit", "max rows (1-10000, default 10000)", schema={"type": "integer"})])},
            "/v1/cameras/{camera_id}/health": {"get": _op(
                "A camera's tracking and video source: state, fps in, fps processed, dropped frames, "
                "reconnections, last error", params=[_p("camera_id", "camera id")], errors=("404",))},
        },
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "API token from `lapi token create` (roles: camera, beacon, analyst, supervisor, consumer, "
                           "admin); the alert feeds also take ?token="}}, "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "status": {"type": "integer"}, "message": {"type": "string"}}}}},
            "Camera": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "lat": {"type": "number"},
                "lon": {"type": "number"}, "heading": {"type": "number"}, "road": {"type": "string"}}},
            "Ping": {"type": "object", "required": ["beacon_id", "time", "lat", "lon"], "properties": {
                "beacon_id": {"type": "string"}, "time": time, "lat": {"type": "number"}, "lon": {"type": "number"},
                "speed_kmh": {"type": "number"}, "heading": {"type": "number"}, "altitude_m": {"type": "number"},
                "accuracy_m": {"type": "number"}, "battery_pct": {"type": "number"}}},
            "BeaconIn": {"type": "object", "properties": {
                "label": {"type": "string"}, "watched": {"type": "boolean"},
                "silence_after_s": {"type": "integer", "minimum": 10}}},
            "FittingIn": {"type": "object", "required": ["plate"], "properties": {
                "plate": {"type": "string"}, "from": time, "to": time, "note": {"type": "string"}}},
            "WatchEntryIn": {"type": "object", "required": ["plate"], "properties": {
                "plate": {"type": "string", "description": "plate, or pattern with '?' (one character) and '*' "
                          "(any run); separators ignored"},
                "list": {"type": "string"}, "category": {"type": "string"}, "legal_purpose": {"type": "string"},
                "reason": {"type": "string"}, "priority": {"type": "integer", "minimum": 1, "maximum": 5},
                "valid_from": time, "valid_until": time, "note": {"type": "string"}, "source": {"type": "string"}}},
            "WatchlistIn": {"type": "object", "properties": {
                "name": {"type": "string"}, "description": {"type": "string"},
                "max_cost": {"type": "number", "minimum": 0, "exclusiveMaximum": 2,
                             "description": "highest lookalike-weighted edit cost still a hit (0.8: exact, "
                                            "wildcard, lookalikes; >= 1: one real edit too)"}}},
            "HoldIn": {"type": "object", "required": ["procedure", "expires_at"], "properties": {
                "procedure": {"type": "string", "minLength": 1, "maxLength": 200},
                "read_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1,
                             "maxItems": 1000},
                "plate": {"type": "string"}, "from": time, "to": time, "expires_at": time,
                "note": {"type": "string", "maxLength": 500}}},
            "DecisionIn": {"type": "object", "required": ["reason"], "properties": {
                "reason": {"type": "string"}}},
        }},
    }
    procedure = _q("procedure", "reference of the criminal or customs procedure the query serves (recorded in "
                   "the audit log); without it only hit reads are returned (restricted field, "
                   "X-LAPI-Restricted header) and a non-hit read's crop or pass is refused (403)")
    for path in GATED_PATHS:
        for op in doc["paths"][path].values():
            op.setdefault("parameters", []).append(procedure)
            op["responses"].setdefault("403", _ERROR)
    from lapi.api.investigation_openapi import RESPONSES as INVESTIGATION_RESPONSES, investigation_paths

    doc["paths"].update(investigation_paths(_op, _q, procedure, doc["paths"]))  # /v1/investigations/... (issue 12)
    RESPONSES.update(INVESTIGATION_RESPONSES)
    return complete(doc)
