"""Passes and video sources over HTTP: frames of tracked cameras, ``/v1/passes``, camera health.

:func:`add_video_routes` gives the application its :class:`~lapi.passes.PassRecorder` (tracking
settings from ``[reading.tracking]``) and, when cameras have a video source, the
:class:`~lapi.video.VideoSources` that read them; both start and stop with the application.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from lapi.api.access import ANALYSTS, allow
from lapi.api.audit import counted
from lapi.api.gating import hits_only, mark, refuse_non_hit, restricted_fields
from lapi.api.jsonout import dumps
from lapi.api.params import query_int, query_time
from lapi.passes import PassRecorder
from lapi.video_config import StreamSettings, TrackingSettings

PASSES = web.AppKey("passes", PassRecorder)
VIDEO = web.AppKey("video", object)  # lapi.video.VideoSources



def is_tracked(request: web.Request, camera_id: str) -> bool:
    passes = request.app.get(PASSES)
    return passes is not None and passes.tracks(camera_id)


async def tracked_frame(request: web.Request, camera_id: str, captured_at: datetime, reads: list, ms: float,
                        position: tuple[float | None, float | None, float | None], key: str | None = None) -> web.Response:
    """POST /v1/frames for a tracked camera: reads stored under their passes, pass alerts returned.
    ``key``: the camera's frame key, stored in the same transaction as the reads."""
    result = await request.app[PASSES].submit(camera_id, captured_at, reads, position, key)
    return web.json_response({
        "camera_id": camera_id, "captured_at": captured_at.isoformat(), "reading_ms": round(ms, 1),
        "reads": [{"id": rid, **read.as_dict(), "pass_id": pid, "hits": []}
                  for rid, pid, read in zip(result.read_ids, result.pass_ids, reads)],
        "hits": result.alerts, "passes": result.passes,
    })


@allow(*ANALYSTS, audit="consultation")
async def list_passes(request: web.Request) -> web.Response:
    """Vehicle passes, newest first: ?camera_id=&plate=&from=&to=&limit="""
    start, end = query_time(request, "from"), query_time(request, "to")
    if start is not None and end is not None and end <= start:
        raise web.HTTPBadRequest(text="to: must be after from")
    restricted = hits_only(request)
    rows = await request.app[PASSES].pass_store.passes(
        request.query.get("camera_id") or None, request.query.get("plate") or None, start, end,
        query_int(request, "limit", 100, 1, 10000))
    if restricted:  # passes that produced a hit only (the page may come back shorter than limit)
        rows = [row for row, hit in zip(rows, await _with_hits(request, [r["id"] for r in rows])) if hit]
    counted(request, len(rows))
    return mark(web.json_response({"passes": rows, **restricted_fields(restricted)}, dumps=dumps), restricted)


async def _with_hits(request: web.Request, pass_ids: list[int]) -> list[bool]:
    async with request.app[PASSES].store.pool.connection() as conn:
        cur = await conn.execute("SELECT DISTINCT pass_id FROM hits WHERE pass_id = ANY(%s)", (pass_ids,))
        hit = {row[0] for row in await cur.fetchall()}
    return [i in hit for i in pass_ids]


@allow(*ANALYSTS, audit="consultation")
async def get_pass(request: web.Request) -> web.Response:
    try:
        pass_id = int(request.match_info["pass_id"])
    except ValueError:
        raise web.HTTPBadRequest(text="pass id must be an integer") from None
    row = await request.app[PASSES].pass_store.get_pass(pass_id)
    if not row["hits"] and hits_only(request):
        raise refuse_non_hit(f"pass {pass_id}")
    counted(request, 1)
    return web.json_response(row, dumps=dumps)


@allow("supervisor", "analyst")
async def camera_health(request: web.Request) -> web.Response:
    """A camera's video source: state, fps in and processed, dropped frames, reconnections."""
    camera_id = request.match_info["camera_id"]
    await request.app[PASSES].store.get_camera(camera_id)  # 404 for an unknown camera
    video = request.app.get(VIDEO)
    source = video.get(camera_id) if video is not None else None
    passes = request.app[PASSES]
    cam = passes.cameras.get(camera_id)
    body: dict[str, Any] = {"camera_id": camera_id, "tracked": passes.tracks(camera_id),
                            "open_passes": len(cam.passes) if cam is not None else 0, "source": None}
    if source is not None:
        body["source"] = source.health.snapshot()
    return web.json_response(body)


def add_video_routes(app: web.Application, tracking: TrackingSettings | None = None,
                     streams: Sequence[StreamSettings] = ()) -> None:
    """Pass tracking for the cameras ``tracking`` names, video sources for ``streams``, and the routes."""
    from lapi.api.app import BATCHER, STORE

    recorder = PassRecorder(app[STORE], tracking or TrackingSettings())
    app[PASSES] = recorder
    if streams:
        from lapi.video import VideoSources

        app[VIDEO] = VideoSources(list(streams), app[STORE], app[BATCHER], recorder)

    async def on_startup(app: web.Application) -> None:
        await recorder.start()
        if VIDEO in app:
            app[VIDEO].start()

    async def on_shutdown(app: web.Application) -> None:  # before the reading executor goes (on_cleanup)
        if VIDEO in app:
            await app[VIDEO].stop()
        await recorder.stop()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    r = app.router
    r.add_get("/v1/passes", list_passes)
    r.add_get("/v1/passes/{pass_id}", get_pass)
    r.add_get("/v1/cameras/{camera_id}/health", camera_health)
