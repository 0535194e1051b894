"""Live geo rules: approach / zone alerts for watched vehicles, and the co-travel standing rule.

What it follows:

* watched vehicles seen by a camera — the ``hit`` alerts on the :class:`~lapi.alerts.AlertHub`
  (a hit is a read that matched the watchlist, with the camera's position);
* vehicles carrying a beacon — pings of beacons that are fitted (or flagged watched), handed over
  by the ping ingest after each commit.

For each such vehicle it keeps the last ``approach_recent_s`` of observations (seeded from the
store's merged track the first time it is seen, so a restart does not lose the trend), assesses
the approach to every departure zone (:mod:`geo.approach`) and publishes ``approach``,
``zone_enter`` and ``zone_exit`` alerts through the hub.  Every ``cotravel_check_interval_s``
it runs the convoy query for each watched vehicle seen within ``cotravel_window_s`` and publishes
a ``cotravel`` alert, once per pair and window, for each unlisted companion at ``cotravel_k``
or more cameras scoring at least ``cotravel_min_score``.

Work is queued and done by one task, so neither the hub nor the ping writer ever waits on it; a
full queue drops (and logs) rather than slowing ingest.  State is in memory: after a restart,
zone enter/exit is judged afresh from the next observation.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from geo.approach import ApproachRules, ZoneApproach, ZoneWatch, assess
from geo.convoys import ConvoyRules, score_candidates
from geo.routes import Observation, observations_from_track
from geo.zones import ZoneSet
from lapi.config import GeoSettings
from lapi.store.beacons import BeaconStore
from lapi.store.db import Store
from lapi.store.geo import GeoStore
from trackers.pings import Ping

log = logging.getLogger(__name__)

GEO_ALERT_TYPES = frozenset({"approach", "zone_enter", "zone_exit", "cotravel"})


def approach_rules(s: GeoSettings) -> ApproachRules:
    return ApproachRules(distance_m=s.approach_distance_m, eta_s=float(s.approach_eta_s),
                         recent=timedelta(seconds=s.approach_recent_s), trip_gap=timedelta(seconds=s.trip_gap_s))


def convoy_rules(s: GeoSettings, k: int | None = None, dt_s: float | None = None) -> ConvoyRules:
    return ConvoyRules(k=k or s.cotravel_k, dt=timedelta(seconds=dt_s or s.cotravel_dt_s))


@dataclass
class _Vehicle:
    plate_norm: str | None
    beacon_id: str | None
    observations: list[Observation] = field(default_factory=list)
    zones: ZoneWatch = field(default_factory=ZoneWatch)
    last_seen: datetime | None = None


class WatchlistCache:
    """Is a plate on a watchlist?  Asked of the store's live watchlist index (kept in step with
    every change, here and in other processes), so a 1M-entry list costs a lookup, not a reload.

    Only exact and wildcard entries in force now count: a lookalike match is a possible misread of
    a listed plate, raised as a hit for an analyst to confirm, not a vehicle to follow by itself.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def watched(self, plates: list[str]) -> set[str]:
        now = datetime.now(timezone.utc)
        return {p for p in plates if any(m.cost == 0 for m in self.store.watchlists.match(p, now))}


