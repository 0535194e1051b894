"""Query gating: reads that matched no watchlist may only be consulted for a procedure.

A query that can return non-hit reads (sightings, track, route, approach, convoys, passes, the crop
of a non-hit read) takes a ``procedure`` parameter, the reference of the criminal or customs
procedure it serves (it goes to the audit log).  Without one it answers with hit reads only and
says so: a ``restricted`` field in the JSON body and an ``X-LAPI-Restricted`` header.
"""

from __future__ import annotations

from aiohttp import web

from lapi.retention import parse_procedure

RESTRICTED = "hit reads only: give procedure=<reference> to see all reads"
RESTRICTED_HEADER = "X-LAPI-Restricted"


def procedure_of(request: web.Request) -> str | None:
    """The request's procedure reference (validated), None when it gives none."""
    raw = request.query.get("procedure")
    if raw is None or raw == "":
        return None
    try:
        return parse_procedure(raw)
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None


def hits_only(request: web.Request) -> bool:
    """Whether the answer must be limited to hit reads (no procedure given)."""
    return procedure_of(request) is None


def restricted_fields(restricted: bool) -> dict[str, str]:
    """The ``restricted`` field to merge into a JSON answer (nothing when not restricted)."""
    return {"restricted": RESTRICTED} if restricted else {}


def mark(response: web.StreamResponse, restricted: bool) -> web.StreamResponse:
    if restricted:
        response.headers[RESTRICTED_HEADER] = RESTRICTED
    return response


def refuse_non_hit(what: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=f"{what} is not a hit read: give procedure=<reference> (the criminal or "
                                  "customs procedure it serves) to consult it")
