"""Beacon pings: the one position type every beacon protocol decodes to, and its validation.

Like Traccar, decoders differ per protocol but all produce :class:`Ping`; validation happens once,
here, after decoding.  Pure code: no I/O, the clock is passed in.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

_BEACON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_SPEED_KMH = 400.0
BEACON_ID_RULE = "1-64 characters of letters, digits, '_', '.', ':' or '-'"


class PingError(ValueError):
    """A ping that cannot be accepted; ``field`` names the offending field (and is the reason counted)."""

    def __init__(self, field: str, message: str, index: int | None = None) -> None:
        self.field, self.message, self.index = field, message, index
        where = f"ping[{index}].{field}" if index is not None else field
        super().__init__(f"{where}: {message}")


@dataclass(slots=True)
class Ping:
    """One position fix.  Treat as immutable: not ``frozen`` because a frozen dataclass costs ~2.5 µs
    more to build, on the path of every ping (``lapi bench pings``)."""

    beacon_id: str
    fix_time: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None
    altitude_m: float | None = None
    accuracy_m: float | None = None
    battery_pct: float | None = None


@dataclass(frozen=True)
class PingRules:
    """What a fix must satisfy to be stored, whatever protocol brought it (``[trackers]`` config)."""

    max_future_skew: timedelta = timedelta(minutes=5)
    max_speed_kmh: float = MAX_SPEED_KMH


def valid_beacon_id(value: Any) -> bool:
    return isinstance(value, str) and _BEACON_ID.match(value) is not None


def _in_range(field: str, value: float | None, lo: float, hi: float) -> None:
    if value is None:
        return
    if not math.isfinite(value):
        raise PingError(field, f"must be a finite number, got {value!r}")
    if not lo <= value <= hi:
        raise PingError(field, f"must be between {lo:g} and {hi:g}, got {value:g}")


def check_ping(ping: Ping, now: datetime, rules: PingRules = PingRules()) -> Ping:
    """The one validation every decoded ping goes through; returns it unchanged or raises PingError.

    Decoders only turn bytes into numbers; deciding what is plausible happens here, so a rule
    changes once for every protocol.
    """
    if not valid_beacon_id(ping.beacon_id):
        raise PingError("beacon_id", f"is required: {BEACON_ID_RULE}")
    if ping.fix_time > now + rules.max_future_skew:
        raise PingError("time", f"is in the future ({ping.fix_time.isoformat()} > now + {rules.max_future_skew})")
    _in_range("lat", ping.lat, -90, 90)
    _in_range("lon", ping.lon, -180, 180)
    _in_range("speed_kmh", ping.speed_kmh, 0, rules.max_speed_kmh)
    _in_range("heading", ping.heading, 0, 360)
    _in_range("altitude_m", ping.altitude_m, -500, 10000)
    _in_range("accuracy_m", ping.accuracy_m, 0, 100000)
    _in_range("battery_pct", ping.battery_pct, 0, 100)
    return ping


def parse_time(value: Any, field: str = "time") -> datetime:
    """ISO 8601 string (offset required) or Unix seconds/milliseconds -> aware UTC datetime."""
    if isinstance(value, bool):
        raise PingError(field, "must be an ISO 8601 time or a Unix timestamp")
    if isinstance(value, (int, float)):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise PingError(field, f"timestamp out of range: {value}") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PingError(field, f"not an ISO 8601 time: {value[:100]!r}") from None
        if parsed.tzinfo is None:
            raise PingError(field, f"time needs a UTC offset (e.g. 'Z' or '+01:00'): {value!r}")
        try:
            return parsed.astimezone(timezone.utc)
        except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
            raise PingError(field, f"time out of range: {value!r}") from None
    raise PingError(field, "must be an ISO 8601 time or a Unix timestamp")


def _number(obj: dict, field: str, required: bool = False) -> float | None:
    value = obj.get(field)
    if value is None:
        if required:
            raise PingError(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PingError(field, f"must be a number, got {value!r}")
    return float(value)


def validate_ping(obj: Any, now: datetime, max_future_skew: timedelta | None = None,
                  rules: PingRules = PingRules()) -> Ping:
    """A JSON object -> :class:`Ping`, or :class:`PingError` naming the first bad field."""
    if max_future_skew is not None:
        rules = PingRules(max_future_skew, rules.max_speed_kmh)
    if not isinstance(obj, dict):
        raise PingError("ping", "must be a JSON object")
    beacon_id = obj.get("beacon_id")
    if not valid_beacon_id(beacon_id):
        raise PingError("beacon_id", f"is required: {BEACON_ID_RULE}")
    if "time" not in obj:
        raise PingError("time", "is required")
    fix_time = parse_time(obj["time"])
    lat = _number(obj, "lat", required=True)
    lon = _number(obj, "lon", required=True)
    ping = Ping(
        beacon_id=beacon_id, fix_time=fix_time, lat=lat, lon=lon,  # type: ignore[arg-type]
        speed_kmh=_number(obj, "speed_kmh"), heading=_number(obj, "heading"),
        altitude_m=_number(obj, "altitude_m"), accuracy_m=_number(obj, "accuracy_m"),
        battery_pct=_number(obj, "battery_pct"),
    )
    return check_ping(ping, now, rules)


def validate_ping_batch(payload: Any, now: datetime, max_batch: int = 10000,
                        rules: PingRules = PingRules()) -> list[Ping]:
    """A single ping object or a list of them; all-or-nothing, so a client never half-retries."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise PingError("pings", "empty batch")
    if len(items) > max_batch:
        raise PingError("pings", f"batch of {len(items)} exceeds the maximum of {max_batch}")
    pings = []
    for i, item in enumerate(items):
        try:
            pings.append(validate_ping(item, now, rules=rules))
        except PingError as err:
            raise PingError(err.field, err.message, index=i if isinstance(payload, list) else None) from None
    return pings
