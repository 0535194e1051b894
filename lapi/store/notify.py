"""PostgreSQL LISTEN on a dedicated connection: what other processes sharing the database wrote.

Several ``lapi serve`` processes may share one database.  Watchlist writes (``lapi_watchlist``)
and new alerts (``lapi_alerts``) are announced with NOTIFY at commit; each process listens and
catches up from the tables, so a notification only says "look", never carries the data, and a
lost one is harmless: the connection is re-opened and every handler called once on reconnect
(payload None).  Handlers get the notification's payload, e.g. to skip their own process's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import psycopg

log = logging.getLogger(__name__)


class NotifyListener:
    def __init__(self, url: str, handlers: Mapping[str, Callable[[str | None], None]], retry_s: float = 2.0) -> None:
        self.url = url
        self.handlers = dict(handlers)
        self.retry_s = retry_s
        self.listening = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lapi-notify")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    for channel in self.handlers:
                        await conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    for handler in self.handlers.values():  # whatever was announced while not listening
                        handler(None)
                    async for note in conn.notifies():
                        handler = self.handlers.get(note.channel)
                        if handler is not None:
                            handler(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - keep listening after a database restart
                self.listening.clear()
                log.warning("LISTEN connection lost (%s); retrying in %.0f s", err, self.retry_s)
                await asyncio.sleep(self.retry_s)
