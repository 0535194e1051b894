"""Beacon state from its fixes: last fix, moving or stopped, battery, last seen.

Stop detection (dwell): a beacon is *stopped* once all its fixes for ``min_duration`` stay within
``radius_m`` of the first of them (the anchor), and *moving* again as soon as a fix leaves that
circle.  GPS jitter at a standstill is usually a few metres, so a radius rather than a speed
threshold is what makes a parked car read as parked.  Pure: the caller persists the states.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from trackers.pings import Ping

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class StopRules:
    radius_m: float = 50.0
    min_duration: timedelta = timedelta(minutes=5)


@dataclass
class BeaconState:
    beacon_id: str
    last_seen: datetime | None = None
    last_fix: Ping | None = None
    battery_pct: float | None = None
    moving: bool | None = None          # None: not enough fixes to tell
    state_since: datetime | None = None  # when the beacon started moving / arrived where it stopped
    anchor: Ping | None = None           # first fix of the current dwell candidate
    protocol: str | None = None

    def as_dict(self) -> dict:
        fix = self.last_fix
        return {
            "beacon_id": self.beacon_id, "protocol": self.protocol,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "last_fix": None if fix is None else {
                "time": fix.fix_time.isoformat(), "lat": fix.lat, "lon": fix.lon, "speed_kmh": fix.speed_kmh,
                "heading": fix.heading, "altitude_m": fix.altitude_m, "accuracy_m": fix.accuracy_m},
            "battery_pct": self.battery_pct,
            "motion": "unknown" if self.moving is None else ("moving" if self.moving else "stopped"),
            "motion_since": self.state_since.isoformat() if self.state_since else None,
        }


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def apply_ping(state: BeaconState, ping: Ping, received_at: datetime, rules: StopRules) -> BeaconState:
    """Fold one accepted fix into ``state`` (in place; returned for chaining).

    A fix older than the last one (out of order, or a duplicate) is stored but does not move the
    beacon back in time: it only refreshes last-seen.
    """
    if state.last_seen is None or received_at > state.last_seen:
        state.last_seen = received_at
    last = state.last_fix
    if last is not None and ping.fix_time <= last.fix_time:
        return state
    state.last_fix = ping
    if ping.battery_pct is not None:
        state.battery_pct = ping.battery_pct
    anchor = state.anchor
    if anchor is None:
        state.anchor, state.state_since = ping, ping.fix_time
    elif distance_m(anchor.lat, anchor.lon, ping.lat, ping.lon) > rules.radius_m:
        if state.moving is not True:
            state.moving, state.state_since = True, last.fix_time if last is not None else ping.fix_time
        state.anchor = ping
    elif state.moving is not False and ping.fix_time - anchor.fix_time >= rules.min_duration:
        state.moving, state.state_since = False, anchor.fix_time
    return state


class BeaconStates:
    """Every known beacon's state, updated a batch at a time: worked out on copies (preview), then put in place (commit)."""

    def __init__(self, rules: StopRules = StopRules()) -> None:
        self.rules = rules
        self.states: dict[str, BeaconState] = {}

    def get(self, beacon_id: str) -> BeaconState | None:
        return self.states.get(beacon_id)

    def preview(self, pings: list[Ping], received_at: datetime, protocol: str,
                updated: dict[str, BeaconState] | None = None) -> dict[str, BeaconState]:
        """The states the batch would produce (added to ``updated``), fixes folded in fix-time order.

        Works on copies: nothing changes until :meth:`commit`.
        """
        updated = {} if updated is None else updated
        for ping in sorted(pings, key=lambda p: p.fix_time):
            state = updated.get(ping.beacon_id)
            if state is None:
                current = self.states.get(ping.beacon_id)
                state = copy.copy(current) if current is not None else BeaconState(ping.beacon_id)
                updated[ping.beacon_id] = state
            state.protocol = protocol
            apply_ping(state, ping, received_at, self.rules)
        return updated

    def commit(self, updated: dict[str, BeaconState]) -> None:
        self.states.update(updated)
