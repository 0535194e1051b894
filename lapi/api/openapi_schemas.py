"""Schemas of the API's success answers, checked by the fuzz test (tests/test_fuzz.py) against every
answer the service gives: what a client may rely on.  Objects may carry more properties."""

from __future__ import annotations

from typing import Any

_TIME = {"type": "string", "format": "date-time"}
_N_TIME = {"type": ["string", "null"], "format": "date-time"}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_N_NUM = {"type": ["number", "null"]}
_STR = {"type": "string"}
_N_STR = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}
_RESTRICTED = {"type": "string", "description": "present when only hit reads were returned (no procedure given)"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return _obj({key: {"type": "array", "items": item}}, extra)


SCHEMAS: dict[str, dict[str, Any]] = {
    "Read": _obj({"id": _INT, "plate_norm": _STR, "confidence": _NUM, "hits": {"type": "array", "items": _INT}},
                 {"text": _STR, "pass_id": {"type": ["integer", "null"]}, "at_frame_edge": _BOOL}),
    "Alert": _obj({"type": _STR}, {"alert_id": {"type": ["integer", "null"]}, "hit_id": {"type": ["integer", "null"]},
                                   "plate_norm": _STR, "camera_id": _STR}),
    "FrameResult": _obj({"camera_id": _STR, "captured_at": _TIME, "reading_ms": _NUM,
                         "reads": {"type": "array", "items": _ref("Read")},
                         "hits": {"type": "array", "items": _ref("Alert")}}, {"replayed": _BOOL}),
    "PingResult": _obj({"received": _INT, "stored": {"type": ["integer", "null"]},
                        "duplicates": {"type": ["integer", "null"]}}),
    "Sighting": _obj({"id": _INT, "read_at": _TIME, "camera_id": _STR, "plate_text": _STR, "plate_norm": _STR,
                      "confidence": _NUM, "lat": _N_NUM, "lon": _N_NUM, "hit": _BOOL},
                     {"country": _N_STR, "plate_format": _N_STR}),
    "Hit": _obj({"id": _INT, "read_id": _INT, "read_at": _TIME, "camera_id": _STR, "plate_norm": _STR,
                 "list_name": _STR, "match_type": _STR, "cost": _NUM, "status": {"enum": ["new", "confirmed", "rejected"]},
                 "crop_url": _STR},
                {"decided_by": _N_STR, "decided_at": _N_TIME, "alert_id": {"type": ["integer", "null"]}}),
    "WatchEntry": _obj({"id": _INT, "list_name": _STR, "plate_norm": _STR, "plate_text": _STR, "kind": _STR,
                        "priority": _INT, "created_by": _STR}, {"valid_from": _N_TIME, "valid_until": _N_TIME}),
    "Watchlist": _obj({"name": _STR, "max_cost": _NUM}, {"entries": _INT, "description": _STR}),
    "WatchlistChange": _obj({"id": _INT, "changed_at": _TIME, "changed_by": _STR,
                             "entity": {"enum": ["list", "entry"]}, "action": {"enum": ["insert", "update", "delete"]},
                             "list_name": _STR}),
    "AuditEntry": _obj({"id": _INT, "at": _TIME, "principal": _STR, "role": _STR, "habilitation": _STR,
                        "action": {"enum": ["consultation", "export", "alteration", "disclosure", "erasure"]},
                        "operation": _STR, "justification": _N_STR, "parameters": {"type": "object"},
                        "result_count": {"type": ["integer", "null"]}}),
    "Hold": _obj({"id": _INT, "procedure": _STR, "expires_at": _TIME, "created_by": _STR, "active": _BOOL},
                 {"read_id": {"type": ["integer", "null"]}, "plate_norm": _N_STR, "window_start": _N_TIME,
                  "window_end": _N_TIME, "released_at": _N_TIME}),
    "Pass": _obj({"id": _INT, "camera_id": _STR, "first_seen": _TIME, "last_seen": _TIME, "plate_norm": _STR,
                  "frames": _INT, "status": {"enum": ["open", "closed"]}}),
    "FeatureCollection": _obj({"type": {"const": "FeatureCollection"}, "features": {"type": "array"}},
                              {"restricted": _RESTRICTED}),
}

# (path, method) -> schema of its success answer (application/json unless the path says otherwise)
RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/health", "get"): _obj({"status": _STR, "version": _STR, "database": _STR}),
    ("/v1/cameras", "get"): _list_of("cameras", _obj({"id": _STR})),
    ("/v1/cameras", "post"): _obj({"id": _STR}),
    ("/v1/frames", "post"): _ref("FrameResult"),
    ("/v1/pings", "post"): _ref("PingResult"),
    ("/v1/osmand", "get"): _ref("PingResult"),
    ("/v1/osmand", "post"): _ref("PingResult"),
    ("/v1/watchlists", "get"): _list_of("watchlists", _ref("Watchlist")),
    ("/v1/watchlists", "post"): _ref("Watchlist"),
    ("/v1/watchlists/{name}", "get"): _ref("Watchlist"),
    ("/v1/watchlists/{name}", "patch"): _ref("Watchlist"),
    ("/v1/watchlist", "get"): _list_of("entries", _ref("WatchEntry")),
    ("/v1/watchlist", "post"): _ref("WatchEntry"),
    ("/v1/watchlist/{entry_id}", "get"): _ref("WatchEntry"),
    ("/v1/watchlist/{entry_id}", "patch"): _ref("WatchEntry"),
    ("/v1/watchlist/import", "post"): _obj({"rows": _INT, "inserted": _INT, "already_present": _INT}),
    ("/v1/watchlist/changes", "get"): _list_of("changes", _ref("WatchlistChange")),
    ("/v1/hits", "get"): _list_of("hits", _ref("Hit")),
    ("/v1/hits/{hit_id}", "get"): _ref("Hit"),
    ("/v1/hits/{hit_id}/confirm", "post"): _ref("Hit"),
    ("/v1/hits/{hit_id}/reject", "post"): _ref("Hit"),
    ("/v1/alerts", "get"): _list_of("alerts", _ref("Alert"), last_alert_id={"type": ["integer", "null"]}),
    ("/v1/alerts/deliveries", "get"): _list_of("deliveries", _obj({"destination": _STR, "alert_id": _INT,
                                                                   "state": {"enum": ["pending", "delivered", "dead"]}})),
    ("/v1/vehicles/{plate}/sightings", "get"): _list_of("sightings", _ref("Sighting"), plate_norm=_STR,
                                                        restricted=_RESTRICTED),
    ("/v1/vehicles/{plate}/track", "get"): _list_of("points", _obj({"kind": {"enum": ["sighting", "ping"]},
                                                                    "time": _TIME}), restricted=_RESTRICTED),
    ("/v1/vehicles/{plate}/convoys", "get"): _list_of("candidates", _obj({"plate_norm": _STR, "score": _NUM}),
                                                      restricted=_RESTRICTED),
    ("/v1/vehicles/{plate}/approach", "get"): _obj({"plate_norm": _STR}, {"restricted": _RESTRICTED}),
    ("/v1/trackers/stats", "get"): {"type": "object"},
    ("/v1/beacons", "get"): _list_of("beacons", _obj({"beacon_id": _STR})),
    ("/v1/beacons/{beacon_id}", "get"): _obj({"beacon_id": _STR}),
    ("/v1/beacons/{beacon_id}", "patch"): _obj({"beacon_id": _STR}),
    ("/v1/beacons/{beacon_id}/fittings", "post"): _obj({"id": _INT, "beacon_id": _STR, "plate_norm": _STR}),
    ("/v1/fittings", "get"): _list_of("fittings", _obj({"id": _INT, "beacon_id": _STR, "plate_norm": _STR})),
    ("/v1/fittings/{fitting_id}/end", "post"): _obj({"id": _INT, "beacon_id": _STR}),
    ("/v1/passes", "get"): _list_of("passes", _ref("Pass"), restricted=_RESTRICTED),
    ("/v1/passes/{pass_id}", "get"): _ref("Pass"),
    ("/v1/audit", "get"): _list_of("entries", _ref("AuditEntry"), next_before={"type": ["integer", "null"]}),
    ("/v1/whoami", "get"): _obj({"principal": _STR, "role": _STR, "habilitation": _STR, "token_id": _INT}),
    ("/v1/procedures/holds", "post"): _list_of("holds", _ref("Hold")),
    ("/v1/procedures/holds", "get"): _list_of("holds", _ref("Hold")),
    ("/v1/procedures/holds/{hold_id}/release", "post"): _ref("Hold"),
    ("/v1/traffic/hourly", "get"): _obj({"engine": {"type": "string", "enum": ["timescaledb", "postgresql"]},
                                         "hours": {"type": "array", "items": _obj({"camera_id": _STR, "hour": _TIME,
                                                                                  "reads": _INT})},
                                         "truncated": _BOOL}, {"from": _TIME, "to": _TIME}),
    ("/v1/cameras/{camera_id}/health", "get"): _obj({"camera_id": _STR, "tracked": _BOOL}),
    ("/v1/plates", "get"): _list_of("plates", _obj({"plate_norm": _STR, "reads": _INT, "cameras": _INT,
                                                    "first_seen": _TIME, "last_seen": _TIME, "hit": _BOOL,
                                                    "cost": _NUM}), mode=_STR, restricted=_RESTRICTED),
}
MEDIA: dict[str, str] = {"/v1/vehicles/{plate}/route": "application/geo+json", "/v1/geo/zones": "application/geo+json",
                         "/v1/geo/base-layer": "application/geo+json", "/v1/geo/coastline": "application/geo+json",
                         "/v1/watchlist/export": "text/csv", "/v1/reads/{read_id}/crop": "image/jpeg"}
