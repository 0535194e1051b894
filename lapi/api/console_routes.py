"""HTTP for the analyst console: its static files, plate search, the coastline and the analysts' base layer.

The files (lapi/console/static) are public: they hold no data, and the page asks for a token
before it calls anything.  Only files present when the app is built are served (a fixed table,
so no path from a request ever reaches the file system), with their content type and headers
that keep the page from being framed or from loading anything but its own origin.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aiohttp import web

from lapi.api.access import ANALYSTS, allow, public
from lapi.api.audit import counted
from lapi.api.gating import hits_only, mark, restricted_fields
from lapi.api.geo_routes import GEO, GEOJSON, _window
from lapi.api.jsonout import dumps
from lapi.api.params import query_float, query_int
from lapi.console import STATIC_DIR
from lapi.console.base_layer import cached_layer
from lapi.console.search import plan, search_plates
from lapi.matching import DEFAULT_MAX_COST

CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
                 ".json": "application/json", ".png": "image/png", ".ico": "image/x-icon"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
}
CONSOLE_FILES = web.AppKey("console_files", dict)


def static_table(root: Path = STATIC_DIR) -> dict[str, tuple[Path, str]]:
    """``relative name -> (file, content type)`` of every servable file under ``root``."""
    return {p.relative_to(root).as_posix(): (p, CONTENT_TYPES[p.suffix]) for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in CONTENT_TYPES}


@public("the console's page and scripts hold no data; every data call they make needs the analyst's token")
async def console_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name") or "index.html"
    found = request.app[CONSOLE_FILES].get(name)
    if found is None:
        raise web.HTTPNotFound(text=f"no console file {name[:100]!r}")
    path, content_type = found
    return web.Response(body=path.read_bytes(), content_type=content_type,
                        charset="utf-8" if content_type.startswith("text/") else None, headers=HEADERS)


@public("a link to the console")
async def console_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


@allow(*ANALYSTS, audit="consultation")
async def plates(request: web.Request) -> web.Response:
    """Distinct plates read in a window that match a plate, a pattern or its lookalikes."""
    text = request.query.get("q", "")
    if not text.strip() or len(text) > 64 or not text.isprintable():
        raise web.HTTPBadRequest(text="q: required, a plate or a pattern ('?' one character, '*' any run), "
                                      "at most 64 printable characters")
    max_cost = query_float(request, "max_cost", 0.05, 0.99)
    max_cost = DEFAULT_MAX_COST if max_cost is None else max_cost
    try:
        search = plan(text, request.query.get("mode") or None, max_cost)
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err) if str(err).startswith(("q:", "mode:")) else f"q: {err}") from None
    start, end = _window(request, timedelta(days=7))
    limit = query_int(request, "limit", 50, 1, 500)
    restricted = hits_only(request)
    rows = await search_plates(request.app[GEO].store, search, start, end, limit, restricted, max_cost)
    counted(request, len(rows))
    return mark(web.json_response({"q": text, "query": search.query, "mode": search.mode, "start": start.isoformat(),
                                   "end": end.isoformat(), "plates": rows, **restricted_fields(restricted)},
                                  dumps=dumps), restricted)


@allow(*ANALYSTS)
async def base_layer(request: web.Request) -> web.Response:
    """The GeoJSON of ``[geo] base_layer``, checked at start-up; 404 when none is configured."""
    settings = request.app[GEO].settings
    if settings.base_layer_doc is None:
        raise web.HTTPNotFound(text="no base layer configured ([geo] base_layer = \"path/to/layer.geojson\")")
    return web.json_response(settings.base_layer_doc, content_type=GEOJSON, dumps=dumps)


@allow(*ANALYSTS)
async def coastline(request: web.Request) -> web.Response:
    """The GeoJSON of ``[geo] coastline`` (default: the shipped approximate line), checked at start-up;
    404 when switched off (``coastline = ""``)."""
    settings = request.app[GEO].settings
    if settings.coastline is None:
        raise web.HTTPNotFound(text="no coastline configured ([geo] coastline = \"\" switches it off; "
                                    "give a path to a GeoJSON file to draw one)")
    doc = settings.coastline_doc if settings.coastline_doc is not None else cached_layer(settings.coastline)
    return web.json_response(doc, content_type=GEOJSON, dumps=dumps)


def add_console_routes(app: web.Application) -> None:
    """Register the console's files (``/console/``), plate search, the coastline and the base layer."""
    app[CONSOLE_FILES] = static_table()
    r = app.router
    r.add_get("/console", console_redirect)
    r.add_get("/console/", console_file)
    r.add_get("/console/{name:.+}", console_file)
    r.add_get("/v1/plates", plates)
    r.add_get("/v1/geo/base-layer", base_layer)
    r.add_get("/v1/geo/coastline", coastline)
