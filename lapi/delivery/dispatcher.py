"""Outbox dispatcher: every alert delivered at least once to each configured destination.

Per destination, two steps, both state in PostgreSQL so a restart (or a second process) resumes:

1. fan-out: outbox alerts past the destination's cursor (``alert_cursors``) that pass its filter
   become ``pending`` rows of ``alert_deliveries``; the cursor moves in the same transaction.
   A destination seen for the first time starts at the newest alert, not at the beginning.
2. delivery: due pending rows are *claimed* (attempts + 1, next attempt pushed a lease ahead,
   ``FOR UPDATE SKIP LOCKED``), sent, then marked ``delivered``, rescheduled with backoff and
   jitter, or dead-lettered after the destination's ``max_attempts``.  A process that dies while
   sending leaves the claim to expire: the alert is sent again (at-least-once; consumers
   de-duplicate on ``alert_id``).  A clean stop hands unfinished claims back at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from lapi.alerts import AlertFilter
from lapi.delivery.retry import RetryPolicy
from lapi.store.audit import AuditEntry, AuditLog
from lapi.store.db import Store, alert_message

log = logging.getLogger(__name__)


class Destination(Protocol):
    name: str
    filter: AlertFilter
    retry: RetryPolicy

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def send(self, alert: dict[str, Any]) -> None: ...


class OutboxDispatcher:
    def __init__(self, store: Store, destinations: list[Destination], poll_s: float = 1.0, lease_s: float = 60.0,
                 batch: int = 50) -> None:
        names = [d.name for d in destinations]
        if len(set(names)) != len(names):
            raise ValueError(f"destination names must be unique: {names}")
        self.store = store
        self.destinations = destinations
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.batch = batch
        self._wakes = {d.name: asyncio.Event() for d in destinations}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    async def start(self) -> None:
        """Start every destination and its loop; undelivered alerts of earlier runs go out first."""
        for d in self.destinations:
            await d.start()
            async with self.store.pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO alert_cursors (destination, last_id)"
                    " SELECT %s, coalesce(max(id), 0) FROM alert_outbox ON CONFLICT (destination) DO NOTHING", (d.name,))
        self.store.on_alerts(self.wake)
        self._tasks = [asyncio.create_task(self._run(d), name=f"lapi-deliver-{d.name}") for d in self.destinations]

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let each loop finish the batch it is sending (up to ``grace_s``), then stop; a batch
        still sending after that is cancelled and its claims handed back."""
        self.store.off_alerts(self.wake)
        self._stopping = True
        self.wake()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for d in self.destinations:
            await d.close()

    def wake(self, alerts: list[dict[str, Any]] | None = None) -> None:
        for event in self._wakes.values():
            event.set()

    async def _run(self, d: Destination) -> None:
        wake = self._wakes[d.name]
        while not self._stopping:
            wake.clear()
            wait = self.poll_s
            try:
                await self.fan_out(d)
                due_in = await self.deliver_due(d)
                if due_in is not None:
                    wait = min(wait, due_in)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep delivering after a database hiccup
                log.exception("delivery to %s: dispatcher step failed; retrying", d.name)
            if wait > 0 and not self._stopping:
                try:
                    await asyncio.wait_for(wake.wait(), wait)
                except TimeoutError:
                    pass

    async def fan_out(self, d: Destination, page: int = 1000) -> int:
        """Queue outbox alerts past the destination's cursor that pass its filter; returns how many."""
        queued = 0
        while True:
            async with self.store.pool.connection() as conn:
                async with conn.transaction():
                    cur = await conn.execute("SELECT last_id FROM alert_cursors WHERE destination = %s FOR UPDATE",
                                             (d.name,))
                    (last_id,) = await cur.fetchone()
                    cur = await conn.execute("SELECT id, payload FROM alert_outbox WHERE id > %s ORDER BY id LIMIT %s",
                                             (last_id, page))
                    rows = await cur.fetchall()
                    if not rows:
                        return queued
                    wanted = [i for i, payload in rows if d.filter.accepts(alert_message(i, payload))]
                    if wanted:
                        await conn.execute(
                            "INSERT INTO alert_deliveries (destination, alert_id) SELECT %s, unnest(%s::bigint[])"
                            " ON CONFLICT DO NOTHING", (d.name, wanted))
                    await conn.execute("UPDATE alert_cursors SET last_id = %s, updated_at = now() WHERE destination = %s",
                                       (rows[-1][0], d.name))
                    queued += len(wanted)
            if len(rows) < page:
                return queued

    async def deliver_due(self, d: Destination) -> float | None:
        """Send the due deliveries (one batch at a time); returns seconds until the next one is due."""
        while not self._stopping:
            claimed = await self._claim(d)
            if not claimed:
                break
            done: set[int] = set()
            try:
                results = await asyncio.gather(*(self._attempt(d, alert) for alert, _ in claimed))
                await self._record(d, [(alert["alert_id"], attempts, err)
                                       for (alert, attempts), err in zip(claimed, results)])
                done = {alert["alert_id"] for alert, _ in claimed}
            finally:
                unfinished = [alert["alert_id"] for alert, _ in claimed if alert["alert_id"] not in done]
                if unfinished:  # stopped mid-batch: hand the claims back, the attempt does not count
                    await asyncio.shield(self._release(d, unfinished))
            if len(claimed) < self.batch:
                break
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM alert_deliveries"
                " WHERE destination = %s AND state = 'pending'", (d.name,))
            (due_in,) = await cur.fetchone()
        return None if due_in is None else max(0.0, due_in)

    async def _claim(self, d: Destination) -> list[tuple[dict[str, Any], int]]:
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE alert_deliveries SET attempts = attempts + 1,"
                " next_attempt_at = now() + make_interval(secs => %s)"
                " WHERE (destination, alert_id) IN (SELECT destination, alert_id FROM alert_deliveries"
                "  WHERE destination = %s AND state = 'pending' AND next_attempt_at <= now()"
                "  ORDER BY alert_id LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING alert_id, attempts", (self.lease_s, d.name, self.batch))
            attempts = dict(await cur.fetchall())
            if not attempts:
                return []
            cur = await conn.execute("SELECT id, payload FROM alert_outbox WHERE id = ANY(%s) ORDER BY id",
                                     (list(attempts),))
            return [(alert_message(i, p), attempts[i]) for i, p in await cur.fetchall()]

    async def _attempt(self, d: Destination, alert: dict[str, Any]) -> str | None:
        try:
            await d.send(alert)
            return None
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure is a failed attempt
            return str(err) or type(err).__name__

    async def _record(self, d: Destination, outcomes: list[tuple[int, int, str | None]]) -> None:
        async with self.store.pool.connection() as conn:
            async with conn.transaction():
                for alert_id, attempts, err in outcomes:
                    if err is None:
                        await conn.execute(
                            "UPDATE alert_deliveries SET state = 'delivered', delivered_at = now(), last_error = NULL"
                            " WHERE destination = %s AND alert_id = %s", (d.name, alert_id))
                    elif d.retry.exhausted(attempts):
                        log.error("alert %d dead-lettered for %s after %d attempts: %s", alert_id, d.name, attempts, err)
                        await conn.execute(
                            "UPDATE alert_deliveries SET state = 'dead', dead_at = now(), last_error = %s"
                            " WHERE destination = %s AND alert_id = %s", (err[:1000], d.name, alert_id))
                    else:
                        delay = d.retry.delay(attempts)
                        log.warning("alert %d to %s failed (attempt %d, next in %.1f s): %s",
                                    alert_id, d.name, attempts, delay, err)
                        await conn.execute(
                            "UPDATE alert_deliveries SET next_attempt_at = now() + make_interval(secs => %s),"
                            " last_error = %s WHERE destination = %s AND alert_id = %s",
                            (delay, err[:1000], d.name, alert_id))
                delivered = [alert_id for alert_id, _, err in outcomes if err is None]
                if delivered:  # the disclosure is on record with the delivery state, or neither is
                    await AuditLog(self.store).record(AuditEntry(
                        d.name, "consumer", "disclosure", f"deliver {d.name}",
                        {"alert_ids": [min(delivered), max(delivered)]}, len(delivered)), conn=conn)

    async def _release(self, d: Destination, alert_ids: list[int]) -> None:
        async with self.store.pool.connection() as conn:
            await conn.execute(
                "UPDATE alert_deliveries SET attempts = attempts - 1, next_attempt_at = now()"
                " WHERE destination = %s AND alert_id = ANY(%s) AND state = 'pending'", (d.name, alert_ids))


def configured_destinations(alerts: Any) -> list[Destination]:
    """The destinations of ``[alerts]`` (:class:`lapi.config.AlertSettings`)."""
    from lapi.delivery.mqtt import MqttDestination
    from lapi.delivery.webhook import WebhookDestination

    out: list[Destination] = [WebhookDestination(w) for w in alerts.webhooks]
    if alerts.mqtt is not None:
        out.append(MqttDestination(alerts.mqtt))
    return out


async def delivery_states(store: Store, destination: str | None = None, state: str | None = None,
                          limit: int = 100) -> list[dict[str, Any]]:
    """Delivery rows, newest alert first: what went out, what waits, what was dead-lettered and why."""
    from psycopg.rows import dict_row

    async with store.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT destination, alert_id, state, attempts, next_attempt_at, delivered_at, dead_at, last_error"
            " FROM alert_deliveries WHERE (%(dest)s::text IS NULL OR destination = %(dest)s)"
            " AND (%(state)s::text IS NULL OR state = %(state)s) ORDER BY alert_id DESC, destination LIMIT %(limit)s",
            {"dest": destination, "state": state, "limit": limit})
        return await cur.fetchall()