MEDIA_SCHEMAS = {"application/geo+json": _ref("FeatureCollection"), "text/csv": {"type": "string"},
                 "image/jpeg": {"type": "string", "format": "binary"}}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """Give every operation its success schema, and the answers any call may get: 401/403 (token),
    413 (a body over the limits), 429 (saturated), 503 (audit log or database unavailable)."""
    doc["components"]["schemas"].update(SCHEMAS)
    error = {"$ref": "#/components/responses/Error"}
    doc["components"]["responses"] = {"Error": {"description": "error (JSON message saying what to fix)", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
    doc["components"]["schemas"]["Error"] = _obj({"error": _obj({"status": _INT, "message": _STR})})
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            ok = next(code for code in responses if code.startswith("2") or code == "101")
            schema = RESPONSES.get((path, method))
            media = MEDIA.get(path)
            if schema is not None:
                responses[ok]["content"] = {"application/json": {"schema": schema}}
            elif media is not None:
                responses[ok]["content"] = {media: {"schema": MEDIA_SCHEMAS[media]}}
            extra = ["429", "503"] if op.get("security") != [] else ["503"]
            if "requestBody" in op:
                extra.append("413")
            if "{" in path:
                extra.append("404")
            for code in extra:
                responses.setdefault(code, error)
    return doc
