"""HTTP routes of the security layer: the audit log (``GET /v1/audit``), procedure holds (reads kept
beyond their retention for a procedure), who am I."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiohttp import web

from lapi.api.access import ANALYSTS, CONSUMERS, DEVICES, allow, principal_of
from lapi.api.audit import AUDIT, counted
from lapi.api.jsonout import dumps
from lapi.api.params import query_int, query_time
from lapi.plates import names_a_vehicle, normalise_plate
from lapi.retention import parse_procedure
from lapi.store.audit import ACTIONS
from lapi.store.holds import HoldStore
from trackers.pings import PingError, parse_time



def query_text(request: web.Request, name: str, max_len: int = 200) -> str | None:
    """A free-text query parameter: printable, at most ``max_len`` characters."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len or not raw.isprintable():
        raise web.HTTPBadRequest(text=f"{name}: at most {max_len} printable characters")
    return raw


@allow("supervisor", audit="consultation")
async def audit_log(request: web.Request) -> web.Response:
    """Audit entries, newest first, filtered by principal, action, operation, procedure, time."""
    action = request.query.get("action") or None
    if action is not None and action not in ACTIONS:
        raise web.HTTPBadRequest(text=f"action: must be one of {', '.join(ACTIONS)}, got {action[:50]!r}")
    start, end = query_time(request, "from"), query_time(request, "to")
    if start is not None and end is not None and end <= start:
        raise web.HTTPBadRequest(text="to: must be after from")
    limit = query_int(request, "limit", 100, 1, 10000)
    rows = await request.app[AUDIT].query(
        query_text(request, "principal"), action, query_text(request, "operation"),
        query_text(request, "justification"), start, end, query_int(request, "before", None, 1, 2 ** 63 - 1), limit)
    counted(request, len(rows))
    return web.json_response({"entries": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None},
                             dumps=dumps)


@allow(*ANALYSTS, *CONSUMERS, *DEVICES)
async def whoami(request: web.Request) -> web.Response:
    """The principal, role and habilitation of the token sent (a client's check of its setup)."""
    p = principal_of(request)
    return web.json_response({"principal": p.name, "role": p.role, "habilitation": p.habilitation,
                              "token_id": p.token_id})


# procedure holds --------------------------------------------------------------------------------

MAX_HOLD = timedelta(days=3650)
MAX_HOLD_WINDOW = timedelta(days=366)
MAX_HOLD_READS = 1000


def _body_time(body: dict, key: str) -> datetime:
    try:
        return parse_time(body.get(key), key)
    except PingError as err:
        raise web.HTTPBadRequest(text=str(err)) from None


@allow(*ANALYSTS, audit="alteration")
async def add_hold(request: web.Request) -> web.Response:
    """Keep reads beyond their retention for a procedure: ``read_ids``, or ``plate`` with ``from``/``to``;
    ``expires_at`` is required (the hold's own end)."""
    from lapi.api.app import STORE, _json_body

    body = await _json_body(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    known = ("procedure", "read_ids", "plate", "from", "to", "expires_at", "note")
    for key in body:
        if key not in known:
            raise web.HTTPBadRequest(text=f"{str(key)[:50]}: unknown field (known: {', '.join(known)})")
    try:
        procedure = parse_procedure(body.get("procedure"))
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    now = datetime.now(timezone.utc)
    expires_at = _body_time(body, "expires_at")
    if not now < expires_at <= now + MAX_HOLD:
        raise web.HTTPBadRequest(text=f"expires_at: must be in the future, at most {MAX_HOLD.days} days ahead")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 500:
        raise web.HTTPBadRequest(text="note: a string of at most 500 characters")
    holds = HoldStore(request.app[STORE])
    who = principal_of(request)
    if ("read_ids" in body) == ("plate" in body):
        raise web.HTTPBadRequest(text="give read_ids, or plate with from and to (not both)")
    if "read_ids" in body:
        ids = body["read_ids"]
        if (not isinstance(ids, list) or not 1 <= len(ids) <= MAX_HOLD_READS
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2 ** 63 for i in ids)):
            raise web.HTTPBadRequest(text=f"read_ids: a list of 1-{MAX_HOLD_READS} positive integer read ids")
        rows = await holds.hold_reads(procedure, sorted(set(ids)), expires_at, note, who)
    else:
        plate = body["plate"]
        if not isinstance(plate, str) or not names_a_vehicle(plate):
            raise web.HTTPBadRequest(text="plate: 2-10 letters/digits (separators ignored)")
        start, end = _body_time(body, "from"), _body_time(body, "to")
        if not start < end <= start + MAX_HOLD_WINDOW:
            raise web.HTTPBadRequest(text=f"to: must be after from, the window at most {MAX_HOLD_WINDOW.days} days")
        rows = [await holds.hold_plate(procedure, normalise_plate(plate), start, end, expires_at, note, who)]
    counted(request, len(rows), hold_ids=[r["id"] for r in rows][:50])
    return web.json_response({"holds": rows}, status=201, dumps=dumps)


@allow(*ANALYSTS, audit="consultation")
async def list_holds(request: web.Request) -> web.Response:
    from lapi.api.app import STORE

    active = request.query.get("active")
    if active not in (None, "", "true", "false"):
        raise web.HTTPBadRequest(text=f"active: must be true or false, got {active[:50]!r}")
    rows = await HoldStore(request.app[STORE]).holds(
        query_text(request, "procedure_ref"), None if not active else active == "true",
        query_int(request, "limit", 100, 1, 10000))
    counted(request, len(rows))
    return web.json_response({"holds": rows}, dumps=dumps)


@allow("supervisor", audit="alteration")
async def release_hold(request: web.Request) -> web.Response:
    from lapi.api.app import STORE

    try:
        hold_id = int(request.match_info["hold_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="hold id must be an integer") from None
    if not 0 < hold_id < 2 ** 63:
        raise web.HTTPBadRequest(text="hold id must be a positive integer")
    row = await HoldStore(request.app[STORE]).release(hold_id, principal_of(request))
    return web.json_response(row, dumps=dumps)


def add_security_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/audit", audit_log)
    r.add_get("/v1/whoami", whoami)
    r.add_post("/v1/procedures/holds", add_hold)
    r.add_get("/v1/procedures/holds", list_holds)
    r.add_post("/v1/procedures/holds/{hold_id}/release", release_hold)