class GeoWatch:
    def __init__(self, settings: GeoSettings, zones: ZoneSet, store: Store, beacons: BeaconStore,
                 publish: Callable[[dict[str, Any]], Any],
                 watched: Callable[[list[str]], Awaitable[set[str]]] | None = None,
                 queue_size: int = 10_000, beacon_refresh_s: float = 30.0) -> None:
        self.settings = settings
        self.zones = zones
        self.store = store
        self.beacons = beacons
        self.geo = GeoStore(store)
        self.publish = publish
        self.watched = watched or WatchlistCache(store).watched
        self.rules = approach_rules(settings)
        self.vehicles: dict[str, _Vehicle] = {}
        self.watched_seen: dict[str, datetime] = {}      # plate -> last seen (hit or fitted beacon)
        self.cotravel_alerted: dict[tuple[str, str], datetime] = {}
        self.beacon_refresh_s = beacon_refresh_s
        self._beacon_map: dict[str, tuple[str | None, bool]] = {}
        self._beacon_map_at = -1e9
        self._work: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task] = []
        self._hub_queue: asyncio.Queue | None = None
        self._hub = None
        self.dropped = 0

    # lifecycle -------------------------------------------------------------------------------------
    async def start(self, hub) -> None:
        """Follow the hub's hits and start the worker and the co-travel rule."""
        self._hub = hub
        self._hub_queue = hub.subscribe()
        self._tasks = [asyncio.create_task(self._follow_hub(), name="geo-hub"),
                       asyncio.create_task(self._worker(), name="geo-worker")]
        if self.settings.cotravel_alerts:
            self._tasks.append(asyncio.create_task(self._cotravel_loop(), name="geo-cotravel"))

    async def stop(self) -> None:
        if self._hub is not None and self._hub_queue is not None:
            self._hub.unsubscribe(self._hub_queue)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def idle(self) -> None:
        """Wait until everything queued so far has been handled (tests, orderly shutdown)."""
        await self._work.join()

    # inputs ----------------------------------------------------------------------------------------
    def _enqueue(self, kind: str, item: Any) -> None:
        try:
            self._work.put_nowait((kind, item))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("geo watch queue full: %d updates dropped so far", self.dropped)

    def on_pings(self, pings: list[Ping]) -> None:
        """Ping-ingest listener: called with each committed batch (must not block)."""
        if pings and self.settings.approach_alerts:
            self._enqueue("pings", pings)

    def on_hit(self, alert: dict[str, Any]) -> None:
        if alert.get("type") == "hit" and alert.get("plate_norm"):
            self._enqueue("hit", alert)

    async def _follow_hub(self) -> None:
        assert self._hub_queue is not None
        while True:
            alert = await self._hub_queue.get()
            if alert is None:  # the hub closed or dropped us
                return
            self.on_hit(alert)

    async def _worker(self) -> None:
        while True:
            kind, item = await self._work.get()
            try:
                if kind == "hit":
                    await self.handle_hit(item)
                elif kind == "pings":
                    await self.handle_pings(item)
            except Exception:  # noqa: BLE001 - one bad update must not stop the watch
                log.exception("geo watch: handling %s failed", kind)
            finally:
                self._work.task_done()

    # approach --------------------------------------------------------------------------------------
    async def handle_hit(self, alert: dict[str, Any]) -> None:
        plate = alert["plate_norm"]
        at = datetime.fromisoformat(alert["read_at"])
        self.watched_seen[plate] = max(at, self.watched_seen.get(plate, at))
        if not self.settings.approach_alerts or alert.get("lat") is None or alert.get("lon") is None:
            return
        obs = Observation(at, alert["lat"], alert["lon"], "sighting", alert.get("camera_id", ""), None, alert.get("read_id"))
        await self._observe(plate, plate, None, [obs], "watchlist")

    async def handle_pings(self, pings: list[Ping]) -> None:
        await self._refresh_beacons({p.beacon_id for p in pings})
        by_beacon: dict[str, list[Ping]] = defaultdict(list)
        for p in pings:
            if p.beacon_id in self._beacon_map:
                by_beacon[p.beacon_id].append(p)
        for beacon_id, group in by_beacon.items():
            plate, _ = self._beacon_map[beacon_id]
            obs = [Observation(p.fix_time, p.lat, p.lon, "ping", beacon_id, p.speed_kmh)
                   for p in sorted(group, key=lambda p: p.fix_time)]
            if plate:
                last = obs[-1].time
                self.watched_seen[plate] = max(last, self.watched_seen.get(plate, last))
            await self._observe(plate or f"beacon:{beacon_id}", plate, beacon_id, obs, "beacon")

    async def _refresh_beacons(self, ids: set[str]) -> None:
        """Fittings and watched flags, re-read every ``beacon_refresh_s``, or after 2 s when a beacon
        not known to be followed shows up (it may have just been fitted)."""
        age = time.monotonic() - self._beacon_map_at
        if age > self.beacon_refresh_s or (age > 2.0 and not ids <= self._beacon_map.keys()):
            self._beacon_map = await self.geo.beacon_vehicles(datetime.now(timezone.utc))
            self._beacon_map_at = time.monotonic()

    async def _observe(self, key: str, plate: str | None, beacon_id: str | None, new: list[Observation],
                       reason: str) -> None:
        v = self.vehicles.get(key)
        if v is None:
            v = self.vehicles[key] = _Vehicle(plate, beacon_id)
            v.observations = await self._history(plate, beacon_id, new[0].time)
        v.beacon_id = beacon_id or v.beacon_id
        seen = {(o.time, o.kind, o.source) for o in v.observations}
        v.observations.extend(o for o in new if (o.time, o.kind, o.source) not in seen)
        v.observations.sort(key=lambda o: o.time)
        latest = v.observations[-1].time
        v.observations = [o for o in v.observations if latest - o.time <= self.rules.recent]
        v.last_seen = latest
        approach = assess(v.observations, self.zones, self.rules)
        if approach is None:
            return
        for kind, zone in v.zones.update(approach, self.rules):
            await self._emit(self._zone_alert(kind, zone, approach, v, reason))

    async def _history(self, plate: str | None, beacon_id: str | None, before: datetime) -> list[Observation]:
        start = before - self.rules.recent
        if plate:
            rows = await self.beacons.track(plate, start, before, 5000)
        else:
            rows = [{"kind": "ping", "time": r["fix_time"], "lat": r["lat"], "lon": r["lon"], "beacon_id": beacon_id,
                     "speed_kmh": r["speed_kmh"]} for r in await self.store.pings(beacon_id, start, before)]
        return observations_from_track(rows)[0]

    async def _emit(self, alert: dict[str, Any]) -> None:
        """Hand an alert to ``publish`` (the durable outbox in the service; may be a plain callable)."""
        result = self.publish(alert)
        if inspect.isawaitable(result):
            await result

    def _zone_alert(self, kind: str, zone: ZoneApproach, approach, v: _Vehicle, reason: str) -> dict[str, Any]:
        alert = {"type": kind, "zone": zone.zone, "plate_norm": v.plate_norm, "beacon_id": v.beacon_id,
                 "reason": reason, "time": approach.time.isoformat(), "lat": round(approach.lat, 6),
                 "lon": round(approach.lon, 6)}
        if kind == "approach":
            alert.update(zone.as_dict(self.rules))
            alert["speed_kmh"] = None if approach.speed_kmh is None else round(approach.speed_kmh, 1)
            alert["heading_deg"] = None if approach.heading_deg is None else round(approach.heading_deg, 1)
        log.info("geo %s: %s %s", kind, v.plate_norm or f"beacon {v.beacon_id}", zone.zone)
        return alert

    # co-travel -------------------------------------------------------------------------------------
    async def _cotravel_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cotravel_check_interval_s)
            try:
                await self.check_cotravel()
            except Exception:  # noqa: BLE001 - try again next round
                log.exception("geo watch: co-travel check failed")

    async def check_cotravel(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """The standing rule, once: unlisted vehicles travelling with a recently seen watched one."""
        now = now or datetime.now(timezone.utc)
        window = timedelta(seconds=self.settings.cotravel_window_s)
        rules = convoy_rules(self.settings)
        for key, at in list(self.cotravel_alerted.items()):
            if now - at > window:
                del self.cotravel_alerted[key]
        for plate, seen in list(self.watched_seen.items()):
            if now - seen > window:
                del self.watched_seen[plate]
        for key, v in list(self.vehicles.items()):
            if v.last_seen is not None and now - v.last_seen > max(window, self.rules.trip_gap):
                del self.vehicles[key]
        alerts = []
        for plate in sorted(self.watched_seen):
            data = await self.geo.convoy_data(plate, now - window, now + timedelta(minutes=5), rules)
            ranked = [c for c in score_candidates(data.passages, data.co_sightings, data.population, rules)
                      if c.score >= self.settings.cotravel_min_score and (plate, c.plate) not in self.cotravel_alerted]
            if not ranked:
                continue
            listed = await self.watched([c.plate for c in ranked])
            for c in ranked:
                if c.plate in listed:
                    continue
                self.cotravel_alerted[(plate, c.plate)] = now
                found = c.as_dict()
                del found["plate_norm"]
                alert = {"type": "cotravel", "plate_norm": plate, "companion": c.plate, "k": rules.k,
                         "dt_s": rules.dt.total_seconds(), "window_s": window.total_seconds(), **found}
                log.info("geo cotravel: %s with %s at %d cameras (score %.1f)", c.plate, plate, c.cameras, c.score)
                await self._emit(alert)
                alerts.append(alert)
        return alerts
