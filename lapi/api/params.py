"""Query-parameter parsing shared by the route modules: a bad value is a 400 that names the parameter."""

from __future__ import annotations

from aiohttp import web


def query_int(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    """``?name=`` as an integer in [lo, hi]; ``default`` when absent or empty."""
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
