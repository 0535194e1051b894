"""`lapi serve` wiring (issue 7): a frame read by the running service reaches a configured webhook."""

import asyncio
import dataclasses
import json
import socket

import aiohttp
from aiohttp import web

from conftest import bearer
from lapi.config import AlertSettings
from lapi.delivery.retry import RetryPolicy
from lapi.delivery.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSettings, verify
from lapi.service import serve
from lapi.store.db import Store

SECRET = "service-test-secret-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_served_frame_hit_reaches_the_configured_webhook(settings, database_url, fixture_frame):
    received: asyncio.Queue = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        assert verify(SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER])
        await received.put(json.loads(body))
        return web.Response(status=204)

    receiver = web.AppRunner(web.Application())
    receiver.app.router.add_post("/hook", hook)
    await receiver.setup()
    hook_port = free_port()
    await web.TCPSite(receiver, "127.0.0.1", hook_port).start()
    port = free_port()
    config = dataclasses.replace(
        settings, database_url=database_url, port=port, cameras=(),
        trackers=dataclasses.replace(settings.trackers, teltonika_enabled=False, osmand_port=0),
        alerts=AlertSettings(poll_interval_s=0.2, webhooks=(WebhookSettings(
            "ops", f"http://127.0.0.1:{hook_port}/hook", SECRET, retry=RetryPolicy(3, 0.1, 0.2)),)))
    ready = asyncio.Event()
    task = asyncio.create_task(serve(config, ready))
    try:
        await asyncio.wait_for(ready.wait(), 120)
        body, plate = fixture_frame
        base = f"http://127.0.0.1:{port}"
        admin = Store(database_url, max_size=1)
        await admin.open()
        auth = await bearer(admin)
        await admin.close()
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.post(f"{base}/v1/cameras", json={"id": "cam-1"}) as r:
                assert r.status == 201
            async with http.post(f"{base}/v1/watchlist", json={"plate": plate, "category": "stolen"}) as r:
                assert r.status == 201
            async with http.post(f"{base}/v1/frames?camera_id=cam-1", data=body,
                                 headers={"Content-Type": "image/jpeg"}) as r:
                assert r.status == 200
                (alert,) = (await r.json())["hits"]
        delivered = await asyncio.wait_for(received.get(), 20)
        assert delivered == alert and delivered["plate_norm"] == plate and delivered["alert_id"] > 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await receiver.cleanup()
