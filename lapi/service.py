"""Start-up and shutdown of the service: store, models, HTTP server, in that order."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from datetime import timedelta

from aiohttp import web

from lapi.api.app import INGEST, LIMITS, RETENTION, create_app, create_osmand_app
from lapi.api.geo_routes import configure_geo
from lapi.api.watchlist_routes import FEED_POLL_S
from lapi.config import Settings
from lapi.delivery.dispatcher import OutboxDispatcher, configured_destinations
from lapi.reading.pipeline import PlateReader
from lapi.store.camera_hours import CameraHours
from lapi.store.db import Store
from lapi.store.embedded import EmbeddedPostgres
from lapi.store.plate_days import PlateDays
from lapi.store.retention import RetentionJob
from lapi.store.timescale import apply_policies
from lapi.store.tokens import TokenStore
from trackers.server import TeltonikaServer

log = logging.getLogger("lapi")
CAMERA_HOURS_EVERY = timedelta(minutes=10)  # plain PostgreSQL: the hourly summary's refresh
PLATE_DAYS_EVERY = timedelta(minutes=15)    # the plate-day summary: closed days, days written late


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or cancellation)."""
    embedded = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.url
        log.info("store: embedded PostgreSQL, data in %s", embedded.pgdata)
    else:
        log.info("store: %s", url.split("@")[-1])
    store = Store(url, listen=True, default_max_cost=settings.alerts.default_max_cost)
    dispatcher = None
    runner = osmand_runner = None
    teltonika = None
    retention_task = hours_task = plate_days_task = None
    try:
        await store.open()
        if store.partitions.timescale:  # compression and the hourly aggregate's refresh (lapi/store/timescale.py)
            async with store.pool.connection() as conn:
                await apply_policies(conn, settings.compress_after)
        hours_task = asyncio.create_task(CameraHours(store).run_periodically(CAMERA_HOURS_EVERY), name="camera-hours")
        plate_days_task = asyncio.create_task(PlateDays(store).run_periodically(PLATE_DAYS_EVERY), name="plate-days")
        if not await TokenStore(store).has_active_admin():
            log.warning("no admin token yet: every API call needs a token. Make the first one with\n"
                        "    lapi token create --role admin --principal <your name>\n"
                        "(the secret is printed once) and send it as 'Authorization: Bearer <token>' "
                        "(the lapi client commands read $LAPI_TOKEN)")
        for cam in settings.cameras:
            await store.upsert_camera(cam)
        log.info("loading detector %s and recogniser %s", settings.detector_dir, settings.recognizer_config)
        reader = PlateReader.from_settings(settings)
        log.info("recogniser network in %s on %s (reading.precision = %r)", reader.recognizer.precision,
                 settings.device, settings.precision)
        log.info("reader warmed up in %.1f s", reader.warm_up())
        ts = settings.trackers
        app = create_app(store, reader, settings.max_frame_bytes, settings.reading_threads, ts,
                         tracking=settings.tracking, streams=settings.streams,
                         batch_max_frames=settings.batch_max_frames, batch_max_wait_ms=settings.batch_max_wait_ms)  # video sources start and stop with it
        configure_geo(app, settings.geo)
        app[FEED_POLL_S] = settings.alerts.poll_interval_s
        app[RETENTION] = settings.retention
        app[LIMITS] = settings.limits
        from lapi.api.investigation_routes import INVESTIGATIONS

        app[INVESTIGATIONS] = settings.investigations
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        # the models, torch and every module are loaded: keep their ~200k objects out of the cyclic
        # collector's passes, which otherwise cost ~15 % of the CPU of each beacon ping (lapi bench pings)
        gc.freeze()
        log.info("LAPI listening on http://%s:%d (API under /v1, OpenAPI at /v1/openapi.json)",
                 settings.host, settings.port)
        destinations = configured_destinations(settings.alerts)
        dispatcher = OutboxDispatcher(store, destinations, settings.alerts.poll_interval_s,
                                      settings.alerts.claim_lease_s)
        await dispatcher.start()  # alerts left undelivered by an earlier run go out first
        if destinations:
            log.info("alert delivery: %s", ", ".join(d.name for d in destinations))
        beacon_host = ts.listen_host or settings.host
        if ts.teltonika_enabled:
            teltonika = TeltonikaServer(app[INGEST], beacon_host, ts.teltonika_port, ts.idle_timeout_s)
            await teltonika.start()
        if ts.osmand_enabled and ts.osmand_port:
            osmand_runner = web.AppRunner(create_osmand_app(app[INGEST], ts), access_log=None)
            await osmand_runner.setup()
            await web.TCPSite(osmand_runner, beacon_host, ts.osmand_port).start()
            log.info("OsmAnd/Traccar Client listening on http://%s:%d/", beacon_host, ts.osmand_port)
        if settings.retention.enabled:  # legal retention: erase expired reads, log the erasures
            job = RetentionJob(store, settings.retention.rules)
            retention_task = asyncio.create_task(job.run_periodically(settings.retention.run_every), name="retention")
        if ready is not None:
            ready.set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await stop.wait()
        log.info("shutting down")
    finally:
        for task in (retention_task, hours_task, plate_days_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if dispatcher is not None:
            await dispatcher.stop()
        if teltonika is not None:
            await teltonika.close()
        if osmand_runner is not None:
            await osmand_runner.cleanup()
        if runner is not None:
            await runner.cleanup()
        await store.close()
        if embedded is not None:
            embedded.stop()
