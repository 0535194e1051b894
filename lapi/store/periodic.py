"""A job the service runs at an interval (retention, the hourly and plate-day summaries), and the
advisory locks that keep the jobs of several processes apart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from psycopg import AsyncConnection

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


@asynccontextmanager
async def job_lock(conn: AsyncConnection, *keys: int, wait: bool = True) -> AsyncIterator[bool]:
    """A session-level advisory lock on ``keys`` (one bigint or two ints) for the block.  With
    ``wait=False`` it yields False at once, holding nothing, when another session has it."""
    args = ", ".join(["%s"] * len(keys))
    if wait:
        await conn.execute(f"SELECT pg_advisory_lock({args})", keys)
    else:
        cur = await conn.execute(f"SELECT pg_try_advisory_lock({args})", keys)
        if not (await cur.fetchone())[0]:
            yield False
            return
    try:
        yield True
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock({args})", keys)
