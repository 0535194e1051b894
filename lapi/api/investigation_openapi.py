"""The OpenAPI description of ``/v1/investigations/...`` (merged into the document by
:func:`lapi.api.openapi.openapi_document`), with the schemas of their answers."""

from __future__ import annotations

from typing import Any

from lapi.api.openapi_schemas import _BOOL, _INT, _N_NUM, _NUM, _STR, _TIME, _list_of, _obj

_RESTRICTED = {"type": "string", "description": "present when only hit reads were returned (no procedure given)"}
_TIME_IN = {"type": "string", "format": "date-time"}
PLACE_IN = {"type": "object", "required": ["from", "to"], "properties": {
    "name": {"type": "string", "maxLength": 100},
    "cameras": {"type": "array", "items": {"type": "string"}, "maxItems": 500},
    "polygon": {"type": "object", "description": "GeoJSON Polygon or MultiPolygon, lon/lat"},
    "center": {"type": "object", "required": ["lat", "lon"], "properties": {
        "lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number", "minimum": -180, "maximum": 180}}},
    "radius_m": {"type": "number", "minimum": 1, "maximum": 50000},
    "from": _TIME_IN, "to": _TIME_IN}}


def investigation_paths(op: Any, q: Any, procedure: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    """Paths for the document, built with its ``_op`` and ``_q`` helpers; the candidate search takes the
    query language of ``GET /v1/plates`` (its q, mode and max_cost parameters, from ``paths``)."""
    search = [p for p in paths["/v1/plates"]["get"]["parameters"] if p["name"] in ("q", "mode", "max_cost")]
    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"application/json": {"schema": schema}}

    gated = [procedure]
    name = {"name": "name", "in": "path", "required": True, "description": "list name", "schema": {"type": "string"}}
    case = op("A signed case archive (zip) for a procedure: the chosen reads (and the reads of the chosen hits), "
              "their hits, passes, routes of plates over windows (GeoJSON), the reads' crops, the cameras, and the "
              "audit trail of every call made under the procedure; manifest.json lists each file with its SHA-256, "
              "signature.json holds the manifest's HMAC-SHA256 under the key named by investigations.case_key_env "
              "(409 when unset). The export is audited and recorded", params=[
                  {**procedure, "required": True}],
              body=body({"type": "object", "properties": {
                  "read_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 1000},
                  "pass_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 1000},
                  "hit_ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 1000},
                  "routes": {"type": "array", "maxItems": 20, "items": {
                      "type": "object", "required": ["plate", "from", "to"], "properties": {
                          "plate": {"type": "string"}, "from": _TIME_IN, "to": _TIME_IN}}},
                  "crops": {"type": "boolean"}, "note": {"type": "string", "maxLength": 2000}}}),
              errors=("400", "404", "409", "415"))
    case["responses"]["200"]["content"] = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
    return {
        "/v1/investigations/cases": {"post": case},
        "/v1/investigations/cases/verify": {"post": op(
            "Verify a case archive (the body) against this service's case key: signature of the manifest, every "
            "file's size and SHA-256, no file added or missing (the body: the zip archive, sent as application/zip or "
            "application/octet-stream)", body={"application/octet-stream": {"schema": {
                "type": "string", "format": "binary"}}}, errors=("400", "409", "415"))},
        "/v1/investigations/retroactive": {"post": op(
            "Check a watchlist entry against the stored reads of the last days (default "
            "investigations.retroactive_days; adding an entry does it by itself): every read it hits gets a hit "
            "marked retroactive, alerted like any other (\"retroactive\": true). Give entry_id, or list to check "
            "every entry of a list (up to 1,000; CSV imports are not checked by themselves)", body=body({
                "type": "object", "properties": {
                    "entry_id": {"type": "integer", "minimum": 1}, "list": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1, "maximum": 15}}}),
            errors=("400", "404", "415"))},
        "/v1/investigations/stakeout": {"post": op(
            "Vehicles seen at all (or min_places) of 2-10 places (cameras, a GeoJSON polygon, or a circle), each "
            "with its own time window; per vehicle and place: reads, first and last sighting", params=gated,
            body=body({"type": "object", "required": ["places"], "properties": {
                "places": {"type": "array", "items": PLACE_IN, "minItems": 2, "maxItems": 10},
                "min_places": {"type": "integer", "minimum": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10000}}}),
            errors=("400", "403", "415"))},
        "/v1/investigations/candidates": {"get": op(
            "Reads whose own string or one of their candidate strings (what else the plate may say: doubtful "
            "characters replaced by OCR lookalikes, scored from the character confidences) matches a plate "
            "(exact), a pattern (wildcard: ? one character, * any run) or its lookalikes; best score first, "
            "with the string that matched and whether via the read or a candidate", params=[
                *search, q("from", "window start (default: to - 7 days)", schema=_TIME_IN),
                q("to", "window end (default: now); at most 31 days", schema=_TIME_IN),
                q("limit", "max reads (1-1000, default 100)", schema={"type": "integer"}), procedure],
            errors=("400", "403"))},
        "/v1/investigations/locate/{plate}": {"get": op(
            "Where and when a vehicle is usually found (bases, hand-over points): its camera sightings and the "
            "stops of beacons fitted on it, grouped into places within radius_m, each with visits, stops, hours "
            "stopped, days present, usual local hours and a score (share of observed days there x log2(1 + "
            "visits + hours stopped)), most habitual first", params=[
                {"name": "plate", "in": "path", "required": True, "description": "plate, any separators",
                 "schema": {"type": "string"}},
                q("from", "window start (default: to - 30 days)", schema=_TIME_IN),
                q("to", "window end (default: now); at most 31 days", schema=_TIME_IN),
                q("radius_m", "places group visits within this distance (50-5000, default 500)",
                  schema={"type": "number"}),
                q("limit", "max places (1-200, default 20)", schema={"type": "integer"}), procedure],
            errors=("400", "403"))},
        "/v1/investigations/watchlists/{name}/sharing": {
            "get": op("A watchlist's partner services, purpose and provenance", params=[name], errors=("404",)),
            "put": op("Share a watchlist with named partner services and/or set its purpose (supervisors; logged in "
                      "the watchlist change history)", params=[name], body=body({"type": "object", "properties": {
                          "shared_with": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
                          "purpose": {"type": "string", "maxLength": 2000}}}), errors=("400", "404", "415"))},
        "/v1/investigations/watchlists/{name}/export": {"get": op(
            "A shared watchlist as JSON (format lapi-watchlist/1) for one of its partners: list metadata, purpose, "
            "provenance and entries; 403 when the list is not shared with that partner, 409 without a purpose",
            params=[name, q("partner", "the partner service the export is for", True)],
            errors=("400", "403", "404", "409"))},
        "/v1/investigations/watchlists/import": {"post": op(
            "Import a partner's exported list (lapi-watchlist/1) as a new list (supervisors): its provenance (issuing "
            "service, list, exported by and when) is kept on the list and in each entry's source; 409 if the name "
            "is taken", "201", params=[q("as", "the list's name here (default: its name there)")],
            body=body({"type": "object", "required": ["format", "service", "exported_by", "exported_at", "list",
                                                      "entries"]}), errors=("400", "409", "415"))},
    }


