"""The one path every decoded fix takes: validate, count, batch-store with beacon state, alert.

Protocol servers (Teltonika TCP, OsmAnd and JSON over HTTP) only decode; they hand pings to
:class:`PingIngest`, which checks them with :func:`trackers.pings.check_ping`, counts and logs
every rejection with the beacon id, and queues the rest for a single writer task.  The writer
coalesces whatever is queued (many devices' packets) into one transaction: pings via COPY plus
the updated beacon states.  :meth:`PingIngest.submit` returns only after that commit, so a device
is acknowledged only for what is durable.

Up to ``pipeline`` batches are in flight at once, so one commits (waiting on the WAL flush)
while the next is copied.  Beacon states are folded in memory in queue order when a batch is
taken; the store only lets a state row move forward in fix time, so commit order cannot rewind
it.  If a write fails its senders get the error (no acknowledgement: devices resend), and the
in-memory state, already ahead, simply ignores the resent fixes as not newer.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from lapi.store.beacons import BeaconStore
from trackers.pings import Ping, PingError, PingRules, check_ping
from trackers.state import BeaconState, BeaconStates, StopRules
from trackers.stats import TrackerStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitResult:
    received: int
    stored: int | None  # None: not counted for this sender (see ``counted``)

    @property
    def duplicates(self) -> int | None:
        return None if self.stored is None else self.received - self.stored


@dataclass
class _Item:
    pings: list[Ping]
    protocol: str
    counted: bool
    seen: str | None
    done: asyncio.Future


class PingIngest:
    def __init__(self, beacons: BeaconStore, rules: PingRules = PingRules(), stop_rules: StopRules = StopRules(),
                 publish: Callable[[dict[str, Any]], Any] | None = None, accept_unknown: bool = True,
                 silence_after_s: int = 1800, max_batch: int = 20000, pipeline: int = 2) -> None:
        self.beacons = beacons
        self.rules = rules
        self.states = BeaconStates(stop_rules)
        self.stats = TrackerStats()
        self.publish = publish or (lambda alert: 0)
        self.listeners: list[Callable[[list[Ping]], Any]] = []  # called with each committed batch; must not block
        self.accept_unknown = accept_unknown
        self.silence_after_s = silence_after_s
        self.max_batch = max_batch
        self.pipeline = pipeline
        self.batches = 0
        self.known: set[str] = set()
        self.pending = 0  # pings submitted and not yet committed (HTTP senders are refused beyond a bound)
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._writer: asyncio.Task | None = None

    async def start(self) -> None:
        """Load the persisted beacon states and start the writer."""
        for state in await self.beacons.load_states():
            self.states.states[state.beacon_id] = state
        self.known = await self.beacons.known_ids()
        self._writer = asyncio.create_task(self._write_loop(), name="ping-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.done.done():
                item.done.set_exception(ConnectionError("ping ingest stopped before the write"))

    def allowed(self, beacon_id: str) -> bool:
        """Whether fixes from this beacon are taken (``trackers.accept_unknown_beacons``)."""
        return self.accept_unknown or beacon_id in self.known

    # validation ----------------------------------------------------------------------------------
    def screen(self, protocol: str, candidates: list[Ping | tuple[str, PingError]], now: datetime | None = None) -> list[Ping]:
        """Validate decoded fixes; count and log the refused ones; return those to store.

        A candidate is a decoded :class:`Ping`, or ``(beacon_id, PingError)`` when the decoder
        already refused it (e.g. a Teltonika record without GPS fix).
        """
        now = now or datetime.now(timezone.utc)
        accepted: list[Ping] = []
        refused: defaultdict[str, list[PingError]] = defaultdict(list)
        for cand in candidates:
            if isinstance(cand, tuple):
                refused[cand[0]].append(cand[1])
                continue
            try:
                accepted.append(self._check(cand, now))
            except PingError as err:
                refused[cand.beacon_id].append(err)
        for beacon_id, errors in refused.items():
            self.reject(protocol, beacon_id, errors, total=len(candidates))
        return accepted

    def validate(self, protocol: str, ping: Ping, now: datetime | None = None) -> Ping:
        """Validate one fix; a refusal is counted and logged, then raised as PingError."""
        try:
            return self._check(ping, now or datetime.now(timezone.utc))
        except PingError as err:
            self.reject(protocol, ping.beacon_id, [err])
            raise

    def _check(self, ping: Ping, now: datetime) -> Ping:
        if not self.allowed(ping.beacon_id):
            raise PingError("unknown_beacon", f"beacon {ping.beacon_id} is not registered "
                                              "(trackers.accept_unknown_beacons = false)")
        return check_ping(ping, now, self.rules)

    def reject(self, protocol: str, beacon_id: str | None, errors: list[PingError], total: int | None = None) -> None:
        """Count refused fixes per reason and log one line for them, naming the beacon."""
        reasons: dict[str, str] = {}
        for err in errors:
            self.stats.reject(protocol, err.field)
            reasons.setdefault(err.field, str(err))
        of = f" of {total}" if total is not None else ""
        log.warning("%s beacon %s: %d fix(es)%s rejected: %s", protocol, beacon_id or "?", len(errors), of,
                    "; ".join(reasons.values()))

    # storing -------------------------------------------------------------------------------------
    async def submit(self, pings: list[Ping], protocol: str, counted: bool = True,
                     seen: str | None = None) -> SubmitResult:
        """Queue validated pings and wait until they are committed.

        ``counted``: whether the sender needs to know how many were new (an HTTP answer does; a
        Teltonika ack does not, and skipping the count makes the batch cheaper).
        ``seen``: a beacon heard from even if none of its fixes was usable (no GPS fix in a car
        park): its last-seen time moves on, so it is not reported silent while it is talking.
        """
        if not pings and seen is None:
            return SubmitResult(0, 0)
        if self._writer is None or self._writer.done():
            raise ConnectionError("ping ingest is not running")
        done = asyncio.get_running_loop().create_future()
        self.pending += len(pings)
        try:
            await self._queue.put(_Item(pings, protocol, counted, seen, done))
            stored = await done
        finally:
            self.pending -= len(pings)
        return SubmitResult(len(pings), stored)

    async def _write_loop(self) -> None:
        in_flight: set[asyncio.Task] = set()
        try:
            while True:
                items = [await self._queue.get()]
                size = len(items[0].pings)
                while size < self.max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    items.append(item)
                    size += len(item.pings)
                received_at = datetime.now(timezone.utc)
                updated: dict = {}
                for item in items:
                    self.states.preview(item.pings, received_at, item.protocol, updated)
                    if item.seen is not None:
                        self._mark_seen(item.seen, item.protocol, received_at, updated)
                self.states.commit(updated)
                self.known.update(updated)
                task = asyncio.create_task(self._write(items, list(updated.values())))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                if len(in_flight) >= self.pipeline:
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in list(in_flight):
                task.cancel()
            if in_flight:
                await asyncio.wait(in_flight)

    def _mark_seen(self, beacon_id: str, protocol: str, at: datetime, updated: dict[str, BeaconState]) -> None:
        state = updated.get(beacon_id)
        if state is None:
            current = self.states.get(beacon_id)
            state = updated[beacon_id] = copy.copy(current) if current is not None else BeaconState(beacon_id)
        if state.last_seen is None or at > state.last_seen:
            state.last_seen = at
        state.protocol = protocol

    async def _write(self, items: list[_Item], states: list) -> None:
        per_group = any(item.counted for item in items) or len({item.protocol for item in items}) > 1
        try:
            inserted, back = await self.beacons.write_batch([item.pings for item in items], states, per_group)
        except BaseException as err:  # noqa: BLE001 - the senders get the error (no ack); the writer goes on
            if not isinstance(err, asyncio.CancelledError):
                log.exception("storing %d pings failed", sum(len(item.pings) for item in items))
            for item in items:
                if not item.done.done():
                    item.done.set_exception(err if isinstance(err, Exception)
                                            else ConnectionError("ping ingest stopped before the write"))
            if not isinstance(err, Exception):
                raise
            return
        self.batches += 1
        if not per_group:  # one protocol, nobody asked for counts: credit the total
            protocol = items[0].protocol
            self.stats.accepted[protocol] += inserted[0]
            self.stats.duplicates[protocol] += sum(len(item.pings) for item in items) - inserted[0]
            for item in items:
                if not item.done.done():
                    item.done.set_result(None)
        for item, n in zip(items, inserted if per_group else []):
            self.stats.accepted[item.protocol] += n
            self.stats.duplicates[item.protocol] += len(item.pings) - n
            if not item.done.done():
                item.done.set_result(n)
        if self.listeners:
            batch = [p for item in items for p in item.pings]
            for listener in self.listeners:
                try:
                    listener(batch)
                except Exception:  # noqa: BLE001 - a listener's failure is not the senders'
                    log.exception("ping listener failed")
        for beacon_id in back:
            state = self.states.get(beacon_id)
            log.info("beacon %s heard again after a silence alert", beacon_id)
            self.publish({"type": "beacon_back", "beacon_id": beacon_id, **(state.as_dict() if state else {})})

    # silence -------------------------------------------------------------------------------------
    async def check_silence(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Alert once for each watched beacon silent longer than its threshold."""
        now = now or datetime.now(timezone.utc)
        alerts = []
        for row in await self.beacons.newly_silent(now, self.silence_after_s):
            last_seen = row["last_seen"]
            alert = {"type": "beacon_silent", "beacon_id": row["beacon_id"], "label": row["label"],
                     "plate_norm": row["plate_norm"], "plate": row["plate_text"],
                     "last_seen": last_seen.isoformat() if last_seen else None,
                     "silent_for_s": round((now - last_seen).total_seconds()) if last_seen else None,
                     "silence_after_s": row["silence_after_s"],
                     "last_fix": None if row["fix_time"] is None else {
                         "time": row["fix_time"].isoformat(), "lat": row["lat"], "lon": row["lon"]},
                     "battery_pct": row["battery_pct"]}
            log.warning("beacon %s (%s) silent since %s", row["beacon_id"], row["plate_norm"] or "not fitted",
                        alert["last_seen"] or "never heard")
            self.publish(alert)
            alerts.append(alert)
        return alerts

    async def watch_silence(self, interval_s: float) -> None:
        """Periodic silence check (a service background task)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check_silence()
            except Exception:  # noqa: BLE001 - try again next round
                log.exception("beacon silence check failed")
