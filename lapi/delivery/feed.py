"""Live alert feeds with resume: the outbox tailed in id order, and one subscription per consumer.

Alert ids commit in increasing order (an advisory lock around the outbox insert, see
:mod:`lapi.store.db`), so "every alert with an id above N" is a complete answer at any moment.
:class:`AlertFeed` publishes to the hub in id order: alerts this process committed straight from
memory while their ids follow on without a gap, otherwise (another process's alerts, announced
by LISTEN, or a periodic poll) by reading the outbox from the last id it published.  A consumer that
reconnects with its last alert id gets the backlog from the outbox first, then live alerts; the
hub queue is subscribed *before* the backlog is read, and live alerts at or below the last id
sent are skipped, so the seam has neither gaps nor duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from lapi.alerts import AlertFilter, AlertHub
from lapi.store.db import Store

log = logging.getLogger(__name__)

PAGE = 500


class AlertFeed:
    """Publishes committed outbox alerts to the hub, in alert-id order, once each."""

    def __init__(self, store: Store, hub: AlertHub, poll_s: float = 1.0) -> None:
        self.store = store
        self.hub = hub
        self.poll_s = poll_s
        self.last_id = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._committed: dict[int, dict[str, Any]] = {}  # alerts this process committed, not yet published
        self._must_read = False

    async def start(self) -> None:
        self.last_id = await self.store.last_alert_id()
        self.store.on_alerts(self.wake)
        self._task = asyncio.create_task(self._run(), name="lapi-alert-feed")

    async def stop(self) -> None:
        self.store.off_alerts(self.wake)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def wake(self, alerts: list[dict[str, Any]] | None = None) -> None:
        """Alerts were committed: those given (this process's), or unknown ones (None)."""
        if alerts is None:
            self._must_read = True
        else:
            for alert in alerts:
                if alert["alert_id"] > self.last_id:
                    self._committed[alert["alert_id"]] = alert
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                self._must_read = True  # a poll now and then covers a lost notification
            self._wake.clear()
            try:
                self._publish_known()
                if self._must_read or self._committed:
                    self._must_read = False
                    await self.catch_up()
            except Exception:  # noqa: BLE001 - the feed must outlive a database hiccup
                self._must_read = True
                log.exception("alert feed: reading the outbox failed; retrying")
                await asyncio.sleep(self.poll_s)

    def _publish_known(self) -> None:
        """Publish alerts this process committed while they continue the sequence without a gap
        (ids commit in order, so a gap is an alert of another process or one not yet reported)."""
        committed = self._committed
        while self.last_id + 1 in committed:
            self.last_id += 1
            self.hub.publish(committed.pop(self.last_id))

    async def catch_up(self) -> int:
        """Publish every alert committed since the last one published; returns how many."""
        published = 0
        while True:
            page = await self.store.alerts_after(self.last_id, limit=PAGE)
            for alert in page:
                self.hub.publish(alert)
                self.last_id = alert["alert_id"]
            published += len(page)
            if len(page) < PAGE:
                for stale in [i for i in self._committed if i <= self.last_id]:
                    del self._committed[stale]
                return published


class FeedClosed(Exception):
    """The hub dropped this consumer (too slow, or the service is stopping)."""


class AlertSubscription:
    """One consumer's alerts: the outbox backlog after ``after`` (if given), then live ones."""

    def __init__(self, hub: AlertHub, store: Store, flt: AlertFilter, after: int | None = None) -> None:
        self.hub = hub
        self.store = store
        self.filter = flt
        self.last_id = after
        self._backlog: deque[dict[str, Any]] = deque()
        self._backlog_done = after is None
        self._queue: asyncio.Queue | None = None

    def __enter__(self) -> AlertSubscription:
        self._queue = self.hub.subscribe()  # before the backlog is read: nothing falls in between
        return self

    def __exit__(self, *exc: object) -> None:
        if self._queue is not None:
            self.hub.unsubscribe(self._queue)

    async def next(self, timeout: float | None = None) -> dict[str, Any]:
        """The next alert for this consumer.  Raises TimeoutError after ``timeout`` seconds
        without one (a keep-alive is then due), :class:`FeedClosed` when the hub dropped it."""
        assert self._queue is not None, "use the subscription as a context manager"
        if not self._backlog and not self._backlog_done:
            page = await self.store.alerts_after(self.last_id or 0, self.filter, PAGE)
            self._backlog.extend(page)
            self._backlog_done = len(page) < PAGE
        if self._backlog:
            alert = self._backlog.popleft()
            self.last_id = alert["alert_id"]
            return alert
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            alert = await asyncio.wait_for(self._queue.get(), remaining)
            if alert is None:
                raise FeedClosed("alert feed closed (consumer too slow, or the service is stopping)")
            alert_id = alert.get("alert_id")
            if alert_id is not None and self.last_id is not None and alert_id <= self.last_id:
                continue  # already sent from the backlog
            if not self.filter.accepts(alert):
                continue
            if alert_id is not None:
                self.last_id = alert_id
            return alert
