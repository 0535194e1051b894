"""HTTP routes of the security layer: the audit log (``GET /v1/audit``) and who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from lapi.api.access import ANALYSTS, CONSUMERS, DEVICES, allow, principal_of
from lapi.api.audit import AUDIT, counted
from lapi.store.audit import ACTIONS
from trackers.pings import PingError, parse_time


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o))


def query_text(request: web.Request, name: str, max_len: int = 200) -> str | None:
    """A free-text query parameter: printable, at most ``max_len`` characters."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len or not raw.isprintable():
        raise web.HTTPBadRequest(text=f"{name}: at most {max_len} printable characters")
    return raw


def query_int(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: must be an integer, got {raw[:50]!r}") from None
    if not lo <= value <= hi:
        raise web.HTTPBadRequest(text=f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, name)
    except PingError as err:
        raise web.HTTPBadRequest(text=str(err)) from None


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
                             dumps=_dumps)


@allow(*ANALYSTS, *CONSUMERS, *DEVICES)
async def whoami(request: web.Request) -> web.Response:
    """The principal, role and habilitation of the token sent (a client's check of its setup)."""
    p = principal_of(request)
    return web.json_response({"principal": p.name, "role": p.role, "habilitation": p.habilitation,
                              "token_id": p.token_id})


def add_security_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/audit", audit_log)
    r.add_get("/v1/whoami", whoami)
