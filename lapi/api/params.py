"""Query-parameter parsing shared by the route modules: a bad value is a 400 that names the parameter."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from aiohttp import web

from trackers.pings import PingError, parse_time


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


def query_float(request: web.Request, name: str, lo: float, hi: float, default: float | None = None) -> float | None:
    """``?name=`` as a finite number in [lo, hi]; ``default`` when absent or empty."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: must be a number, got {raw!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise web.HTTPBadRequest(text=f"{name}: must be between {lo:g} and {hi:g}, got {raw!r}")
    return value


def query_time(request: web.Request, name: str, default: datetime | None = None) -> datetime | None:
    """``?name=`` as an aware time (ISO 8601 or epoch seconds, as pings take it); ``default`` when absent or empty."""
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        return parse_time(raw, name)
    except PingError as err:
        raise web.HTTPBadRequest(text=str(err)) from None


def query_names(request: web.Request, key: str) -> list[str]:
    """``?key=`` values, repeated or comma-separated, trimmed, empty ones dropped."""
    return [v.strip() for raw in request.query.getall(key, []) for v in raw.split(",") if v.strip()]


def query_window(request: web.Request, default: timedelta, most: timedelta,
                 default_end: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    """``?from=`` and ``?to=`` (default: the ``default`` before now + ``default_end``), ``to`` after
    ``from`` and at most ``most`` later; a default that leaves the calendar is a 400 too."""
    end = query_time(request, "to", datetime.now(timezone.utc) + default_end)
    try:
        start = query_time(request, "from", end - default)
    except OverflowError:
        raise web.HTTPBadRequest(text=f"to: too early to have the default window of {default} before it") from None
    if end <= start or end - start > most:
        raise web.HTTPBadRequest(text=f"to: must be after from, at most {most.days} days later")
    return start, end