_SHARING = _obj({"name": _STR, "purpose": _STR, "shared_with": {"type": "array", "items": _STR},
                 "provenance": {"type": "object"}, "entries": _INT})
_PLACE_SEEN = _obj({"place": _STR, "reads": _INT, "first_seen": _TIME, "last_seen": _TIME})
RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/investigations/retroactive", "post"): _obj({
        "entries": _INT, "from": _TIME, "to": _TIME,
        "hits": {"type": "array", "items": _obj({"type": _STR, "alert_id": _INT, "hit_id": _INT, "read_id": _INT,
                                                  "retroactive": _BOOL, "cost": _NUM})}}),
    ("/v1/investigations/stakeout", "post"): _list_of(
        "vehicles", _obj({"plate_norm": _STR, "places_seen": _INT, "places": {"type": "array", "items": _PLACE_SEEN}}),
        places={"type": "array", "items": _obj({"name": _STR, "camera_ids": {"type": "array", "items": _STR}},
                                                {"radius_m": _N_NUM})},
        min_places=_INT, restricted=_RESTRICTED),
    ("/v1/investigations/candidates", "get"): _list_of(
        "reads", _obj({"read_id": _INT, "read_at": _TIME, "camera_id": _STR, "plate_norm": _STR, "matched": _STR,
                       "via": {"enum": ["read", "candidate"]}, "score": _NUM, "cost": _NUM, "hit": _BOOL}),
        q=_STR, mode=_STR, restricted=_RESTRICTED),
    ("/v1/investigations/cases/verify", "post"): _obj({"ok": _BOOL, "problems": {"type": "array", "items": _STR}}),
    **{("/v1/investigations/watchlists/{name}/sharing", m): _SHARING for m in ("get", "put")},
    ("/v1/investigations/watchlists/import", "post"): _SHARING,
    ("/v1/investigations/watchlists/{name}/export", "get"): _obj({
        "format": {"const": "lapi-watchlist/1"}, "service": _STR, "partner": _STR, "exported_by": _STR,
        "exported_at": _TIME, "list": _obj({"name": _STR, "purpose": _STR}), "entries": {"type": "array"}}),
    ("/v1/investigations/locate/{plate}", "get"): _list_of(
        "places", _obj({"lat": _NUM, "lon": _NUM, "visits": _INT, "stops": _INT, "days": _INT, "score": _NUM,
                        "usual_hours": {"type": "array", "items": _INT}}),
        plate_norm=_STR, observed_days=_INT, truncated=_BOOL, restricted=_RESTRICTED),
}
