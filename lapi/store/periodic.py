"""A job the service runs at an interval (retention, the hourly summary's refresh)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

log = logging.getLogger(__name__)


async def run_periodically(job: Callable[[], Awaitable[object]], every: timedelta, what: str,
                           first_after: timedelta = timedelta(0)) -> None:
    """Run ``job`` every ``every`` until cancelled; a failed run is logged and tried again next time."""
    await asyncio.sleep(first_after.total_seconds())
    while True:
        try:
            await job()
        except Exception:  # noqa: BLE001 - try again at the next interval
            log.exception("%s failed", what)
        await asyncio.sleep(every.total_seconds())
