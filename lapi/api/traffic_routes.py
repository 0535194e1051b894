"""``GET /v1/traffic/hourly``: reads per camera per hour, from the continuous aggregate under
TimescaleDB or the refreshed summary table on plain PostgreSQL (lapi/store/camera_hours.py).

Counts carry no plate: any analyst may read them, without a procedure.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from lapi.api.access import ANALYSTS, allow
from lapi.api.audit import counted
from lapi.api.jsonout import dumps
from lapi.api.params import query_int, query_names, query_window
from lapi.store.camera_hours import MAX_HOURS, CameraHours

MAX_WINDOW = timedelta(days=366)
MAX_CAMERAS = 1000


@allow(*ANALYSTS, audit="consultation")
async def hourly_traffic(request: web.Request) -> web.Response:
    from lapi.api.app import CAMERA_ID, STORE

    store = request.app[STORE]
    start, end = query_window(request, timedelta(days=1), MAX_WINDOW)
    cameras = query_names(request, "camera")
    if len(cameras) > MAX_CAMERAS:
        raise web.HTTPBadRequest(text=f"camera: at most {MAX_CAMERAS} cameras, got {len(cameras)}")
    bad = [c for c in cameras if not CAMERA_ID.fullmatch(c)]
    if bad:
        raise web.HTTPBadRequest(text=f"camera: not a camera id: {bad[0][:70]!r}")
    limit = query_int(request, "limit", MAX_HOURS, 1, MAX_HOURS)
    rows = await CameraHours(store).counts(start, end, cameras or None, limit + 1)
    counted(request, min(len(rows), limit))
    body = {"engine": "timescaledb" if store.partitions.timescale else "postgresql", "from": start.isoformat(),
            "to": end.isoformat(), "hours": [{**r, "hour": r["hour"].isoformat()} for r in rows[:limit]],
            "truncated": len(rows) > limit}
    return web.json_response(body, dumps=dumps)


def add_traffic_routes(app: web.Application) -> None:
    app.router.add_get("/v1/traffic/hourly", hourly_traffic)
